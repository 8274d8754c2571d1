package smtp

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/kubemail/kubemail/mailserver/mail"
)

func TestDelivererErrors(t *testing.T) {
	tests := map[string]struct {
		err    error
		want   string
		reason Reason
	}{
		"a plain error is temporary and its text never reaches the client": {
			err:    errors.New("disk on fire: secret-store-detail"),
			want:   "451 4.3.0 Local error in processing, try again later",
			reason: ReasonInternal,
		},
		"a wrapped SMTP error is still an internal error": {
			err:    fmt.Errorf("committing: %w", &gosmtp.SMTPError{Code: 550, Message: "secret-store-detail"}),
			want:   "451 4.3.0 Local error in processing, try again later",
			reason: ReasonInternal,
		},
		"a temporary quota error asks the client to retry": {
			err:    fmt.Errorf("committing: %w", &mail.OverQuotaError{Account: alice}),
			want:   "452 4.2.2 Mailbox full, try again later",
			reason: ReasonOverQuota,
		},
		"a permanent quota error refuses the message": {
			err:    fmt.Errorf("committing: %w", &mail.OverQuotaError{Account: alice, Permanent: true}),
			want:   "552 5.2.2 Mailbox full",
			reason: ReasonOverQuota,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, ModeMX)
			ts.dlv.set(tc.err, "")
			w := hello(t, ts.addr)
			openData(w)
			w.write("Subject: x\r\n\r\nbody\r\n.\r\n")
			w.expect(tc.want)
			w.cmd("NOOP", noopOK)
			if got := ts.obs.get("rejected:" + string(tc.reason)); got != 1 {
				t.Errorf("refusals counted as %s = %d, want 1", tc.reason, got)
			}
			if tc.reason == ReasonInternal && !strings.Contains(ts.logs.String(), "secret-store-detail") {
				t.Errorf("the delivery error was not logged:\n%s", ts.logs.String())
			}
		})
	}
}

func TestPanicsAreContained(t *testing.T) {
	tests := map[string]struct {
		send func(w *wire)
	}{
		"a panic during DATA": {
			send: func(w *wire) {
				openData(w)
				w.write("Subject: x\r\n\r\nbody\r\n.\r\n")
			},
		},
		"a panic during BDAT": {
			send: func(w *wire) {
				w.cmd("MAIL FROM:<sender@remote.test>", fmt.Sprintf(mailOK, "sender@remote.test"))
				w.cmd("RCPT TO:<alice@example.com>", fmt.Sprintf(rcptOK, alice))
				w.write("BDAT 6 LAST\r\nbody\r\n")
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, ModeMX)
			ts.dlv.set(nil, "deliverer bug")
			w := hello(t, ts.addr)
			tc.send(w)
			w.expect("421 4.0.0 Internal server error")
			w.expectClosed()
			if got := ts.obs.get("panic"); got != 1 {
				t.Errorf("panics counted %d, want 1", got)
			}
			logs := ts.logs.String()
			if !strings.Contains(logs, "Panic in SMTP session") || !strings.Contains(logs, "deliverer bug") {
				t.Errorf("the panic was not logged with its connection:\n%s", logs)
			}
			// The server goes on serving.
			w2 := hello(t, ts.addr)
			w2.cmd("NOOP", noopOK)
		})
	}
}

func TestBoundaryOnlyLetsSMTPErrorsThrough(t *testing.T) {
	ts := startServer(t, ModeMX)
	s := &session{srv: ts.srv, log: ts.srv.log}
	tests := map[string]struct {
		in   error
		want error
	}{
		"no error stays no error":          {in: nil, want: nil},
		"a reply passes unchanged":         {in: replyRelayDenied, want: replyRelayDenied},
		"a plain error becomes 451":        {in: errors.New("secret"), want: replyLocalError},
		"a wrapped reply is still unknown": {in: fmt.Errorf("x: %w", replyRelayDenied), want: replyLocalError},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := s.boundary(tc.in)
			if got != tc.want {
				t.Errorf("boundary(%v) = %v, want %v", tc.in, got, tc.want)
			}
			if tc.in == nil && got != nil {
				t.Errorf("boundary(nil) returned a non-nil error interface")
			}
		})
	}
}

func TestErrorLogCountsPanicsOnce(t *testing.T) {
	ts := startServer(t, ModeMX)
	l := errorLog{ts.srv}
	l.Printf("panic serving %v: %v\n%s", "127.0.0.1:1", reraisedPanic{"already counted"}, "stack")
	if got := ts.obs.get("panic"); got != 0 {
		t.Fatalf("a re-raised panic was counted again (%d)", got)
	}
	l.Printf("panic serving %v: %v\n%s", "127.0.0.1:1", "inside go-smtp", "stack")
	if got := ts.obs.get("panic"); got != 1 {
		t.Fatalf("a panic inside go-smtp was counted %d times, want 1", got)
	}
}
