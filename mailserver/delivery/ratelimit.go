package delivery

import (
	"strings"
	"sync"
	"time"
)

// rateWindow is the period of relay.rateLimits (recipients per hour).
const rateWindow = time.Hour

// RateLimiter counts each sender's remote recipients over a sliding hour.
// It is safe for concurrent use; its memory is bounded by the limits
// (each sender keeps at most its limit's worth of timestamps) and senders
// idle for an hour are forgotten.
type RateLimiter struct {
	clock Clock

	mu      sync.Mutex
	senders map[string][]time.Time // oldest first
	swept   time.Time
}

// NewRateLimiter returns a RateLimiter; a nil clock means the system's.
func NewRateLimiter(clock Clock) *RateLimiter {
	if clock == nil {
		clock = systemClock{}
	}
	return &RateLimiter{clock: clock, senders: map[string][]time.Time{}}
}

// Allow counts one recipient for sender and reports whether it stays
// within limit recipients per hour (limit 0 means no limit; nothing is
// counted then).
func (l *RateLimiter) Allow(sender string, limit int) bool {
	if limit <= 0 {
		return true
	}
	key := strings.ToLower(sender)
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	times := l.senders[key]
	cutoff := now.Add(-rateWindow)
	i := 0
	for i < len(times) && !times[i].After(cutoff) {
		i++
	}
	times = times[i:]
	if len(times) >= limit {
		l.senders[key] = times
		return false
	}
	l.senders[key] = append(times, now)
	return true
}

// sweep forgets idle senders, at most once per window.
func (l *RateLimiter) sweep(now time.Time) {
	if now.Sub(l.swept) < rateWindow {
		return
	}
	l.swept = now
	cutoff := now.Add(-rateWindow)
	for k, times := range l.senders {
		if len(times) == 0 || !times[len(times)-1].After(cutoff) {
			delete(l.senders, k)
		}
	}
}
