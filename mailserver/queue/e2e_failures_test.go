package queue

import (
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
	"github.com/kubemail/kubemail/mailserver/store"
)

// report is a parsed delivery status notification.
type report struct {
	subject string
	human   string
	fields  map[string]string // the per-recipient fields of the first recipient
	orig    string            // the third part's content type
	origMsg string
}

// parseReport parses a multipart/report message (RFC 6522).
func parseReport(t *testing.T, raw []byte) report {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("reading the report: %v\n%s", err, raw)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("report content type %q: %v", m.Header.Get("Content-Type"), err)
	}
	if m.Header.Get("Auto-Submitted") != "auto-replied" {
		t.Fatalf("report without Auto-Submitted: auto-replied")
	}
	r := report{subject: m.Header.Get("Subject"), fields: map[string]string{}}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err != nil {
			if i != 3 {
				t.Fatalf("report has %d parts, want 3 (%v)", i, err)
			}
			return r
		}
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := p.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		switch i {
		case 0:
			r.human = b.String()
		case 1:
			if p.Header.Get("Content-Type") != "message/delivery-status" {
				t.Fatalf("second part is %q", p.Header.Get("Content-Type"))
			}
			blocks := strings.Split(strings.ReplaceAll(b.String(), "\r\n", "\n"), "\n\n")
			if len(blocks) < 2 {
				t.Fatalf("delivery-status without a recipient block:\n%s", b.String())
			}
			for _, line := range strings.Split(blocks[1], "\n") {
				if k, v, ok := strings.Cut(line, ": "); ok {
					r.fields[k] = v
				}
			}
			for _, line := range strings.Split(blocks[0], "\n") {
				if k, v, ok := strings.Cut(line, ": "); ok {
					r.fields["message:"+k] = v
				}
			}
		case 2:
			r.orig, r.origMsg = p.Header.Get("Content-Type"), b.String()
		}
	}
}

func TestPermanentFailureAtRCPTBouncesToTheSender(t *testing.T) {
	a, b, _ := twoServers(t, config.Outbound{})
	if err := a.submit("alice", nil, []string{"nobody@b.test", "bob@b.test"}, plainMessage); err != nil {
		t.Fatal(err)
	}
	b.waitInbox("bob@b.test", 1) // the good recipient still gets it
	got := a.waitInbox("alice@a.test", 1)
	r := parseReport(t, got[0])
	want := map[string]string{
		"Final-Recipient":       "rfc822; nobody@b.test",
		"Action":                "failed",
		"Status":                "5.1.1",
		"Remote-MTA":            "dns; mx.b.test",
		"Diagnostic-Code":       "smtp; 550 5.1.1 No such user here",
		"message:Reporting-MTA": "dns; mx.a.test",
	}
	for k, v := range want {
		if r.fields[k] != v {
			t.Errorf("%s: %q, want %q", k, r.fields[k], v)
		}
	}
	if r.subject != "Undelivered Mail Returned to Sender" || r.orig != "message/rfc822" || !strings.Contains(r.origMsg, "Hi Bob.") {
		t.Errorf("report %q returns %q:\n%s", r.subject, r.orig, r.origMsg)
	}
	if !strings.Contains(r.human, "<nobody@b.test>: mx.b.test said: 550 5.1.1 No such user here") {
		t.Errorf("human-readable part:\n%s", r.human)
	}
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
}

func TestNeverBounceABounce(t *testing.T) {
	dns := dnstest.Start(t)
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}})
	a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice"},
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries},
		relay:    config.Relay{AllowedNetworks: []string{"127.0.0.0/8"}}})
	// A report (null sender) relayed through a.test fails at b.test.
	w := dialSMTP(t, a.mxAddr)
	w.cmd("EHLO app.cluster.local", "250")
	w.cmd("MAIL FROM:<>", "250")
	w.cmd("RCPT TO:<nobody@b.test>", "250")
	w.cmd("DATA", "354")
	w.cmd("From: MAILER-DAEMON@a.test\r\nSubject: report\r\n\r\nx\r\n.", "250")
	a.waitQueue("the report given up", func(q []store.QueueEntry) bool { return len(q) == 0 })
	if n := len(a.inbox("alice@a.test")); n != 0 {
		t.Fatalf("alice got %d messages", n)
	}
	if q := a.queued(); len(q) != 0 {
		t.Fatalf("a report about a report was queued: %+v", q)
	}
}

func TestTemporaryFailureIsRetriedUntilDelivered(t *testing.T) {
	a, b, _ := twoServers(t, config.Outbound{DelayNotice: config.Dur(time.Millisecond)})
	b.hook.setFail(true)
	if err := a.submit("alice", nil, []string{"bob@b.test"}, plainMessage); err != nil {
		t.Fatal(err)
	}
	q := a.waitQueue("two failed attempts", func(q []store.QueueEntry) bool {
		return len(q) == 1 && q[0].Recipients[0].Attempts >= 2 && !q[0].Recipients[0].InFlight
	})
	r := q[0].Recipients[0]
	if r.LastError != "451 4.3.0 Local error in processing, try again later" || !r.DelayNotified {
		t.Fatalf("queued recipient %+v", r)
	}
	// The sender heard about the delay, once.
	delay := parseReport(t, a.waitInbox("alice@a.test", 1)[0])
	if delay.fields["Action"] != "delayed" || delay.fields["Status"] != "4.3.0" || delay.fields["Will-Retry-Until"] == "" ||
		delay.orig != "text/rfc822-headers" {
		t.Fatalf("delay report %+v", delay)
	}
	b.hook.setFail(false)
	b.waitInbox("bob@b.test", 1)
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
	if n := len(a.inbox("alice@a.test")); n != 1 {
		t.Fatalf("alice has %d messages, want the one delay report", n)
	}
}

func TestUnreachableHostIsRetried(t *testing.T) {
	a, b, _ := twoServers(t, config.Outbound{})
	addr := b.mxAddr
	_ = b.mx.Close() // b.test's MX is down: connections are refused
	if err := a.submit("alice", nil, []string{"bob@b.test"}, plainMessage); err != nil {
		t.Fatal(err)
	}
	q := a.waitQueue("two failed attempts", func(q []store.QueueEntry) bool {
		return len(q) == 1 && q[0].Recipients[0].Attempts >= 2 && !q[0].Recipients[0].InFlight
	})
	if e := q[0].Recipients[0].LastError; !strings.HasPrefix(e, "451 4.4.1 connecting to mx.b.test") {
		t.Fatalf("last error %q", e)
	}
	// b.test comes back on the same address.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	b.serveMX(l)
	b.waitInbox("bob@b.test", 1)
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
}

func TestNullMXBouncesAtOnce(t *testing.T) {
	a, _, dns := twoServers(t, config.Outbound{})
	dns.Add(t, "null.test. IN MX 0 .")
	if err := a.submit("alice", nil, []string{"x@null.test"}, plainMessage); err != nil {
		t.Fatal(err)
	}
	r := parseReport(t, a.waitInbox("alice@a.test", 1)[0])
	if r.fields["Status"] != "5.1.10" || r.fields["Action"] != "failed" || r.fields["Remote-MTA"] != "" {
		t.Fatalf("null MX report fields %v", r.fields)
	}
}

func TestNonexistentDomainBouncesAtOnce(t *testing.T) {
	a, _, _ := twoServers(t, config.Outbound{})
	if err := a.submit("alice", nil, []string{"x@nowhere.test"}, plainMessage); err != nil {
		t.Fatal(err)
	}
	r := parseReport(t, a.waitInbox("alice@a.test", 1)[0])
	if r.fields["Status"] != "5.1.2" {
		t.Fatalf("report fields %v", r.fields)
	}
}

func TestExpiryBouncesWithTheLastError(t *testing.T) {
	a, b, _ := twoServers(t, config.Outbound{Expiry: config.Dur(time.Second), DelayNotice: config.Dur(time.Hour)})
	b.hook.setFail(true)
	if err := a.submit("alice", nil, []string{"bob@b.test"}, plainMessage); err != nil {
		t.Fatal(err)
	}
	r := parseReport(t, a.waitInbox("alice@a.test", 1)[0])
	if r.fields["Action"] != "failed" || r.fields["Status"] != "4.4.7" ||
		r.fields["Diagnostic-Code"] != "smtp; 451 4.3.0 Local error in processing, try again later" {
		t.Fatalf("expiry report fields %v", r.fields)
	}
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
}
