package queue

import (
	"sync"
	"time"

	"github.com/kubemail/kubemail/mailserver/smtpclient"
	"github.com/kubemail/kubemail/mailserver/store"
)

// maxDeadTime is the longest a destination stays marked unreachable; the
// mark ends sooner when the failed message's own retry is due sooner.
const maxDeadTime = time.Minute

// reach is what an attempt learnt about its destination's reachability.
type reach int

const (
	reachUnknown reach = iota // no connection was tried (DNS, policy or a dead mark)
	reachNone                 // every connection failed before a server answered
	reachSome                 // a server answered
)

// deadMark records a destination found unreachable.
type deadMark struct {
	at    time.Time // when the attempt that found it failed
	until time.Time // attempts before this are deferred without connecting
	cause string    // that attempt's error
}

// reply is the failure recorded for a recipient deferred by the mark.
func (m deadMark) reply() smtpclient.Reply {
	return localReply(451, "4.4.1", "destination unreachable (not retried: marked dead at %s after %s)",
		m.at.UTC().Format("15:04:05 UTC"), m.cause)
}

// deadDestinations remembers destinations that no server of answered, so
// the other mail due for them is deferred without a connection attempt
// each (as Postfix's queue manager marks a destination dead). It is safe
// for concurrent use.
type deadDestinations struct {
	mu    sync.Mutex
	marks map[string]deadMark // route key → mark
}

func newDeadDestinations() *deadDestinations {
	return &deadDestinations{marks: map[string]deadMark{}}
}

// check returns the mark of dest when it is still in force at now.
func (d *deadDestinations) check(dest string, now time.Time) (deadMark, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.marks[dest]
	if ok && !now.Before(m.until) {
		delete(d.marks, dest)
		return deadMark{}, false
	}
	return m, ok
}

// mark records dest as unreachable and reports whether it was not
// already; a later mark replaces an earlier one.
func (d *deadDestinations) mark(dest string, m deadMark) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	old, had := d.marks[dest]
	d.marks[dest] = m
	return !had || !m.at.Before(old.until)
}

// clear forgets dest's mark: a server of it answered.
func (d *deadDestinations) clear(dest string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.marks, dest)
}

// clearAll forgets every mark (an administrator asked for a retry).
func (d *deadDestinations) clearAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.marks)
}

// sweep forgets the marks that have run out by now.
func (d *deadDestinations) sweep(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, m := range d.marks {
		if !now.Before(m.until) {
			delete(d.marks, k)
		}
	}
}

// deadUntil is the end of a mark set at now by an attempt settled as st:
// the earliest retry of its recipients (or, when all expired, the first
// delay of the schedule), at most maxDeadTime away.
func deadUntil(st store.Settlement, sched Schedule, now time.Time) time.Time {
	var next time.Time
	for _, o := range st.Outcomes {
		if !o.NextAttempt.IsZero() && (next.IsZero() || o.NextAttempt.Before(next)) {
			next = o.NextAttempt
		}
	}
	if next.IsZero() && len(sched.Delays) > 0 {
		next = now.Add(sched.Delays[0])
	}
	if limit := now.Add(maxDeadTime); next.IsZero() || next.After(limit) {
		next = limit
	}
	return next
}
