package queue

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
	"github.com/kubemail/kubemail/mailserver/store"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	code := m.Run()
	if pki.caFile != "" {
		_ = os.RemoveAll(strings.TrimSuffix(pki.caFile, "/ca.pem"))
	}
	os.Exit(code)
}

// fastRetries is the retry schedule of the tests: short, so a retry
// happens within the test, long enough to observe the waiting state.
var fastRetries = []config.Duration{config.Dur(300 * time.Millisecond)}

// twoServers starts b.test (bob, carol) and then a.test (alice), whose
// outbound delivery reaches b.test's MX.
func twoServers(t *testing.T, aOut config.Outbound) (a, b *node, dns *dnstest.Server) {
	t.Helper()
	dns = dnstest.Start(t)
	b = startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob", "carol"}, dkim: true})
	aOut.Port = b.mxPort()
	if aOut.RetrySchedule == nil {
		aOut.RetrySchedule = fastRetries
	}
	a = startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice"}, dkim: true, outbound: aOut})
	return a, b, dns
}

const plainMessage = "From: Alice <alice@a.test>\nTo: Bob <bob@b.test>\nSubject: hello\n" +
	"Date: Mon, 02 Mar 2026 12:00:00 +0000\nMessage-ID: <hello@a.test>\n\nHi Bob.\n"

func TestDeliveryBetweenServersIsSignedAndVerified(t *testing.T) {
	a, b, _ := twoServers(t, config.Outbound{})
	if err := a.submit("alice", nil, []string{"bob@b.test"}, plainMessage); err != nil {
		t.Fatal(err)
	}
	got := b.waitInbox("bob@b.test", 1)
	msg := string(got[0])
	for _, want := range []string{
		"\r\nAuthentication-Results: mx.b.test;",
		"spf=pass smtp.mailfrom=a.test",
		"dkim=pass header.d=a.test header.s=k1",
		"dmarc=pass header.from=a.test",
		"\r\nDKIM-Signature: ",
		"\r\n\r\nHi Bob.\r\n",
	} {
		if !strings.Contains(strings.Join(strings.Fields(msg), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("bob's message lacks %q:\n%s", want, msg)
		}
	}
	if !strings.HasPrefix(msg, "Received: from mx.a.test") {
		t.Errorf("bob's message does not start with b's Received field:\n%s", msg)
	}
	a.waitQueue("empty after delivery", func(q []store.QueueEntry) bool { return len(q) == 0 })
	if n := len(a.inbox("alice@a.test")); n != 0 {
		t.Fatalf("alice got %d messages (a report?) for a delivered message", n)
	}
}

func TestMixedLocalAndRemoteRecipientsAreOneSubmission(t *testing.T) {
	dns := dnstest.Start(t)
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}})
	a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice", "ann"}, dkim: true,
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries}})
	if err := a.submit("alice", nil, []string{"ann@a.test", "bob@b.test"}, plainMessage); err != nil {
		t.Fatal(err)
	}
	local := a.waitInbox("ann@a.test", 1)
	remote := b.waitInbox("bob@b.test", 1)
	// One body: the local copy carries the same DKIM signature.
	if !strings.Contains(string(local[0]), "DKIM-Signature: ") || !strings.Contains(string(remote[0]), "DKIM-Signature: ") {
		t.Fatalf("local copy:\n%s\nremote copy:\n%s", local[0], remote[0])
	}
}

func TestDMARCRejectOnMX(t *testing.T) {
	_, b, _ := twoServers(t, config.Outbound{})
	// A client forging alice@a.test's From, without a.test's key, from an
	// address a.test's SPF does not allow… 127.0.0.1 is allowed, so the
	// forgery uses another envelope domain, which breaks SPF alignment.
	w := dialSMTP(t, b.mxAddr)
	w.cmd("EHLO evil.test", "250")
	w.cmd("MAIL FROM:<x@evil.test>", "250")
	w.cmd("RCPT TO:<bob@b.test>", "250")
	w.cmd("DATA", "354")
	w.cmd("From: alice@a.test\r\nSubject: wire money\r\n\r\nNow.\r\n.", "550 5.7.1 Message rejected by the DMARC policy")
	if n := len(b.inbox("bob@b.test")); n != 0 {
		t.Fatalf("bob got %d messages", n)
	}
}
