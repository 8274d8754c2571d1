package smtp

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// openData starts a transaction to alice and sends DATA.
func openData(w *wire) {
	w.t.Helper()
	w.cmd("MAIL FROM:<sender@remote.test>", fmt.Sprintf(mailOK, "sender@remote.test"))
	w.cmd("RCPT TO:<alice@example.com>", fmt.Sprintf(rcptOK, alice))
	w.cmd("DATA", dataGo)
}

func TestMessageSizeLimit(t *testing.T) {
	ts := startServer(t, ModeMX) // MaxMessageBytes 65536
	w := hello(t, ts.addr)
	w.cmd("MAIL FROM:<sender@remote.test> SIZE=65537", "552 5.3.4 Max message size exceeded")

	openData(w)
	w.write(strings.Repeat(strings.Repeat("x", 98)+"\r\n", 700) + ".\r\n")
	w.expect("552 5.3.4 Message size exceeds fixed maximum message size")
	w.cmd("NOOP", noopOK)

	openData(w)
	w.write(strings.Repeat(strings.Repeat("x", 98)+"\r\n", 600) + ".\r\n")
	if reply := w.line(); !regexp.MustCompile(acceptedRe).MatchString(reply) {
		t.Fatalf("a message under the limit: reply %q", reply)
	}
	if n := len(ts.dlv.deliveries()); n != 1 {
		t.Errorf("%d deliveries, want only the message under the limit", n)
	}
	if got := ts.obs.get("rejected:" + string(ReasonMessageTooBig)); got != 1 {
		t.Errorf("oversized messages counted %d, want 1", got)
	}
}

func TestRecipientLimit(t *testing.T) {
	ts := startServer(t, ModeMX) // MaxRecipients 5
	w := hello(t, ts.addr)
	w.cmd("MAIL FROM:<sender@remote.test>", fmt.Sprintf(mailOK, "sender@remote.test"))
	for _, rcpt := range []string{alice, bob, "team@example.com", "postmaster@example.com", "alias-alice@example.com"} {
		w.cmd("RCPT TO:<"+rcpt+">", fmt.Sprintf(rcptOK, rcpt))
	}
	// RFC 5321 §4.5.3.1.10: 452, so the client retries the rest later.
	w.cmd("RCPT TO:<ALICE@example.com>", "452 4.5.3 Maximum limit of 5 recipients reached")
}

func TestLineLengthLimit(t *testing.T) {
	ts := startServer(t, ModeMX) // MaxLineLength 1000 including CRLF
	w := hello(t, ts.addr)

	openData(w)
	w.write("Subject: long\r\n\r\n" + strings.Repeat("y", 999) + "\r\n.\r\n")
	w.expect("500 5.5.2 Line too long")
	w.cmd("NOOP", noopOK)

	openData(w)
	w.write("Subject: long\r\n\r\n" + strings.Repeat("y", 998) + "\r\n.\r\n")
	if reply := w.line(); !regexp.MustCompile(acceptedRe).MatchString(reply) {
		t.Fatalf("a 1000-octet line: reply %q", reply)
	}

	// Beyond go-smtp's transport limit its reader cannot resume: one
	// reply, then the connection is closed.
	openData(w)
	w.write("Subject: longer\r\n\r\n" + strings.Repeat("z", 20000) + "\r\n.\r\n")
	w.expect("500 5.5.2 Line too long, closing connection")
	w.expectClosed()

	if n := len(ts.dlv.deliveries()); n != 1 {
		t.Errorf("%d deliveries, want only the message within the limit", n)
	}
}

func TestOverlongCommandLineClosesTheConnection(t *testing.T) {
	ts := startServer(t, ModeMX)
	w := hello(t, ts.addr)
	w.cmd("NOOP "+strings.Repeat("n", 20000), "500 5.4.0 Too long line, closing connection")
	w.expectClosed()
}

func TestTimeouts(t *testing.T) {
	t.Run("an idle client is disconnected", func(t *testing.T) {
		ts := startServer(t, ModeMX, func(o *Options) { o.CommandTimeout = 200 * time.Millisecond })
		w := dialWire(t, ts.addr)
		w.expect(greeting, "421 4.4.2 Idle timeout, bye bye")
		w.expectClosed()
	})
	t.Run("a stalled DATA transfer is answered and disconnected", func(t *testing.T) {
		ts := startServer(t, ModeMX, func(o *Options) { o.DataTimeout = 200 * time.Millisecond })
		w := hello(t, ts.addr)
		openData(w)
		// The rest of this message would be read as commands if the
		// session went on after the timeout.
		w.write("Subject: stalled\r\n\r\n")
		w.expect("421 4.4.2 Timeout waiting for message data, closing connection")
		w.expectClosed()
		if n := len(ts.dlv.deliveries()); n != 0 {
			t.Errorf("%d deliveries of a stalled message", n)
		}
	})
	t.Run("a stalled BDAT chunk is answered and disconnected", func(t *testing.T) {
		// While a chunk is read, the deadline is the data timeout.
		ts := startServer(t, ModeMX, func(o *Options) { o.DataTimeout = 200 * time.Millisecond })
		w := hello(t, ts.addr)
		w.cmd("MAIL FROM:<sender@remote.test>", fmt.Sprintf(mailOK, "sender@remote.test"))
		w.cmd("RCPT TO:<alice@example.com>", fmt.Sprintf(rcptOK, alice))
		w.write("BDAT 100 LAST\r\nSubject: stalled\r\n")
		// go-smtp answers a failed chunk read itself, with the read
		// error's text (see doc.go).
		if reply := w.line(); !strings.HasPrefix(reply, "554 5.0.0 Error: transaction failed: ") ||
			!strings.HasSuffix(reply, "i/o timeout") {
			t.Fatalf("reply %q", reply)
		}
		w.expectClosed()
	})
}
