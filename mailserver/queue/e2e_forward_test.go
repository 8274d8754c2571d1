package queue

import (
	"strings"
	"testing"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
	"github.com/kubemail/kubemail/mailserver/store"
)

func TestForwardsAndRemoteAliasTargetsAreQueued(t *testing.T) {
	dns := dnstest.Start(t)
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob", "carol"}})
	a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice", "dave", "erin"}, dkim: true,
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries},
		mutate: func(c *config.Config) {
			for i := range c.Mailboxes {
				switch c.Mailboxes[i].Address {
				case "dave@a.test": // forwards and keeps a copy
					c.Mailboxes[i].ForwardTo, c.Mailboxes[i].KeepCopy = []string{"bob@b.test"}, true
				case "erin@a.test": // forwards only
					c.Mailboxes[i].ForwardTo = []string{"bob@b.test"}
				}
			}
			c.Aliases = []config.Alias{{Address: "team@a.test", Targets: []string{"alice@a.test", "carol@b.test"}}}
		}})
	// Mail from outside, on a.test's MX: forwarding needs no AUTH.
	w := dialSMTP(t, a.mxAddr)
	w.cmd("EHLO c.test", "250")
	w.cmd("MAIL FROM:<x@c.test>", "250")
	for _, r := range []string{"dave@a.test", "erin@a.test", "team@a.test"} {
		w.cmd("RCPT TO:<"+r+">", "250")
	}
	w.cmd("DATA", "354")
	w.cmd("From: x@c.test\r\nSubject: news\r\n\r\nnews\r\n.", "250")
	if n := len(a.waitInbox("dave@a.test", 1)); n != 1 {
		t.Fatalf("dave has %d copies", n)
	}
	a.waitInbox("alice@a.test", 1)
	if n := len(a.inbox("erin@a.test")); n != 0 {
		t.Fatalf("erin kept %d copies without keepCopy", n)
	}
	bob := b.waitInbox("bob@b.test", 1)
	carol := b.waitInbox("carol@b.test", 1)
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
	if n := len(b.inbox("bob@b.test")); n != 1 {
		t.Fatalf("bob got %d copies of one message forwarded twice, want 1", n)
	}
	// a.test did not originate the message: it forwards it unsigned.
	for _, m := range [][]byte{bob[0], carol[0]} {
		if strings.Contains(string(m), "DKIM-Signature:") {
			t.Fatalf("a forwarded message was signed:\n%s", m)
		}
	}
}

func TestAllowedNetworkRelaysThroughMXSigned(t *testing.T) {
	dns := dnstest.Start(t)
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}})
	a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice"}, dkim: true,
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries},
		relay:    config.Relay{AllowedNetworks: []string{"127.0.0.0/8"}}})
	w := dialSMTP(t, a.mxAddr)
	w.cmd("EHLO app.cluster.local", "250")
	w.cmd("MAIL FROM:<noreply@a.test>", "250")
	w.cmd("RCPT TO:<bob@b.test>", "250")
	w.cmd("DATA", "354")
	w.cmd("From: noreply@a.test\r\nSubject: your invoice\r\n\r\nx\r\n.", "250")
	got := strings.Join(strings.Fields(string(b.waitInbox("bob@b.test", 1)[0])), " ")
	if !strings.Contains(got, "dkim=pass header.d=a.test") || !strings.Contains(got, "dmarc=pass") {
		t.Fatalf("relayed message not signed for a.test:\n%s", got)
	}
}
