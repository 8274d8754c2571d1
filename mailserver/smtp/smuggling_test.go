package smtp

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// smuggled is a second transaction hidden after a fake end of data.
const smuggled = "MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nsmuggled\r\n"

// TestSMTPSmugglingIsRefused guards against SMTP smuggling
// (CVE-2023-51764 family): a fake end-of-data sequence built from bare CR
// or LF must neither end the data (which would run the smuggled commands)
// nor be stored.
func TestSMTPSmugglingIsRefused(t *testing.T) {
	const refused = "554 5.6.0 Message contains a bare CR or LF; lines must end with CRLF"
	tests := map[string]struct {
		fakeEnd string
		want    string // the one reply to the whole data
	}{
		`LF "." LF`:      {fakeEnd: "\n.\n", want: refused},
		`CR "." LF`:      {fakeEnd: "\r.\n", want: refused},
		`LF "." CRLF`:    {fakeEnd: "\n.\r\n", want: refused},
		`CR "." CRLF`:    {fakeEnd: "\r.\r\n", want: refused},
		`CRLF "." LF`:    {fakeEnd: "\r\n.\n", want: refused},
		`CR "." CR`:      {fakeEnd: "\r.\r", want: refused},
		`LF "." CRLF LF`: {fakeEnd: "\n.\r\n\n", want: refused},
		`CRLF LF "." LF`: {fakeEnd: "\r\n\n.\n", want: refused},
		// go-smtp's dot-unstuffing swallows "." CR at the start of a line;
		// what remains is clean CRLF text, stored as one message whose body
		// merely contains the command lines (see doc.go).
		`CRLF "." CR`: {fakeEnd: "\r\n.\r", want: acceptedRe},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, ModeMX)
			w := hello(t, ts.addr)
			w.cmd("MAIL FROM:<sender@remote.test>", fmt.Sprintf(mailOK, "sender@remote.test"))
			w.cmd("RCPT TO:<alice@example.com>", fmt.Sprintf(rcptOK, alice))
			w.cmd("DATA", dataGo)
			w.write("Subject: s\r\n\r\nhello" + tc.fakeEnd + smuggled + ".\r\n")
			reply := w.line()
			if tc.want == acceptedRe {
				if !regexp.MustCompile(acceptedRe).MatchString(reply) {
					t.Fatalf("reply %q, want acceptance", reply)
				}
			} else if reply != tc.want {
				t.Fatalf("reply %q, want %q", reply, tc.want)
			}
			// Had the smuggled commands run, their replies would come
			// before NOOP's.
			w.cmd("NOOP", noopOK)
			stored := ts.dlv.deliveries()
			if tc.want == refused && len(stored) != 0 {
				t.Fatalf("refused message was stored: %+v", stored)
			}
			for _, d := range stored {
				if strings.ContainsAny(strings.ReplaceAll(string(d.body), "\r\n", ""), "\r\n") {
					t.Errorf("stored body has a bare line ending: %q", d.body)
				}
				if !strings.HasSuffix(string(d.body), "\r\n"+smuggled) {
					t.Errorf("stored body %q does not keep the command lines as text", d.body)
				}
			}

			// The session is in step: a clean message goes through.
			w.cmd("MAIL FROM:<sender@remote.test>", fmt.Sprintf(mailOK, "sender@remote.test"))
			w.cmd("RCPT TO:<alice@example.com>", fmt.Sprintf(rcptOK, alice))
			w.cmd("DATA", dataGo)
			w.write("Subject: clean\r\n\r\nok\r\n.\r\n")
			if reply := w.line(); !regexp.MustCompile(acceptedRe).MatchString(reply) {
				t.Fatalf("clean message after the attempt: reply %q", reply)
			}
			for _, d := range ts.dlv.deliveries() {
				if d.env.From != "sender@remote.test" || len(d.env.Recipients) != 1 || d.env.Recipients[0].Address != alice {
					t.Errorf("unexpected delivery %+v: a smuggled transaction ran", d.env)
				}
			}
		})
	}
}

// TestSTARTTLSCommandInjectionIsDiscarded guards against CVE-2011-0411:
// commands pipelined after STARTTLS in the same packet are plaintext a
// man in the middle can inject; they must not run inside the TLS session.
func TestSTARTTLSCommandInjectionIsDiscarded(t *testing.T) {
	for _, mode := range []Mode{ModeMX, ModeSubmission} {
		t.Run(mode.String(), func(t *testing.T) {
			ts := startServer(t, mode)
			w := hello(t, ts.addr)
			w.write("STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<alice@example.com>\r\n")
			w.expect("220 2.0.0 Ready to start TLS")
			w.startTLSHandshake(ts.client)
			w.write("EHLO client.test\r\n")
			if first := w.reply()[0]; first != "250-Hello client.test" {
				t.Fatalf("first reply under TLS %q: injected commands ran", first)
			}
			if mode == ModeSubmission {
				w.cmd("AUTH PLAIN "+plainIR("", alice, alicePassword), authOK)
				w.cmd("MAIL FROM:<alice@example.com>", fmt.Sprintf(mailOK, alice))
			} else {
				w.cmd("MAIL FROM:<sender@remote.test>", fmt.Sprintf(mailOK, "sender@remote.test"))
			}
			w.cmd("DATA", "502 5.5.1 Missing RCPT TO command.")
		})
	}
}
