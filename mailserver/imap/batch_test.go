package imap

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// recordingConn records the writes and write deadlines a batchConn passes
// on; only the methods batchConn calls are implemented.
type recordingConn struct {
	net.Conn
	writes    [][]byte
	deadlines []time.Time
	fail      error
}

func (c *recordingConn) Write(p []byte) (int, error) {
	if c.fail != nil {
		return 0, c.fail
	}
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func (c *recordingConn) SetWriteDeadline(t time.Time) error {
	c.deadlines = append(c.deadlines, t)
	return nil
}

func (c *recordingConn) written() string {
	return string(bytes.Join(c.writes, nil))
}

func TestBatchConn(t *testing.T) {
	chunk := func(i, n int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, n) }
	tests := map[string]func(t *testing.T, c *batchConn, rc *recordingConn){
		"without batching every write goes through at once": func(t *testing.T, c *batchConn, rc *recordingConn) {
			for i := range 3 {
				_, _ = c.Write(chunk(i, 10))
			}
			if len(rc.writes) != 3 {
				t.Fatalf("%d writes, want 3", len(rc.writes))
			}
		},
		"batching gathers small writes into one, written in order at stop": func(t *testing.T, c *batchConn, rc *recordingConn) {
			c.start()
			var want strings.Builder
			for i := range 100 {
				n, err := c.Write(chunk(i, 100))
				if n != 100 || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				want.Write(chunk(i, 100))
			}
			if len(rc.writes) != 0 {
				t.Fatalf("%d writes before stop", len(rc.writes))
			}
			if err := c.stop(); err != nil {
				t.Fatal(err)
			}
			if len(rc.writes) != 1 || rc.written() != want.String() {
				t.Fatalf("%d writes of %d bytes, want one of %d", len(rc.writes), len(rc.written()), want.Len())
			}
			_, _ = c.Write([]byte("after"))
			if len(rc.writes) != 2 {
				t.Fatal("a write after stop was held back")
			}
		},
		"a batch that would overflow the buffer is written first": func(t *testing.T, c *batchConn, rc *recordingConn) {
			c.start()
			var want strings.Builder
			for i := range 5 * batchBytes / 1000 {
				_, _ = c.Write(chunk(i, 1000))
				want.Write(chunk(i, 1000))
			}
			_ = c.stop()
			if len(rc.writes) > 6 || rc.written() != want.String() {
				t.Fatalf("%d writes, %d bytes, want at most 6 writes of %d bytes in order", len(rc.writes), len(rc.written()), want.Len())
			}
			for _, w := range rc.writes {
				if len(w) > batchBytes {
					t.Fatalf("a write of %d bytes, more than the buffer", len(w))
				}
			}
		},
		"a write larger than the buffer goes through after the batch": func(t *testing.T, c *batchConn, rc *recordingConn) {
			c.start()
			_, _ = c.Write(chunk(0, 10))
			_, _ = c.Write(chunk(1, batchBytes+1))
			if len(rc.writes) != 2 || len(rc.writes[0]) != 10 || len(rc.writes[1]) != batchBytes+1 {
				t.Fatalf("writes of %d bytes", len(rc.writes))
			}
			_ = c.stop()
		},
		"deadlines set while batching apply at stop, and batch writes get their own": func(t *testing.T, c *batchConn, rc *recordingConn) {
			c.start()
			_ = c.SetWriteDeadline(time.Now().Add(time.Hour))
			_, _ = c.Write(chunk(0, 10))
			_ = c.SetWriteDeadline(time.Time{})
			if len(rc.deadlines) != 0 {
				t.Fatalf("deadlines passed on while batching: %v", rc.deadlines)
			}
			before := time.Now()
			_ = c.stop()
			if len(rc.deadlines) != 2 {
				t.Fatalf("deadlines %v, want the batch write's and the recorded one", rc.deadlines)
			}
			if d := rc.deadlines[0].Sub(before); d < batchWriteTimeout-time.Second || d > batchWriteTimeout+time.Second {
				t.Errorf("batch write deadline in %v, want %v", d, batchWriteTimeout)
			}
			if !rc.deadlines[1].IsZero() {
				t.Errorf("deadline after stop %v, want the last one set (none)", rc.deadlines[1])
			}
		},
		"a failed batch write is reported by stop and by every later write": func(t *testing.T, c *batchConn, rc *recordingConn) {
			broken := errors.New("connection reset")
			rc.fail = broken
			c.start()
			if _, err := c.Write(chunk(0, 10)); err != nil {
				t.Fatalf("a buffered write failed: %v", err)
			}
			if err := c.stop(); !errors.Is(err, broken) {
				t.Fatalf("stop: %v", err)
			}
			rc.fail = nil
			if _, err := c.Write(chunk(0, 10)); !errors.Is(err, broken) {
				t.Fatalf("write after the failure: %v", err)
			}
		},
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) {
			rc := &recordingConn{}
			test(t, &batchConn{Conn: rc}, rc)
		})
	}
	var nilConn *batchConn
	nilConn.start()
	if err := nilConn.stop(); err != nil {
		t.Fatalf("a nil batchConn: %v", err)
	}
}

// TestEverySessionRunsOverABatchConn: plain (then STARTTLS) and implicit
// TLS connections both get one, and a FETCH larger than several batches,
// with a literal larger than the buffer, arrives whole.
func TestEverySessionRunsOverABatchConn(t *testing.T) {
	ts := newTestServer(t)
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef", 3*batchBytes/16) + "\r\n"
	ts.deliver(t, "alice@example.com", "", big)
	for i := range 300 {
		ts.deliver(t, "alice@example.com", "", benchMessage(i))
	}
	plain := ts.dialPlain(t)
	plain.startTLS(ts.pki.ClientConfig)
	plain.ok("LOGIN alice@example.com secret")
	for name, w := range map[string]*wire{"STARTTLS": plain, "implicit TLS": ts.login(t, "alice@example.com", "secret")} {
		t.Run(name, func(t *testing.T) {
			w.ok("SELECT INBOX")
			lines := w.ok("FETCH 1:* (UID BODY.PEEK[])")
			if len(lines) != 301 {
				t.Fatalf("%d responses, want 301", len(lines))
			}
			if want := fmt.Sprintf("* 1 FETCH (UID 1 BODY[] {%d}%s)", len(big), big); lines[0] != want {
				t.Errorf("the big message arrived as %d bytes, want %d", len(lines[0]), len(want))
			}
			if want := "* 301 FETCH (UID 301 BODY[] {"; !strings.HasPrefix(lines[300], want) {
				t.Errorf("last response %.40q", lines[300])
			}
		})
	}
	ts.srv.mu.Lock()
	defer ts.srv.mu.Unlock()
	for s := range ts.srv.sessions {
		if s.out == nil {
			t.Errorf("session %s has no batchConn", s.info.ID)
		}
	}
}
