package smtp

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kubemail/kubemail/mailserver/mail"
)

func TestEHLOCapabilities(t *testing.T) {
	common := []string{"250-PIPELINING", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-CHUNKING"}
	tail := []string{"250-SMTPUTF8", "250-SIZE 65536", "250 LIMITS RCPTMAX=5"}
	caps := func(extra ...string) []string {
		return slices.Concat([]string{"250-Hello client.test"}, common, extra, tail)
	}
	tests := map[string]struct {
		mode      Mode
		noTLS     bool
		implicit  bool
		beforeTLS []string
		afterTLS  []string
	}{
		"MX offers STARTTLS and never AUTH": {
			mode: ModeMX, beforeTLS: caps("250-STARTTLS"), afterTLS: caps(),
		},
		"MX without a certificate offers no STARTTLS": {
			mode: ModeMX, noTLS: true, beforeTLS: caps(),
		},
		"submission offers AUTH only after STARTTLS": {
			mode: ModeSubmission, beforeTLS: caps("250-STARTTLS"), afterTLS: caps("250-AUTH PLAIN LOGIN"),
		},
		"submissions offers AUTH at once over implicit TLS": {
			mode: ModeSubmissions, implicit: true, afterTLS: caps("250-AUTH PLAIN LOGIN"),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, tc.mode, func(o *Options) {
				if tc.noTLS {
					o.TLSConfig = nil
				}
			})
			var w *wire
			if tc.implicit {
				w = dialWireTLS(t, ts.addr, ts.client)
				w.expect(greeting)
			} else {
				w = dialWire(t, ts.addr)
				w.expect(greeting)
				w.cmd("EHLO client.test", tc.beforeTLS...)
				if tc.afterTLS == nil {
					w.cmd("STARTTLS", "502 5.5.1 TLS not supported")
					return
				}
				w.startTLS(ts.client)
			}
			w.cmd("EHLO client.test", tc.afterTLS...)
		})
	}
}

func TestMXRecipientPolicy(t *testing.T) {
	tests := map[string]struct {
		mailParams string
		rcpt       string
		want       string
		reason     Reason // counted refusal, if any
	}{
		"a local mailbox is accepted": {
			rcpt: alice, want: fmt.Sprintf(rcptOK, alice),
		},
		"a local mailbox in upper case is accepted": {
			rcpt: "ALICE@EXAMPLE.COM", want: fmt.Sprintf(rcptOK, "ALICE@EXAMPLE.COM"),
		},
		"an alias expanding to local accounts is accepted": {
			rcpt: "team@example.com", want: fmt.Sprintf(rcptOK, "team@example.com"),
		},
		"an unknown user in a local domain is refused": {
			rcpt: "nobody@example.com", want: "550 5.1.1 No such user here", reason: ReasonUnknownRecipient,
		},
		"an alias without local accounts is refused as unknown": {
			rcpt: "empty-target@example.com", want: "550 5.1.1 No such user here", reason: ReasonUnknownRecipient,
		},
		"a non-local recipient is relaying and is refused": {
			rcpt: "victim@remote.test", want: "554 5.7.1 Relay access denied", reason: ReasonRelayDenied,
		},
		"an alias forwarding to an external address is refused": {
			rcpt: "fwd@example.com", reason: ReasonForwardingDisabled,
			want: "550 5.7.1 This address forwards to external recipients, which is not enabled on this server",
		},
		"a full mailbox is a temporary failure": {
			rcpt: "full@example.com", want: "452 4.2.2 Mailbox full, try again later", reason: ReasonOverQuota,
		},
		"a mailbox the message can never fit is refused": {
			rcpt: "huge@example.com", want: "552 5.2.2 Mailbox full", reason: ReasonOverQuota,
		},
		"a failing quota check is temporary and its text stays in the log": {
			rcpt: "quotabroken@example.com", want: "451 4.3.0 Local error in processing, try again later",
			reason: ReasonInternal,
		},
		"a failing directory is temporary and its text stays in the log": {
			rcpt: "lookupbroken@example.com", want: "451 4.3.0 Local error in processing, try again later",
			reason: ReasonInternal,
		},
		"a domain with a control character is refused": {
			rcpt: "alice@exam\x01ple.com", want: "501 5.1.3 Bad recipient address syntax", reason: ReasonBadAddress,
		},
		"a non-ASCII recipient without SMTPUTF8 is refused": {
			rcpt: "\u00fcser@example.com", want: "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter",
			reason: ReasonBadAddress,
		},
		"a non-ASCII recipient with SMTPUTF8 is accepted": {
			mailParams: " SMTPUTF8", rcpt: "\u00fcser@example.com", want: fmt.Sprintf(rcptOK, "\u00fcser@example.com"),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, ModeMX)
			w := hello(t, ts.addr)
			w.cmd("MAIL FROM:<sender@remote.test>"+tc.mailParams, fmt.Sprintf(mailOK, "sender@remote.test"))
			w.cmd("RCPT TO:<"+tc.rcpt+">", tc.want)
			if tc.reason != "" {
				if got := ts.obs.get("rejected:" + string(tc.reason)); got != 1 {
					t.Errorf("refusals counted as %s = %d, want 1", tc.reason, got)
				}
			}
			if strings.HasPrefix(tc.want, "451") && !strings.Contains(ts.logs.String(), "secret-") {
				t.Errorf("the internal error was not logged:\n%s", ts.logs.String())
			}
		})
	}
}

func TestMXRefusesAUTH(t *testing.T) {
	ts := startServer(t, ModeMX)
	w := hello(t, ts.addr)
	w.startTLS(ts.client)
	w.write("EHLO client.test\r\n")
	w.reply()
	w.cmd("AUTH PLAIN "+plainIR("", alice, alicePassword), "502 5.5.1 AUTH is not available on this port")
	if n := len(ts.auth.calls); n != 0 {
		t.Errorf("Authenticator called %d times on MX", n)
	}
}

func TestMXDeliversWithReceivedHeader(t *testing.T) {
	ts := startServer(t, ModeMX)
	w := hello(t, ts.addr)
	tc := w.startTLS(ts.client)
	w.write("EHLO client.test\r\n")
	w.reply()
	w.cmd("MAIL FROM:<sender@remote.test> SIZE=40 BODY=8BITMIME", fmt.Sprintf(mailOK, "sender@remote.test"))
	w.cmd("RCPT TO:<alice@example.com>", fmt.Sprintf(rcptOK, alice))
	w.cmd("DATA", dataGo)
	w.write("Subject: hi\r\n\r\nHello\r\n..dot-stuffed line\r\n.\r\n")
	reply := w.line()
	if !regexp.MustCompile(acceptedRe).MatchString(reply) {
		t.Fatalf("DATA reply %q does not match %s", reply, acceptedRe)
	}
	w.cmd("QUIT", "221 2.0.0 Bye")

	got := ts.dlv.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	env := got[0].env
	if id := strings.TrimPrefix(reply, "250 2.0.0 Message accepted, id "); env.ID != id {
		t.Errorf("envelope id %q, reply names %q", env.ID, id)
	}
	state := tc.ConnectionState()
	wantBody := "Received: from client.test ([127.0.0.1])\r\n" +
		"\t(using " + tlsVersionName(state.Version) + " with cipher " + tls.CipherSuiteName(state.CipherSuite) + ")\r\n" +
		"\tby mx.test with ESMTPS id " + env.ID + "\r\n" +
		"\tfor <alice@example.com>; Fri, 02 Jan 2026 03:04:05 +0000\r\n" +
		"Subject: hi\r\n\r\nHello\r\n.dot-stuffed line\r\n"
	if string(got[0].body) != wantBody {
		t.Errorf("stored body:\n%q\nwant\n%q", got[0].body, wantBody)
	}
	wantEnv := mail.Envelope{
		ID: env.ID, From: "sender@remote.test", HELO: "client.test",
		Recipients: []mail.Recipient{{Address: alice, Local: true, Accounts: []string{alice}}},
		RemoteIP:   netip.MustParseAddr("127.0.0.1"), TLS: true, ReceivedAt: fixedNow,
	}
	if fmt.Sprint(env) != fmt.Sprint(wantEnv) {
		t.Errorf("envelope\n got %+v\nwant %+v", env, wantEnv)
	}
	if ts.obs.get("accepted") != 1 {
		t.Errorf("accepted messages counted %d, want 1", ts.obs.get("accepted"))
	}
}

func TestPipelinedTransaction(t *testing.T) {
	ts := startServer(t, ModeMX)
	w := hello(t, ts.addr)
	w.write("MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<nobody@example.com>\r\n" +
		"RCPT TO:<team@example.com>\r\nDATA\r\n")
	w.expect(fmt.Sprintf(mailOK, "sender@remote.test"), fmt.Sprintf(rcptOK, alice),
		"550 5.1.1 No such user here", fmt.Sprintf(rcptOK, "team@example.com"), dataGo)
	w.write("Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n")
	if reply := w.line(); !regexp.MustCompile(acceptedRe).MatchString(reply) {
		t.Fatalf("DATA reply %q", reply)
	}
	w.expect("221 2.0.0 Bye")

	got := ts.dlv.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	if accounts := got[0].env.Accounts(); !slices.Equal(accounts, []string{alice, bob}) {
		t.Errorf("accounts %v, want alice and bob once each", accounts)
	}
	wantBody := "Received: from client.test ([127.0.0.1])\r\n" +
		"\tby mx.test with ESMTP id " + got[0].env.ID + ";\r\n" +
		"\tFri, 02 Jan 2026 03:04:05 +0000\r\n" +
		"Subject: pipelined\r\n\r\nbody\r\n"
	if string(got[0].body) != wantBody {
		t.Errorf("stored body (no \"for\" with two recipients):\n%q\nwant\n%q", got[0].body, wantBody)
	}
}

func TestBDAT(t *testing.T) {
	ts := startServer(t, ModeMX)
	w := hello(t, ts.addr)

	// A message in two chunks.
	w.cmd("MAIL FROM:<sender@remote.test>", fmt.Sprintf(mailOK, "sender@remote.test"))
	w.cmd("RCPT TO:<alice@example.com>", fmt.Sprintf(rcptOK, alice))
	w.write("BDAT 16\r\nSubject: chunk\r\n")
	w.expect(bdatGoOn)
	w.write("BDAT 13 LAST\r\n\r\nin chunks\r\n")
	if reply := w.line(); !regexp.MustCompile(acceptedRe).MatchString(reply) {
		t.Fatalf("BDAT LAST reply %q", reply)
	}
	got := ts.dlv.deliveries()
	if len(got) != 1 || !strings.HasSuffix(string(got[0].body), "\r\nSubject: chunk\r\n\r\nin chunks\r\n") {
		t.Fatalf("deliveries %+v, want the two chunks joined", got)
	}

	// A chunk with bare LF is refused like DATA, and the session goes on.
	w.cmd("MAIL FROM:<sender@remote.test>", fmt.Sprintf(mailOK, "sender@remote.test"))
	w.cmd("RCPT TO:<alice@example.com>", fmt.Sprintf(rcptOK, alice))
	w.write("BDAT 9 LAST\r\nab\n.\ncd\r\n")
	w.expect("554 5.6.0 Message contains a bare CR or LF; lines must end with CRLF")
	w.cmd("NOOP", noopOK)

	// A chunk over the size limit is refused by go-smtp and discarded.
	// (go-smtp discards it through its line-limited reader, so a chunk
	// without line breaks would close the connection; see doc.go.)
	w.cmd("MAIL FROM:<sender@remote.test>", fmt.Sprintf(mailOK, "sender@remote.test"))
	w.cmd("RCPT TO:<alice@example.com>", fmt.Sprintf(rcptOK, alice))
	w.write("BDAT 70000 LAST\r\n" + strings.Repeat(strings.Repeat("x", 98)+"\r\n", 700))
	w.expect("552 5.3.4 Max message size exceeded")
	w.cmd("NOOP", noopOK)

	if n := len(ts.dlv.deliveries()); n != 1 {
		t.Errorf("%d deliveries, want only the first message", n)
	}
}

func TestNestedMAILIsRefused(t *testing.T) {
	ts := startServer(t, ModeMX)
	w := hello(t, ts.addr)
	w.cmd("MAIL FROM:<sender@remote.test>", fmt.Sprintf(mailOK, "sender@remote.test"))
	w.cmd("RCPT TO:<alice@example.com>", fmt.Sprintf(rcptOK, alice))
	w.cmd("MAIL FROM:<other@remote.test>", "503 5.5.1 Nested MAIL command")
	w.cmd("RSET", rsetOK)
	w.cmd("MAIL FROM:<other@remote.test>", fmt.Sprintf(mailOK, "other@remote.test"))
	w.cmd("DATA", "502 5.5.1 Missing RCPT TO command.")
}
