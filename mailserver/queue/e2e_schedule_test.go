package queue

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
	"github.com/kubemail/kubemail/mailserver/store"
)

func TestRetryWaitsForTheScheduleOnTheInjectedClock(t *testing.T) {
	clock := newFakeClock(t0)
	dns := dnstest.Start(t)
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}})
	a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice"}, clock: clock,
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: []config.Duration{config.Dur(10 * time.Minute)}}})
	b.hook.setFail(true)
	if err := a.submit("alice", nil, []string{"bob@b.test"}, plainMessage); err != nil {
		t.Fatal(err)
	}
	q := a.waitQueue("the first attempt failed", func(q []store.QueueEntry) bool {
		return len(q) == 1 && q[0].Recipients[0].Attempts == 1 && !q[0].Recipients[0].InFlight
	})
	r := q[0].Recipients[0]
	if !r.LastAttempt.Equal(t0) || !r.NextAttempt.Equal(t0.Add(10*time.Minute)) || !r.Queued.Equal(t0) {
		t.Fatalf("recipient %+v: want the attempt at t0 and the next 10 minutes later", r)
	}
	b.hook.setFail(false)
	clock.Advance(9 * time.Minute)
	time.Sleep(500 * time.Millisecond) // the scheduler runs; nothing is due yet
	if q := a.queued(); len(q) != 1 || q[0].Recipients[0].Attempts != 1 {
		t.Fatalf("attempted before the schedule: %+v", q)
	}
	clock.Advance(time.Minute)
	b.waitInbox("bob@b.test", 1)
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
}

func TestConcurrencyIsLimitedPerDestination(t *testing.T) {
	dns := dnstest.Start(t)
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}})
	c := startNode(t, dns, nodeOptions{domain: "c.test", mailboxes: []string{"carl"}})
	_, cPort, _ := net.SplitHostPort(c.mxAddr)
	port, _ := strconv.Atoi(cPort)
	a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice"},
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries, MaxPerDestination: 1, Workers: 4},
		// c.test is another destination, reached through a route.
		relay: config.Relay{Routes: []config.RelayRoute{{Domain: "c.test", Smarthost: &config.Smarthost{
			Host: "127.0.0.1", Port: port, TLS: config.SmarthostStartTLSOpportunistic}}}}})
	gate := b.hook.hold()
	for range 3 {
		if err := a.submit("alice", nil, []string{"bob@b.test"}, plainMessage); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(hangGuard)
	for active, _ := b.hook.counts(); active == 0; active, _ = b.hook.counts() {
		if time.Now().After(deadline) {
			t.Fatal("no delivery to b.test started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// b.test is busy with one; c.test's mail is not held up by it.
	if err := a.submit("alice", nil, []string{"carl@c.test"}, plainMessage); err != nil {
		t.Fatal(err)
	}
	c.waitInbox("carl@c.test", 1)
	// Count b.test's recipients only: carl's may still show as in flight
	// for a moment after his inbox has the message, until it is settled.
	inFlight := 0
	for _, e := range a.queued() {
		for _, r := range e.Recipients {
			if r.InFlight && strings.HasSuffix(r.Address, "@b.test") {
				inFlight++
			}
		}
	}
	if inFlight != 1 {
		t.Fatalf("%d deliveries to b.test in flight, want 1", inFlight)
	}
	close(gate)
	b.waitInbox("bob@b.test", 3)
	if _, maxActive := b.hook.counts(); maxActive != 1 {
		t.Fatalf("b.test received %d messages at once, want 1", maxActive)
	}
}
