package delivery

import (
	"sync"
	"testing"
	"time"
)

// t0 is the tests' clock origin.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestRateLimiter(t *testing.T) {
	clock := newFakeClock(t0)
	l := NewRateLimiter(clock)
	for i := range 3 {
		if !l.Allow("Alice@a.test", 3) {
			t.Fatalf("recipient %d refused", i+1)
		}
	}
	if l.Allow("alice@a.test", 3) {
		t.Fatal("fourth recipient within the hour allowed")
	}
	if !l.Allow("bob@a.test", 3) || !l.Allow("alice@a.test", 0) {
		t.Fatal("another sender or no limit refused")
	}
	clock.Advance(time.Hour + time.Second)
	if !l.Allow("alice@a.test", 3) {
		t.Fatal("refused an hour later")
	}
}
