package queue

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
	"github.com/kubemail/kubemail/mailserver/store"
)

// countingListener counts the connections a server accepts and can drop
// them from the server's side.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// count is the number of connections accepted so far.
func (l *countingListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// dropAll closes every accepted connection, as a server that ends idle
// sessions does (without a reply: the client notices at its next command).
func (l *countingListener) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
}

// countMX returns node options whose MX listener counts into *l.
func countMX(l **countingListener) func(net.Listener) net.Listener {
	return func(inner net.Listener) net.Listener {
		*l = &countingListener{Listener: inner}
		return *l
	}
}

// outcomeCounter is an Observer counting outcomes.
type outcomeCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *outcomeCounter) Attempted(outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[outcome]++
}

func (o *outcomeCounter) Panicked() {}

func (o *outcomeCounter) get(outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[outcome]
}

// numbered is the i-th of a run of distinct messages from alice to bob.
func numbered(i int) string {
	return fmt.Sprintf("From: Alice <alice@a.test>\nTo: Bob <bob@b.test>\nSubject: number %d\n"+
		"Date: Mon, 02 Mar 2026 12:00:00 +0000\nMessage-ID: <n%d@a.test>\n\nMessage number %d.\n", i, i, i)
}

// submitNumbered submits numbered messages first … first+count-1.
func submitNumbered(t *testing.T, a *node, first, count int) {
	t.Helper()
	for i := first; i < first+count; i++ {
		if err := a.submit("alice", nil, []string{"bob@b.test"}, numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// checkEachOnce checks that bob's INBOX holds numbered messages 0 … n-1,
// each once and ending in the whole message as submitted (only header
// fields added in front).
func checkEachOnce(t *testing.T, b *node, n int) {
	t.Helper()
	got := b.inbox("bob@b.test")
	if len(got) != n {
		t.Fatalf("bob has %d messages, want %d", len(got), n)
	}
	seen := map[int]bool{}
	for _, body := range got {
		found := false
		for i := range n {
			if strings.HasSuffix(string(body), strings.ReplaceAll(numbered(i), "\n", "\r\n")) {
				if seen[i] {
					t.Fatalf("message %d delivered twice", i)
				}
				seen[i], found = true, true
				break
			}
		}
		if !found {
			t.Fatalf("bob has a message that is none of those sent (damaged?):\n%s", body)
		}
	}
}

func TestSessionsAreReusedPerDestination(t *testing.T) {
	dns := dnstest.Start(t)
	var mx *countingListener
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}, listenMX: countMX(&mx)})
	// The clock stands still, so no session reaches its idle timeout.
	a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice"}, dkim: true, clock: newFakeClock(t0),
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries, MaxPerDestination: 1},
		tune:     func(o *Options) { o.MaxSessionMessages = 3 }})
	const n = 7
	submitNumbered(t, a, 0, n)
	b.waitInbox("bob@b.test", n)
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
	checkEachOnce(t, b, n)
	// One delivery at a time, each session carrying three messages at most.
	if got := mx.count(); got != 3 {
		t.Fatalf("%d messages over %d connections, want 3 (3+3+1)", n, got)
	}
}

func TestSessionDroppedByThePeerIsNotReused(t *testing.T) {
	dns := dnstest.Start(t)
	var mx *countingListener
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}, listenMX: countMX(&mx)})
	a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice"}, dkim: true, clock: newFakeClock(t0),
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries}})
	submitNumbered(t, a, 0, 1)
	b.waitInbox("bob@b.test", 1)
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
	if got := a.queue.sessions.Len(); got != 1 {
		t.Fatalf("%d idle sessions after a delivery, want 1", got)
	}
	mx.dropAll()
	// The clock stands still: a failed attempt would wait for ever, so
	// delivery proves the message went over a new connection at once.
	submitNumbered(t, a, 1, 1)
	b.waitInbox("bob@b.test", 2)
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
	checkEachOnce(t, b, 2)
	if got := mx.count(); got != 2 {
		t.Fatalf("%d connections, want 2", got)
	}
	if !strings.Contains(a.logs.String(), "Cached session is gone; connecting anew") {
		t.Fatal("the dropped session was not tried first")
	}
}

func TestSessionWithWeakerTLSIsNotReused(t *testing.T) {
	dns := dnstest.Start(t)
	var mx *countingListener
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}, listenMX: countMX(&mx)})
	dns.Add(t, `_mta-sts.b.test. IN TXT "v=STSv1; id=20260301"`)
	client := stsServer(t, "version: STSv1\nmode: enforce\nmx: mx.b.test\nmax_age: 86400\n")
	// a.test does not trust b.test's certificate: only opportunistic TLS
	// can deliver.
	a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice"}, dkim: true, http: client,
		untrusted: true, clock: newFakeClock(t0),
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries, MaxPerDestination: 1}})
	// "TLS-Required: No" waives the MTA-STS policy (RFC 8689 §5).
	waived := strings.Replace(plainMessage, "Subject: hello\n", "Subject: hello\nTLS-Required: No\n", 1)
	if err := a.submit("alice", nil, []string{"bob@b.test"}, waived); err != nil {
		t.Fatal(err)
	}
	b.waitInbox("bob@b.test", 1)
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
	if got := a.queue.sessions.Len(); got != 1 {
		t.Fatalf("%d idle sessions after a delivery, want 1", got)
	}
	// The next message falls under the policy: the unverified session must
	// not carry it, and a new connection fails verification.
	if err := a.submit("alice", nil, []string{"bob@b.test"}, plainMessage); err != nil {
		t.Fatal(err)
	}
	q := a.waitQueue("a deferral", func(q []store.QueueEntry) bool {
		return len(q) == 0 || len(q) == 1 && q[0].Recipients[0].Attempts == 1 && !q[0].Recipients[0].InFlight
	})
	if len(q) == 0 {
		t.Fatal("delivered over the session without a verified certificate")
	}
	const want = "451 4.4.2 STARTTLS failed: TLS handshake: tls: failed to verify certificate"
	if e := q[0].Recipients[0].LastError; !strings.HasPrefix(e, want) {
		t.Fatalf("last error %q, want %q…", e, want)
	}
	if n := len(b.inbox("bob@b.test")); n != 1 {
		t.Fatalf("bob has %d messages: delivered against the policy", n)
	}
	if got := mx.count(); got != 2 {
		t.Fatalf("%d connections, want 2", got)
	}
	if got := a.queue.sessions.Len(); got != 1 {
		t.Fatalf("%d idle sessions, want the opportunistic one left alone", got)
	}
}

// countDials returns queue options that count connection attempts.
func countDials(n *atomic.Int64) func(*Options) {
	return func(o *Options) {
		o.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			n.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, address)
		}
	}
}

func TestDeadDestinationIsNotDialedForEveryMessage(t *testing.T) {
	dns := dnstest.Start(t)
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}})
	clock := newFakeClock(t0)
	var dials atomic.Int64
	outcomes := &outcomeCounter{}
	const maxPerDestination = 2
	a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice"}, dkim: true, clock: clock,
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries, MaxPerDestination: maxPerDestination},
		tune: func(o *Options) {
			countDials(&dials)(o)
			o.Observer = outcomes
		}})
	addr := b.mxAddr
	_ = b.mx.Close() // connections to b.test are refused
	const m = 20
	submitNumbered(t, a, 0, m)
	// The clock stands still: each message is attempted once.
	q := a.waitQueue("every message deferred", func(q []store.QueueEntry) bool {
		if len(q) != m {
			return false
		}
		for _, e := range q {
			if r := e.Recipients[0]; r.Attempts != 1 || r.InFlight {
				return false
			}
		}
		return true
	})
	// Only the attempts already under way when the first failed connected.
	if d := dials.Load(); d < 1 || d > maxPerDestination {
		t.Fatalf("%d connection attempts for %d messages, want 1 to %d", d, m, maxPerDestination)
	}
	if got := outcomes.get("deferred"); got != m {
		t.Fatalf("%d deferrals counted, want %d", got, m)
	}
	const marked = "451 4.4.1 destination unreachable (not retried: marked dead at 12:00:00 UTC after connecting to mx.b.test ("
	notDialed := 0
	for _, e := range q {
		r := e.Recipients[0]
		switch {
		case strings.HasPrefix(r.LastError, marked) && strings.HasSuffix(r.LastError, "connection refused)"):
			notDialed++
		case !strings.HasPrefix(r.LastError, "451 4.4.1 connecting to mx.b.test"):
			t.Fatalf("last error %q", r.LastError)
		}
		// Each keeps its own retry schedule.
		if !r.NextAttempt.Equal(t0.Add(300 * time.Millisecond)) {
			t.Fatalf("next attempt %v, want the schedule's first delay", r.NextAttempt)
		}
	}
	if int64(notDialed) != m-dials.Load() {
		t.Fatalf("%d deferred without a connection, %d connections, %d messages", notDialed, dials.Load(), m)
	}
	// b.test comes back on the same address; at their retry the mark has
	// run out and everything is delivered.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	b.serveMX(l)
	clock.Advance(time.Second)
	b.waitInbox("bob@b.test", m)
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
	checkEachOnce(t, b, m)
	if got := outcomes.get("delivered"); got != m {
		t.Fatalf("%d deliveries counted, want %d", got, m)
	}
}

func TestAdminRetryTriesADeadDestination(t *testing.T) {
	dns := dnstest.Start(t)
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}})
	clock := newFakeClock(t0)
	a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice"}, dkim: true, clock: clock,
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries}})
	addr := b.mxAddr
	_ = b.mx.Close()
	submitNumbered(t, a, 0, 1)
	a.waitQueue("a failed attempt", func(q []store.QueueEntry) bool {
		return len(q) == 1 && q[0].Recipients[0].Attempts == 1 && !q[0].Recipients[0].InFlight
	})
	if _, dead := a.queue.dead.check("b.test", clock.Now()); !dead {
		t.Fatal("b.test is not marked unreachable")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	b.serveMX(l)
	// Still before the mark runs out: the administrator's retry connects.
	srv := httptest.NewServer(NewAdminHandler(AdminOptions{Store: a.store, Queue: a.queue, Clock: clock}))
	t.Cleanup(srv.Close)
	c := &AdminClient{BaseURL: srv.URL}
	if n, err := c.Retry(t.Context(), ""); err != nil || n != 1 {
		t.Fatalf("Retry = %d, %v", n, err)
	}
	b.waitInbox("bob@b.test", 1)
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
}

func TestSmarthostSessionIsNotReusedWithOtherCredentials(t *testing.T) {
	dns := dnstest.Start(t)
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}})
	relay := startNode(t, dns, nodeOptions{domain: "relay.test", mailboxes: []string{"smart"}, senderAll: true,
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries}})
	_, port, _ := net.SplitHostPort(relay.subAddr)
	var relayPort int
	_, _ = fmt.Sscan(port, &relayPort)
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("smart@relay.test\n"+testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice"}, dkim: true, clock: newFakeClock(t0),
		outbound: config.Outbound{RetrySchedule: fastRetries, MaxPerDestination: 1},
		relay: config.Relay{Routes: []config.RelayRoute{{Domain: "*", Smarthost: &config.Smarthost{
			Host: "mx.relay.test", Port: relayPort, TLS: config.SmarthostStartTLSRequired,
			CredentialsFile: creds, CAFile: sharedPKI(t).caFile}}}}})
	submitNumbered(t, a, 0, 1)
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
	if got := a.queue.sessions.Len(); got != 1 {
		t.Fatalf("%d idle sessions after a delivery, want 1", got)
	}
	// The credentials change: the session authenticated with the old ones
	// must not carry the next message.
	if err := os.WriteFile(creds, []byte("smart@relay.test\nwrong password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	submitNumbered(t, a, 1, 1)
	q := a.waitQueue("a deferral", func(q []store.QueueEntry) bool {
		return len(q) == 0 || len(q) == 1 && q[0].Recipients[0].Attempts == 1 && !q[0].Recipients[0].InFlight
	})
	if len(q) == 0 {
		t.Fatal("relayed over the session authenticated with the old credentials")
	}
	if e := q[0].Recipients[0].LastError; !strings.HasPrefix(e, "535 5.7.8") {
		t.Fatalf("last error %q, want the smarthost's 535", e)
	}
	b.waitInbox("bob@b.test", 1)
	checkEachOnce(t, b, 1)
}
