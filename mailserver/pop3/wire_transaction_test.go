package pop3

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

const signOff = "+OK pop.example.test POP3 server signing off"

func TestGreetingAndListings(t *testing.T) {
	ts := startServer(t)
	c := ts.dialTLS(t)
	c.login()
	c.cmd("STAT", "+OK 3 138")
	c.cmd("LIST", "+OK 3 messages (138 octets)", "1 75", "2 40", "3 23", ".")
	c.cmd("LIST 2", "+OK 2 40")
	c.cmd("UIDL", "+OK unique-id listing follows", "1 uid-1", "2 uid-2", "3 uid-3", ".")
	c.cmd("uidl 3", "+OK 3 uid-3")
	c.cmd("NOOP", "+OK")
	c.cmd("QUIT", signOff)
	c.expectClosed()
}

func TestWrongStateAndUnknownCommands(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MaxBadCommands = 100 })
	c := ts.dialTLS(t)
	const wrongState = "-ERR command not valid in this state"
	for _, line := range []string{"STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 1", "UIDL"} {
		c.cmd(line, wrongState)
	}
	for _, line := range []string{"", "XYZZY", "RETRIEVE 1", "NO", "NO\x00P", "LI5T", "\xff\xfe"} {
		c.cmd(line, "-ERR unknown command")
	}
	c.login()
	for _, line := range []string{"USER alice", "PASS secret", "AUTH PLAIN", "AUTH", "STLS"} {
		c.cmd(line, wrongState)
	}
	c.cmd("APOP alice 0123456789abcdef", "-ERR unknown command")
	c.cmd("STAT", "+OK 3 138")
}

func TestInvalidMessageArguments(t *testing.T) {
	tests := map[string]string{
		"RETR 0":                    "-ERR no such message",
		"RETR 4":                    "-ERR no such message",
		"RETR abc":                  "-ERR no such message",
		"RETR -1":                   "-ERR no such message",
		"RETR +1":                   "-ERR no such message",
		"RETR 0x1":                  "-ERR no such message",
		"RETR 99999999999999999999": "-ERR no such message",
		"LIST 0":                    "-ERR no such message",
		"UIDL 9":                    "-ERR no such message",
		"DELE 4":                    "-ERR no such message",
		"TOP 0 1":                   "-ERR no such message",
		"RETR":                      "-ERR syntax error",
		"RETR 1 2":                  "-ERR syntax error",
		"LIST 1 2":                  "-ERR syntax error",
		"TOP 1":                     "-ERR syntax error",
		"TOP 1 -1":                  "-ERR syntax error",
		"TOP 1 x":                   "-ERR syntax error",
		"DELE":                      "-ERR syntax error",
		"STAT 1":                    "-ERR syntax error",
		"NOOP x":                    "-ERR syntax error",
		"RSET x":                    "-ERR syntax error",
	}
	ts := startServer(t, func(o *Options) { o.MaxBadCommands = 100 })
	c := ts.dialTLS(t)
	c.login()
	for line, want := range tests {
		c.cmd(line, want)
	}
	c.cmd("STAT", "+OK 3 138")
}

func TestDeleteThenReset(t *testing.T) {
	ts := startServer(t)
	c := ts.dialTLS(t)
	c.login()
	c.cmd("DELE 1", "+OK message 1 deleted")
	c.cmd("DELE 1", "-ERR message 1 already deleted")
	c.cmd("STAT", "+OK 2 63")
	c.cmd("LIST", "+OK 2 messages (63 octets)", "2 40", "3 23", ".")
	c.cmd("UIDL", "+OK unique-id listing follows", "2 uid-2", "3 uid-3", ".")
	c.cmd("LIST 1", "-ERR no such message")
	c.cmd("RETR 1", "-ERR no such message")
	c.cmd("TOP 1 0", "-ERR no such message")
	c.cmd("RSET", "+OK maildrop has 3 messages (138 octets)")
	c.cmd("STAT", "+OK 3 138")
	c.cmd("QUIT", signOff)
	c.expectClosed()
	ts.waitEnded(t)
	if got := ts.backend.committed("alice"); len(got) != 1 || len(got[0]) != 0 {
		t.Errorf("commits = %q, want one with nothing deleted", got)
	}
}

func TestDeleteThenQuitCommitsExactlyThoseUIDs(t *testing.T) {
	ts := startServer(t)
	c := ts.dialTLS(t)
	c.login()
	c.cmd("DELE 1", "+OK message 1 deleted")
	c.cmd("DELE 3", "+OK message 3 deleted")
	c.cmd("QUIT", signOff)
	c.expectClosed()
	ts.waitEnded(t)
	if got, want := ts.backend.committed("alice"), [][]string{{"uid-1", "uid-3"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("commits = %q, want %q", got, want)
	}
	c = ts.dialTLS(t)
	c.cmd("USER alice", "+OK send PASS")
	c.cmd("PASS secret", "+OK maildrop has 1 messages (40 octets)")
	c.cmd("UIDL", "+OK unique-id listing follows", "1 uid-2", ".")
}

func TestNoUpdateWithoutQuit(t *testing.T) {
	ts := startServer(t)
	c := ts.dialTLS(t)
	c.login()
	c.cmd("DELE 1", "+OK message 1 deleted")
	_ = c.conn.Close()
	if r := ts.waitEnded(t); r != EndClientClosed {
		t.Errorf("session ended with %q, want %q", r, EndClientClosed)
	}
	if got := ts.backend.committed("alice"); len(got) != 0 {
		t.Errorf("commits = %q after a session without QUIT, want none (RFC 1939 §6)", got)
	}
	ts.dialTLS(t).login()
}

func TestQuitInAuthorizationDoesNotCommit(t *testing.T) {
	ts := startServer(t)
	c := ts.dial(t)
	c.cmd("QUIT", signOff)
	c.expectClosed()
	ts.waitEnded(t)
	if got := ts.backend.committed("alice"); len(got) != 0 {
		t.Errorf("commits = %q, want none", got)
	}
}

func TestRetrByteStuffing(t *testing.T) {
	ts := startServer(t)
	ts.backend.setMail("carol", "pw",
		fakeMessage{uid: "lf", body: "Subject: lf\n\n.a\nb\r\n.\nmid\rline\n..\nlast"},
		fakeMessage{uid: "empty", body: ""},
		fakeMessage{uid: "cr-end", body: "x\r"},
	)
	c := ts.dialTLS(t)
	c.login()
	c.cmd("RETR 1", "+OK 75 octets", "From: a@example.com", "Subject: one", "", "Hello",
		"..dot line", "...two dots", "..", "end", ".")
	c.cmd("QUIT", signOff)

	// Bare LF becomes CRLF, a lone CR inside a line is kept, and an
	// unterminated last line is terminated.
	c = ts.dialTLS(t)
	c.cmd("USER carol", "+OK send PASS")
	c.cmd("PASS pw", "+OK maildrop has 3 messages (39 octets)")
	c.cmd("RETR 1", "+OK 37 octets", "Subject: lf", "", "..a", "b", "..", "mid\rline", "...", "last", ".")
	c.cmd("RETR 2", "+OK 0 octets", ".")
	c.cmd("RETR 3", "+OK 2 octets", "x", ".")
}

func TestTop(t *testing.T) {
	ts := startServer(t)
	c := ts.dialTLS(t)
	c.login()
	c.cmd("TOP 2 0", "+OK top of message follows", "Subject: two", "", ".")
	c.cmd("TOP 2 2", "+OK top of message follows", "Subject: two", "", "line 1", "line 2", ".")
	c.cmd("TOP 2 100", "+OK top of message follows", "Subject: two", "", "line 1", "line 2", "line 3", ".")
	c.cmd("TOP 1 1", "+OK top of message follows", "From: a@example.com", "Subject: one", "", "Hello", ".")
	c.cmd("TOP 1 2", "+OK top of message follows", "From: a@example.com", "Subject: one", "", "Hello", "..dot line", ".")
}

func TestPipelinedCommandsAnsweredInOrder(t *testing.T) {
	ts := startServer(t)
	c := ts.dialTLS(t)
	if _, err := io.WriteString(c.conn, "USER alice\r\nPASS secret\r\nSTAT\r\nLIST 1\r\nDELE 2\r\nUIDL\r\nQUIT\r\n"); err != nil {
		t.Fatal(err)
	}
	c.expect("+OK send PASS", "+OK maildrop has 3 messages (138 octets)", "+OK 3 138", "+OK 1 75",
		"+OK message 2 deleted", "+OK unique-id listing follows", "1 uid-1", "3 uid-3", ".", signOff)
	c.expectClosed()
}

func TestOverlongLinesDiscarded(t *testing.T) {
	ts := startServer(t)
	c := ts.dialTLS(t)
	// RFC 2449 §4: 255 octets including CRLF is the longest command line.
	c.cmd("USER "+strings.Repeat("u", 248), "+OK send PASS")
	c.cmd("USER "+strings.Repeat("u", 249), "-ERR line too long")
	c.cmd("NOOP "+strings.Repeat("x", 1<<20), "-ERR line too long")
	c.cmd("CAPA", capaAfterTLS...)
	c.login()
}

func TestTooManyBadCommandsCloses(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MaxBadCommands = 3 })
	c := ts.dial(t)
	c.cmd("XXXX", "-ERR unknown command")
	c.cmd("STAT", "-ERR command not valid in this state")
	c.cmd("USER x", "-ERR too many errors, closing connection")
	c.expectClosed()
	if r := ts.waitEnded(t); r != EndTooManyErrors {
		t.Errorf("session ended with %q, want %q", r, EndTooManyErrors)
	}
	got := ts.obs.failures()
	want := []string{"UNKNOWN ", "STAT ", "USER AUTH"}
	if !slices.Equal(got, want) {
		t.Errorf("Observer.CommandFailed = %q, want %q", got, want)
	}
}

func TestIdleTimeoutAutologout(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.IdleTimeout = 50 * time.Millisecond })
	c := ts.dialTLS(t)
	c.login()
	c.cmd("DELE 1", "+OK message 1 deleted")
	c.expect("-ERR idle timeout, closing connection")
	c.expectClosed()
	if r := ts.waitEnded(t); r != EndIdleTimeout {
		t.Errorf("session ended with %q, want %q", r, EndIdleTimeout)
	}
	if got := ts.backend.committed("alice"); len(got) != 0 {
		t.Errorf("commits = %q after autologout, want none (RFC 1939 §3)", got)
	}
}

func TestShutdownEndsSessions(t *testing.T) {
	ts := startServer(t)
	idle := ts.dial(t)
	busy := ts.dialTLS(t)
	busy.login()
	busy.cmd("DELE 1", "+OK message 1 deleted")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, c := range []*wireClient{idle, busy} {
		c.expect("-ERR [SYS/TEMP] server shutting down")
		c.expectClosed()
	}
	if got := ts.backend.committed("alice"); len(got) != 0 {
		t.Errorf("commits = %q after shutdown, want none", got)
	}
	if _, err := net.Dial("tcp", ts.plain); err == nil {
		t.Error("the listener still accepts connections after Shutdown")
	}
	if err := ts.srv.Serve(&net.TCPListener{}); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
}

func TestInvalidBackendListingRefused(t *testing.T) {
	ts := startServer(t)
	ts.backend.setMail("carol", "pw", fakeMessage{uid: "bad uid\r\n+OK", body: "x"})
	c := ts.dialTLS(t)
	for range 2 { // the second attempt proves the lock was released
		c.cmd("USER carol", "+OK send PASS")
		c.cmd("PASS pw", "-ERR [SYS/TEMP] temporary failure, try again later")
	}
}

func TestStalledClientDropped(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.CommandTimeout = 200 * time.Millisecond })
	big := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", 1<<19)
	ts.backend.setMail("carol", "pw", fakeMessage{uid: "big", body: big})
	c := ts.dialTLS(t)
	c.cmd("USER carol", "+OK send PASS")
	c.cmd("PASS pw", "+OK maildrop has 1 messages (33554432 octets)")
	c.send("RETR 1") // and never read the 32 MiB answer
	if r := ts.waitEnded(t); r != EndNetworkError {
		t.Errorf("session ended with %q, want %q", r, EndNetworkError)
	}
	ts.dialTLS(t).cmd("USER carol", "+OK send PASS")
}

func TestShutdownDeadlineCancelsBackendCalls(t *testing.T) {
	ts := startServer(t)
	ts.backend.slowOn("slow")
	c := ts.dialTLS(t)
	c.cmd("USER slow", "+OK send PASS")
	c.send("PASS x")
	<-ts.backend.slowLogin

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	c.expectClosed()
	ts.waitEnded(t)
}
