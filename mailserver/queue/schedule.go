package queue

import (
	"math/rand/v2"
	"time"
)

// Clock is the queue's time source; tests inject a fake one.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// systemClock is the real clock.
type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SystemClock returns the real clock.
func SystemClock() Clock { return systemClock{} }

// Schedule decides when a recipient is tried again.
type Schedule struct {
	// Delays is the wait after each failed attempt: after the n-th
	// failure Delays[n-1], the last entry repeating.
	Delays []time.Duration
	// Expiry is how long after queueing a recipient keeps being retried.
	Expiry time.Duration
	// DelayNotice is how long after queueing a delay notification is due
	// (when the recipient asked for one).
	DelayNotice time.Duration
	// Jitter returns the jitter added to a delay d; nil means a random
	// value in [0, d/10), which keeps messages queued together from
	// retrying in lock-step.
	Jitter func(d time.Duration) time.Duration
}

// delay returns the wait after the given number of attempts (>= 1).
func (s Schedule) delay(attempts int) time.Duration {
	if len(s.Delays) == 0 {
		return time.Hour
	}
	i := min(max(attempts, 1), len(s.Delays)) - 1
	d := s.Delays[i]
	if s.Jitter != nil {
		return d + s.Jitter(d)
	}
	if d >= 10 {
		d += rand.N(d / 10) //nolint:gosec // G404: jitter, not security
	}
	return d
}

// Next returns when to try again after a temporary failure at now of a
// recipient queued at queued with attempts attempts made, or expired when
// it has been retried long enough. The last attempt is made at the expiry
// time itself rather than skipped.
func (s Schedule) Next(attempts int, queued, now time.Time) (next time.Time, expired bool) {
	deadline := queued.Add(s.Expiry)
	if !now.Before(deadline) {
		return time.Time{}, true
	}
	next = now.Add(s.delay(attempts))
	if next.After(deadline) {
		next = deadline
	}
	return next, false
}

// DelayNoticeDue reports whether a recipient queued at queued and still
// waiting at now should get its delay notification: the notice time has
// passed and it comes before the expiry (else the failure report follows).
func (s Schedule) DelayNoticeDue(queued, now time.Time) bool {
	return s.DelayNotice > 0 && s.DelayNotice < s.Expiry && !now.Before(queued.Add(s.DelayNotice))
}
