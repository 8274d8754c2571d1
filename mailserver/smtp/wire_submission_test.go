package smtp

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestSubmissionRequiresTLSThenAUTH(t *testing.T) {
	ts := startServer(t, ModeSubmission)
	w := hello(t, ts.addr)
	w.cmd("MAIL FROM:<alice@example.com>", "530 5.7.0 Must issue a STARTTLS command first")
	w.cmd("AUTH PLAIN "+plainIR("", alice, alicePassword),
		"538 5.7.11 Encryption required for requested authentication mechanism")
	if n := len(ts.auth.calls); n != 0 {
		t.Fatalf("credentials sent before TLS reached the Authenticator (%d calls)", n)
	}
	w.startTLS(ts.client)
	w.write("EHLO client.test\r\n")
	w.reply()
	w.cmd("MAIL FROM:<alice@example.com>", "530 5.7.0 Authentication required")
	w.cmd("AUTH PLAIN "+plainIR("", alice, alicePassword), authOK)
	w.cmd("MAIL FROM:<alice@example.com>", fmt.Sprintf(mailOK, alice))
	if got := ts.obs.get("rejected:" + string(ReasonTLSRequired)); got != 1 {
		t.Errorf("TLS-required refusals counted %d, want 1", got)
	}
	if got := ts.obs.get("auth:" + string(ReasonTLSRequired)); got != 1 {
		t.Errorf("AUTH-before-TLS refusals counted %d, want 1", got)
	}
}

// exchange is one line sent and the reply lines expected.
type exchange struct {
	send string
	want []string
}

func TestSubmissionAUTH(t *testing.T) {
	const (
		userChallenge = "334 VXNlcm5hbWU6" // "Username:"
		passChallenge = "334 UGFzc3dvcmQ6" // "Password:"
		invalid       = "535 5.7.8 Authentication credentials invalid"
		malformed     = "501 5.5.2 Malformed authentication response"
	)
	tests := map[string]struct {
		steps      []exchange
		closed     bool   // the server closes the connection afterwards
		authReason Reason // counted AUTH failure, if any
	}{
		"PLAIN with an initial response succeeds": {
			steps: []exchange{{"AUTH PLAIN " + plainIR("", alice, alicePassword), []string{authOK}}},
		},
		"PLAIN without an initial response succeeds": {
			steps: []exchange{
				{"AUTH PLAIN", []string{"334 "}},
				{plainIR("", alice, alicePassword), []string{authOK}},
			},
		},
		"PLAIN naming the user as authorization identity succeeds": {
			steps: []exchange{{"AUTH PLAIN " + plainIR(alice, alice, alicePassword), []string{authOK}}},
		},
		"LOGIN asks for the user name and the password": {
			steps: []exchange{
				{"AUTH LOGIN", []string{userChallenge}},
				{b64(alice), []string{passChallenge}},
				{b64(alicePassword), []string{authOK}},
			},
		},
		"LOGIN takes the user name as initial response": {
			steps: []exchange{
				{"AUTH LOGIN " + b64(alice), []string{passChallenge}},
				{b64(alicePassword), []string{authOK}},
			},
		},
		"a wrong password is refused": {
			steps:      []exchange{{"AUTH PLAIN " + plainIR("", alice, "wrong"), []string{invalid}}},
			authReason: ReasonInvalidCredentials,
		},
		"an unknown user is refused the same way": {
			steps:      []exchange{{"AUTH PLAIN " + plainIR("", "nobody@example.com", "x"), []string{invalid}}},
			authReason: ReasonInvalidCredentials,
		},
		"another authorization identity is refused": {
			steps:      []exchange{{"AUTH PLAIN " + plainIR(bob, alice, alicePassword), []string{invalid}}},
			authReason: ReasonInvalidCredentials,
		},
		"a throttled client gets a temporary failure": {
			steps: []exchange{{"AUTH PLAIN " + plainIR("", "throttled@example.com", "x"),
				[]string{"454 4.7.0 Too many failed authentication attempts, try again later"}}},
			authReason: ReasonThrottled,
		},
		"a failing authenticator is a temporary failure without its text": {
			steps: []exchange{{"AUTH PLAIN " + plainIR("", "broken@example.com", "x"),
				[]string{"454 4.7.0 Temporary authentication failure"}}},
			authReason: ReasonInternal,
		},
		"a PLAIN response without separators is malformed": {
			steps:      []exchange{{"AUTH PLAIN " + b64("garbage"), []string{malformed}}},
			authReason: ReasonMalformed,
		},
		"an empty PLAIN response is malformed": {
			steps:      []exchange{{"AUTH PLAIN =", []string{malformed}}},
			authReason: ReasonMalformed,
		},
		"an oversized password never reaches the authenticator": {
			steps: []exchange{{"AUTH PLAIN " + plainIR("", alice, strings.Repeat("p", 5000)),
				[]string{malformed}}},
			authReason: ReasonMalformed,
		},
		"a LOGIN user name with a NUL is malformed": {
			steps:      []exchange{{"AUTH LOGIN " + b64("al\x00ice"), []string{malformed}}},
			authReason: ReasonMalformed,
		},
		"undecodable base64 is refused by go-smtp": {
			steps: []exchange{{"AUTH PLAIN !!!notbase64", []string{"454 4.7.0 Invalid base64 data"}}},
		},
		"an AUTH line over the transport limit closes the connection": {
			steps: []exchange{{"AUTH PLAIN " + strings.Repeat("QUFB", 5000),
				[]string{"500 5.4.0 Too long line, closing connection"}}},
			closed: true,
		},
		"an unknown mechanism is refused": {
			steps:      []exchange{{"AUTH CRAM-MD5", []string{"504 5.5.4 Unrecognized authentication type"}}},
			authReason: ReasonMalformed,
		},
		"a cancelled exchange": {
			steps: []exchange{
				{"AUTH LOGIN", []string{userChallenge}},
				{"*", []string{"501 5.0.0 Negotiation cancelled"}},
			},
		},
		"a second AUTH is refused": {
			steps: []exchange{
				{"AUTH PLAIN " + plainIR("", alice, alicePassword), []string{authOK}},
				{"AUTH PLAIN " + plainIR("", alice, alicePassword), []string{"503 5.5.1 Already authenticated"}},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, ModeSubmissions)
			w := dialWireTLS(t, ts.addr, ts.client)
			w.expect(greeting)
			w.write("EHLO client.test\r\n")
			w.reply()
			for _, step := range tc.steps {
				w.cmd(step.send, step.want...)
			}
			if tc.closed {
				w.expectClosed()
			} else {
				w.cmd("NOOP", noopOK)
			}
			if tc.authReason != "" {
				if got := ts.obs.get("auth:" + string(tc.authReason)); got != 1 {
					t.Errorf("AUTH failures counted as %s = %d, want 1", tc.authReason, got)
				}
			}
			logs := ts.logs.String()
			for _, secret := range []string{alicePassword, b64(alicePassword), plainIR("", alice, alicePassword)} {
				if strings.Contains(logs, secret) {
					t.Errorf("logs contain a credential %q:\n%s", secret, logs)
				}
			}
			ts.auth.mu.Lock()
			defer ts.auth.mu.Unlock()
			for _, ip := range ts.auth.ips {
				if ip != netip.MustParseAddr("127.0.0.1") {
					t.Errorf("Authenticator got client IP %v, want 127.0.0.1", ip)
				}
			}
		})
	}
}

func TestSubmissionSenderPolicy(t *testing.T) {
	tests := map[string]struct {
		from   string
		want   string
		reason Reason
	}{
		"the account's own address is accepted": {
			from: "<alice@example.com>", want: fmt.Sprintf(mailOK, alice),
		},
		"an alias of the account is accepted": {
			from: "<alias-alice@example.com>", want: fmt.Sprintf(mailOK, "alias-alice@example.com"),
		},
		"another user's address is refused": {
			from: "<bob@example.com>", want: "553 5.7.1 Sender address not owned by the authenticated user",
			reason: ReasonSenderNotAllowed,
		},
		"the null sender is refused": {
			from: "<>", want: "553 5.7.1 The null sender is not allowed on submission", reason: ReasonSenderNotAllowed,
		},
		"a malformed sender is refused": {
			from: "<alice@exam\x7fple.com>", want: "501 5.1.7 Bad sender address syntax", reason: ReasonBadAddress,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, ModeSubmission)
			w := submissionLogin(t, ts)
			w.cmd("MAIL FROM:"+tc.from, tc.want)
			if tc.reason != "" {
				if got := ts.obs.get("rejected:" + string(tc.reason)); got != 1 {
					t.Errorf("refusals counted as %s = %d, want 1", tc.reason, got)
				}
			}
		})
	}
}

func TestSubmissionDeliversLocallyAndRefusesOutbound(t *testing.T) {
	ts := startServer(t, ModeSubmission)
	w := submissionLogin(t, ts)
	w.cmd("MAIL FROM:<alice@example.com>", fmt.Sprintf(mailOK, alice))
	w.cmd("RCPT TO:<friend@remote.test>",
		"550 5.7.1 Outbound delivery is not enabled on this server; only local recipients are accepted")
	w.cmd("RCPT TO:<bob@example.com>", fmt.Sprintf(rcptOK, bob))
	w.cmd("DATA", dataGo)
	w.write("Subject: internal\r\n\r\nhi bob\r\n.\r\n")
	if reply := w.line(); !regexp.MustCompile(acceptedRe).MatchString(reply) {
		t.Fatalf("DATA reply %q", reply)
	}
	got := ts.dlv.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	env := got[0].env
	if env.Account != alice || env.From != alice || len(env.Recipients) != 1 || env.Recipients[0].Address != bob {
		t.Errorf("envelope %+v, want alice's message to bob only", env)
	}
	if !strings.Contains(string(got[0].body), "\tby mx.test with ESMTPSA id "+env.ID+"\r\n") {
		t.Errorf("Received header does not record ESMTPSA:\n%s", got[0].body)
	}
	if ts.obs.get("rejected:"+string(ReasonOutboundDisabled)) != 1 {
		t.Errorf("outbound refusal not counted")
	}
}
