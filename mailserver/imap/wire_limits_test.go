package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestInternalErrorsAreServerBugWithoutDetail(t *testing.T) {
	ts := newTestServer(t)
	w := ts.login(t, "alice@example.com", "secret")
	ts.fault.setListFolders(func() error { return errors.New("disk on fire at /var/lib/mail") })
	_, done := w.cmd(`LIST "" *`)
	if done != "NO [SERVERBUG] Internal server error" {
		t.Errorf("got %q", done)
	}
	if !strings.Contains(ts.logText(), "disk on fire") {
		t.Errorf("the cause was not logged")
	}
	ts.fault.setListFolders(func() error { panic("store bug") })
	if _, done := w.cmd(`LIST "" *`); done != "NO [SERVERBUG] Internal server error" {
		t.Errorf("after a panic: %q", done)
	}
	if n := ts.obs.count(func(o *countingObserver) int { return o.panics }); n != 1 {
		t.Errorf("observer saw %d panics", n)
	}
	ts.fault.setListFolders(nil)
	w.ok(`LIST "" INBOX`)
}

// TestBigLiteralOutsideAppendIsNotAccepted: outside APPEND the library
// buffers literals and refuses more than 4096 bytes. It never asks for the
// data; it then waits for more input until its 30-second command timeout
// closes the connection (a library limitation, see the package doc).
func TestBigLiteralOutsideAppendIsNotAccepted(t *testing.T) {
	ts := newTestServer(t)
	w := ts.dialTLS(t)
	w.send("a1 LOGIN {5000}\r\n")
	_ = w.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if l, err := w.r.ReadString('\n'); err == nil {
		t.Fatalf("got %q, want no continuation request", l)
	}
	if n := ts.auth.count(); n != 0 {
		t.Errorf("the authenticator saw %d attempts", n)
	}
}

func TestUnterminatedLiteralEndsTheConnection(t *testing.T) {
	ts := newTestServer(t)
	w := ts.login(t, "alice@example.com", "secret")
	w.send("a1 APPEND INBOX {100}\r\n")
	w.expectPrefix("+")
	w.send("Subject: cut short\r\n")
	if err := w.conn.(*tls.Conn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = w.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(w.r)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server kept the connection open")
		}
	}
	if strings.Contains(string(rest), "a1 OK") {
		t.Fatalf("an incomplete APPEND succeeded: %q", rest)
	}
	if n := countMessages(t, ts, "INBOX"); n != 0 {
		t.Errorf("INBOX holds %d messages", n)
	}
}

// TestOverlongLineIsRefused documents the library's bound on a command
// line (50 KiB): the command is refused, the session survives.
func TestOverlongLineIsRefused(t *testing.T) {
	ts := newTestServer(t)
	w := ts.login(t, "alice@example.com", "secret")
	w.ok("SELECT INBOX")
	w.send("a1 SEARCH TEXT \"" + strings.Repeat("x", 60<<10) + "\"\r\n")
	if l := w.line(); !strings.HasPrefix(l, "a1 NO") && !strings.HasPrefix(l, "a1 BAD") {
		t.Fatalf("got %q", l)
	}
}

func TestShutdownSaysByeAndStops(t *testing.T) {
	ts := newTestServer(t)
	idle := ts.login(t, "alice@example.com", "secret")
	idle.ok("SELECT INBOX")
	idle.send("i1 IDLE\r\n")
	idle.expectPrefix("+ ")
	plain := ts.dialPlain(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, w := range []*wire{idle, plain} {
		if l := w.line(); !strings.HasPrefix(l, "* BYE imap.example.com is shutting down") {
			t.Errorf("got %q", l)
		}
	}
	if _, err := net.DialTimeout("tcp", ts.plain, time.Second); err == nil {
		t.Errorf("the listener still accepts connections")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

func countMessages(t *testing.T, ts *testServer, folder string) int {
	t.Helper()
	folders, err := ts.store.ListFolders(context.Background(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range folders {
		if f.Name == folder {
			return int(f.Status.Messages)
		}
	}
	t.Fatalf("no folder %s", folder)
	return 0
}
