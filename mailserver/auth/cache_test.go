package auth

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for caches and throttles.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const testSHA512 = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"

func newTestCache(t *testing.T, size int, ttl time.Duration, clock *fakeClock) *VerifyCache {
	t.Helper()
	c, err := NewVerifyCache(CacheOptions{Size: size, TTL: ttl, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVerifyCacheRemembersResults(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, 10, time.Minute, clock)
	for _, step := range []struct {
		password string
		want     bool
		entries  int
	}{
		{"Hello world!", true, 1},
		{"Hello world!", true, 1}, // a hit adds nothing
		{"wrong", false, 2},       // a failure is cached too
		{"wrong", false, 2},
	} {
		ok, err := c.Verify(testSHA512, step.password)
		if err != nil || ok != step.want {
			t.Fatalf("Verify(%q) = %v, %v; want %v", step.password, ok, err, step.want)
		}
		if c.Len() != step.entries {
			t.Fatalf("after Verify(%q): %d entries, want %d", step.password, c.Len(), step.entries)
		}
	}
}

func TestVerifyCacheServesHitsWithoutHashing(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, 10, time.Minute, clock)
	// Plant a result that real hashing would contradict: a hit must return it.
	k := c.keyOf(testSHA512, "not the password")
	c.put(k, true)
	if ok, err := c.Verify(testSHA512, "not the password"); !ok || err != nil {
		t.Fatalf("Verify = %v, %v; want the cached true", ok, err)
	}
	// After the TTL the entry is gone and the real answer comes back.
	clock.Advance(time.Minute)
	if ok, err := c.Verify(testSHA512, "not the password"); ok || err != nil {
		t.Fatalf("Verify after TTL = %v, %v; want false", ok, err)
	}
}

func TestVerifyCacheIsBounded(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, 3, time.Hour, clock)
	for i := range 5 {
		c.put(c.keyOf("h", string(rune('a'+i))), true)
	}
	if c.Len() != 3 {
		t.Fatalf("Len = %d, want 3", c.Len())
	}
	// The two oldest were evicted, the three newest remain.
	for i, want := range []bool{false, false, true, true, true} {
		if _, hit := c.get(c.keyOf("h", string(rune('a'+i)))); hit != want {
			t.Errorf("entry %d: hit = %v, want %v", i, hit, want)
		}
	}
}

func TestVerifyCacheKeySeparatesHashAndPassword(t *testing.T) {
	c := newTestCache(t, 10, time.Hour, newFakeClock())
	// Without the length prefix these two pairs would hash the same bytes.
	if c.keyOf("ab", "c") == c.keyOf("a", "bc") {
		t.Fatal("keys of (ab, c) and (a, bc) collide")
	}
	other := newTestCache(t, 10, time.Hour, newFakeClock())
	if c.keyOf("a", "b") == other.keyOf("a", "b") {
		t.Fatal("two caches share a key; it is not random")
	}
}

func TestVerifyCacheDoesNotCacheErrors(t *testing.T) {
	c := newTestCache(t, 10, time.Hour, newFakeClock())
	if _, err := c.Verify("garbage", "pw"); !errors.Is(err, ErrMalformedHash) {
		t.Fatalf("err = %v, want ErrMalformedHash", err)
	}
	if c.Len() != 0 {
		t.Fatalf("Len = %d, want 0", c.Len())
	}
}
