package pop3

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/kubemail/kubemail/internal/testpki"
)

// scriptConn is a net.Conn that reads a fixed input and records the output.
type scriptConn struct {
	in  io.Reader
	out bytes.Buffer
}

func (c *scriptConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 110} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzCommand feeds arbitrary client input to a whole session, with
// insecure auth allowed so the TRANSACTION state is reachable, and checks
// the session neither panics nor breaks the protocol's framing, commits
// only UIDs that exist, and always releases its maildrop.
func FuzzCommand(f *testing.F) {
	// The seed corpus is testdata/fuzz/FuzzCommand: hand-written sessions
	// (named after what they exercise) and inputs the fuzzer found.
	pki := testpki.New(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		backend := newFakeBackend()
		obs := newRecordingObserver()
		srv, err := New(Options{
			Backend:           backend,
			TLSConfig:         pki.ServerConfig,
			AllowInsecureAuth: true,
			Logger:            slog.New(slog.DiscardHandler),
			Hostname:          "fuzz.example.test",
			MaxBadCommands:    1000,
			Observer:          obs,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		conn := &scriptConn{in: bytes.NewReader(input)}
		srv.serveConn(conn, false)

		if n := obs.panicCount(); n != 0 {
			t.Fatalf("session panicked on %q", input)
		}
		if n := backend.openDrops(); n != 0 {
			t.Fatalf("%d maildrops left open", n)
		}
		if len(srv.locks) != 0 {
			t.Fatalf("maildrop locks left held: %v", srv.locks)
		}
		out := conn.out.Bytes()
		if i := bytes.Index(out, []byte("\r\n")); i < 0 || string(out[:i]) != "+OK fuzz.example.test POP3 server ready" {
			t.Fatalf("output does not start with the greeting: %q", out)
		}
		// After STLS the output is TLS records, not lines.
		if plainEnd := bytes.Index(out, []byte("+OK Begin TLS negotiation\r\n")); plainEnd >= 0 {
			out = out[:plainEnd]
		}
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
			t.Fatalf("output does not end with CRLF: %q", out)
		}
		for i, b := range out {
			if b == '\n' && (i == 0 || out[i-1] != '\r') {
				t.Fatalf("bare LF at %d in output %q", i, out)
			}
		}
		uids := map[string]bool{"uid-1": true, "uid-2": true, "uid-3": true}
		for _, commit := range backend.committed("alice") {
			seen := map[string]bool{}
			for _, u := range commit {
				if !uids[u] || seen[u] {
					t.Fatalf("committed unknown or repeated UID %q in %q", u, commit)
				}
				seen[u] = true
			}
		}
	})
}
