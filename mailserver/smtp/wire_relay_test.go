package smtp

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kubemail/kubemail/mailserver/mail"
)

// relayingDeliverer is a fakeDeliverer that is also a Relayer.
type relayingDeliverer struct {
	*fakeDeliverer
	allowed atomic.Bool // RelayAllowed's answer for every client
	limit   int         // remote recipients per sender; 0: no limit

	mu      sync.Mutex
	counted map[string]int
}

func newRelayingDeliverer(allowed bool, limit int) *relayingDeliverer {
	d := &relayingDeliverer{fakeDeliverer: &fakeDeliverer{}, limit: limit}
	d.allowed.Store(allowed)
	return d
}

func (d *relayingDeliverer) RelayAllowed(netip.Addr) bool { return d.allowed.Load() }

func (d *relayingDeliverer) count(sender string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.counted[sender]
}

func (d *relayingDeliverer) AllowRelay(_ context.Context, sender string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.counted == nil {
		d.counted = map[string]int{}
	}
	if d.limit > 0 && d.counted[sender] >= d.limit {
		return fmt.Errorf("sender %s: %w", sender, mail.ErrRateLimited)
	}
	d.counted[sender]++
	return nil
}

const (
	remoteRcpt  = "victim@remote.test"
	forwardRcpt = "fwd@example.com" // local, forwards to x@remote.test
)

// TestNoOpenRelay is the open-relay regression table: every combination of
// listener, relaying support, allowed network, authentication, sender and
// recipient, driven over the wire. The policy, stated once here:
//
//   - submission needs TLS and AUTH before MAIL, and a sender the account
//     owns;
//   - a remote recipient is accepted only from an authenticated client
//     (submission) or, on MX, from an allowed network, and only when the
//     server can relay at all;
//   - a local recipient that forwards elsewhere needs relaying support,
//     and no authentication.
func TestNoOpenRelay(t *testing.T) {
	type server struct {
		mode    Mode
		relayer bool
		allowed bool
	}
	senders := map[string]string{"local": alice, "remote": "spoof@remote.test", "null": ""}
	rcpts := map[string]string{"local": bob, "remote": remoteRcpt, "forwarding": forwardRcpt}
	for _, srv := range []server{
		{ModeMX, false, false}, {ModeMX, true, false}, {ModeMX, true, true}, {ModeMX, false, true},
		{ModeSubmission, false, false}, {ModeSubmission, true, false}, {ModeSubmission, true, true},
		{ModeSubmissions, false, false}, {ModeSubmissions, true, false}, {ModeSubmissions, true, true},
	} {
		name := fmt.Sprintf("%s relayer=%v allowed-network=%v", srv.mode, srv.relayer, srv.allowed)
		t.Run(name, func(t *testing.T) {
			var dlv mail.Deliverer
			if srv.relayer {
				dlv = newRelayingDeliverer(srv.allowed, 0)
			} else if srv.allowed {
				return // "allowed networks" exist only with a Relayer
			}
			ts := startServerWith(t, srv.mode, dlv)
			for _, authed := range []bool{false, true} {
				for sname, from := range senders {
					for rname, rcpt := range rcpts {
						t.Run(fmt.Sprintf("auth=%v sender=%s rcpt=%s", authed, sname, rname), func(t *testing.T) {
							w := relayClient(t, ts, srv.mode, authed)
							mail := w.send("MAIL FROM:<" + from + ">")
							mailWant := expectMail(srv.mode, authed, sname)
							if !strings.HasPrefix(mail, mailWant) {
								t.Fatalf("MAIL FROM:<%s>: %q, want %s…", from, mail, mailWant)
							}
							if mailWant != "250" {
								return
							}
							got := w.send("RCPT TO:<" + rcpt + ">")
							want := expectRcpt(srv.mode, srv.relayer, srv.allowed, authed, rname)
							if !strings.HasPrefix(got, want) {
								t.Fatalf("RCPT TO:<%s>: %q, want %s…", rcpt, got, want)
							}
							// The invariant itself, independent of the table.
							permitted := (authed && srv.mode != ModeMX) || (srv.mode == ModeMX && srv.allowed)
							if rname == "remote" && strings.HasPrefix(got, "250") && !permitted {
								t.Fatalf("OPEN RELAY: %s accepted a remote recipient without AUTH or an allowed network", name)
							}
						})
					}
				}
			}
		})
	}
}

// expectMail is the policy's reply code to MAIL.
func expectMail(mode Mode, authed bool, sender string) string {
	switch {
	case mode == ModeMX:
		return "250"
	case !authed:
		return "530 5.7.0"
	case sender != "local":
		return "553 5.7.1"
	default:
		return "250"
	}
}

// expectRcpt is the policy's reply code to RCPT.
func expectRcpt(mode Mode, relayer, allowed, authed bool, rcpt string) string {
	switch rcpt {
	case "local":
		return "250"
	case "forwarding":
		if relayer {
			return "250"
		}
		return "550 5.7.1"
	}
	switch {
	case mode == ModeMX && relayer && allowed:
		return "250"
	case mode == ModeMX:
		return "554 5.7.1"
	case relayer && authed:
		return "250"
	default:
		return "550 5.7.1"
	}
}

// relayClient connects to ts as the table's client: on submission with
// TLS, and logged in as alice when authed (on MX, AUTH is refused).
func relayClient(t *testing.T, ts *testServer, mode Mode, authed bool) *wire {
	t.Helper()
	var w *wire
	switch mode {
	case ModeSubmissions:
		w = dialWireTLS(t, ts.addr, ts.client)
		w.expect(greeting)
		w.write("EHLO client.test\r\n")
		w.reply()
	case ModeSubmission:
		w = hello(t, ts.addr)
		w.startTLS(ts.client)
		w.write("EHLO client.test\r\n")
		w.reply()
	default:
		w = hello(t, ts.addr)
	}
	if authed {
		want := authOK
		if mode == ModeMX {
			want = "502 5.5.1 AUTH is not available on this port"
		}
		w.cmd("AUTH PLAIN "+plainIR("", alice, alicePassword), want)
	}
	return w
}

// send sends one command and returns its (single-line) reply.
func (w *wire) send(line string) string {
	w.t.Helper()
	w.write(line + "\r\n")
	return w.line()
}

func TestRelayedEnvelopeCarriesDSNParameters(t *testing.T) {
	dlv := newRelayingDeliverer(false, 0)
	ts := startServerWith(t, ModeSubmission, dlv)
	w := submissionLogin(t, ts)
	w.write("EHLO client.test\r\n")
	caps := strings.Join(w.reply(), "\n")
	for _, ext := range []string{"DSN", "REQUIRETLS"} {
		if !strings.Contains(caps, "250-"+ext+"\n") && !strings.Contains(caps, "250 "+ext) {
			t.Fatalf("EHLO does not advertise %s:\n%s", ext, caps)
		}
	}
	w.cmd("MAIL FROM:<alice@example.com> RET=HDRS ENVID=QQ+2Bid REQUIRETLS", fmt.Sprintf(mailOK, alice))
	w.cmd("RCPT TO:<victim@remote.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;orig+40remote.test", fmt.Sprintf(rcptOK, remoteRcpt))
	w.cmd("RCPT TO:<fwd@example.com> NOTIFY=NEVER", fmt.Sprintf(rcptOK, forwardRcpt))
	w.cmd("RCPT TO:<VICTIM@remote.test>", fmt.Sprintf(rcptOK, "VICTIM@remote.test"))
	w.cmd("DATA", dataGo)
	w.write("Subject: x\r\n\r\nhi\r\n.\r\n")
	if got := w.line(); !strings.HasPrefix(got, "250 2.0.0 Message accepted") {
		t.Fatalf("DATA: %q", got)
	}
	got := dlv.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	env := got[0].env
	if env.Return != "HDRS" || env.EnvelopeID != "QQ+id" || !env.RequireTLS || env.Relayed {
		t.Fatalf("envelope DSN parameters %+v", env)
	}
	remote := env.Remote()
	want := []string{"victim@remote.test", "x@remote.test"} // VICTIM@ is the same mailbox
	if len(remote) != len(want) {
		t.Fatalf("Remote() = %+v, want %v", remote, want)
	}
	for i, r := range remote {
		if r.Address != want[i] {
			t.Fatalf("Remote()[%d] = %+v, want %s", i, r, want[i])
		}
	}
	if r := remote[0].Recipient; strings.Join(r.Notify, ",") != "FAILURE,DELAY" || r.ORCPT != "RFC822;orig@remote.test" {
		t.Fatalf("first remote recipient %+v", r)
	}
	if r := remote[1].Recipient; r.Address != forwardRcpt || strings.Join(r.Notify, ",") != "NEVER" {
		t.Fatalf("forward target's recipient %+v", r)
	}
	if accts := env.Accounts(); len(accts) != 1 || accts[0] != alice {
		t.Fatalf("Accounts() = %v, want the forwarding mailbox's own copy", accts)
	}
}

func TestRequireTLSOutsideTLSIsRefused(t *testing.T) {
	dlv := newRelayingDeliverer(true, 0)
	ts := startServerWith(t, ModeMX, dlv)
	w := hello(t, ts.addr)
	w.cmd("MAIL FROM:<a@remote.test> REQUIRETLS", "530 5.7.10 REQUIRETLS needs a TLS session: issue STARTTLS first")
}

func TestRelayRateLimit(t *testing.T) {
	dlv := newRelayingDeliverer(false, 2)
	ts := startServerWith(t, ModeSubmission, dlv)
	w := submissionLogin(t, ts)
	w.cmd("MAIL FROM:<alice@example.com>", fmt.Sprintf(mailOK, alice))
	w.cmd("RCPT TO:<a@remote.test>", fmt.Sprintf(rcptOK, "a@remote.test"))
	w.cmd("RCPT TO:<b@remote.test>", fmt.Sprintf(rcptOK, "b@remote.test"))
	w.cmd("RCPT TO:<c@remote.test>", "450 4.7.1 Sender rate limit reached, try again later")
	w.cmd("RCPT TO:<bob@example.com>", fmt.Sprintf(rcptOK, bob)) // local mail is not counted
	if got := ts.obs.get("rejected:" + string(ReasonRateLimited)); got != 1 {
		t.Fatalf("rate-limit refusals counted %d, want 1", got)
	}
	if n := dlv.count(alice); n != 2 {
		t.Fatalf("counted %d for the account, want 2", n)
	}
}

// fakeChecker prepends a header and rejects mail from reject@remote.test.
type fakeChecker struct {
	mu    sync.Mutex
	calls int
}

func (c *fakeChecker) CheckMessage(_ context.Context, env mail.Envelope, content []byte) mail.CheckResult {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	if env.From == "reject@remote.test" {
		return mail.CheckResult{Reject: true, Reason: "dmarc=fail"}
	}
	return mail.CheckResult{Header: []byte("Authentication-Results: mx.test; none\r\n"),
		Content: []byte(strings.Replace(string(content), "Forged: yes\r\n", "", 1))}
}

func TestCheckerOnMX(t *testing.T) {
	dlv := newRelayingDeliverer(false, 0)
	chk := &fakeChecker{}
	ts := startServerWith(t, ModeMX, dlv, func(o *Options) { o.Checker = chk })
	send := func(from string) string {
		w := hello(t, ts.addr)
		w.cmd("MAIL FROM:<"+from+">", fmt.Sprintf(mailOK, from))
		w.cmd("RCPT TO:<bob@example.com>", fmt.Sprintf(rcptOK, bob))
		w.cmd("DATA", dataGo)
		w.write("Forged: yes\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
		return w.line()
	}
	if got := send("reject@remote.test"); got != "550 5.7.1 Message rejected by the DMARC policy of the sender's domain" {
		t.Fatalf("DMARC reject: %q", got)
	}
	if got := send("ok@remote.test"); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("accepted message: %q", got)
	}
	got := dlv.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	body := string(got[0].body)
	if !strings.HasPrefix(body, "Received: ") || !strings.Contains(body, "\r\nAuthentication-Results: mx.test; none\r\nSubject: x\r\n") ||
		strings.Contains(body, "Forged") {
		t.Fatalf("stored message:\n%s", body)
	}
	// A relaying client is trusted and not checked.
	dlv.allowed.Store(true)
	w := hello(t, ts.addr)
	w.cmd("MAIL FROM:<reject@remote.test>", fmt.Sprintf(mailOK, "reject@remote.test"))
	w.cmd("RCPT TO:<bob@example.com>", fmt.Sprintf(rcptOK, bob))
	w.cmd("DATA", dataGo)
	w.write("Subject: x\r\n\r\nhi\r\n.\r\n")
	if got := w.line(); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("message from an allowed network: %q", got)
	}
	chk.mu.Lock()
	calls := chk.calls
	chk.mu.Unlock()
	if calls != 2 {
		t.Fatalf("checker called %d times, want 2", calls)
	}
}
