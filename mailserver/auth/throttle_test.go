package auth

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func newTestThrottle(clock *fakeClock) *Throttle {
	return NewThrottle(ThrottleOptions{
		FreeFailures:      2,
		FreeFailuresPerIP: 4,
		BaseDelay:         time.Second,
		MaxDelay:          5 * time.Second,
		Forget:            10 * time.Minute,
		MaxEntries:        100,
		Now:               clock.Now,
	})
}

func TestThrottleDelayGrowsPerAccount(t *testing.T) {
	clock := newFakeClock()
	th := newTestThrottle(clock)
	ip := netip.MustParseAddr("192.0.2.1")
	// Free failures, then 1s doubling, capped at 5s.
	want := []time.Duration{0, 0, 1 * time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := th.Delay(ip, "bob@example.test"); got != w {
			t.Fatalf("after %d failures: Delay = %v, want %v", i, got, w)
		}
		th.Failure(ip, "bob@example.test")
	}
}

func TestThrottleAccountCountsAcrossAddressesAndCase(t *testing.T) {
	clock := newFakeClock()
	th := newTestThrottle(clock)
	th.Failure(netip.MustParseAddr("192.0.2.1"), "Bob@Example.test")
	th.Failure(netip.MustParseAddr("198.51.100.7"), "bob@example.test")
	if got := th.Delay(netip.MustParseAddr("203.0.113.9"), "BOB@example.test"); got != time.Second {
		t.Fatalf("Delay from a third address = %v, want 1s", got)
	}
	if got := th.Delay(netip.MustParseAddr("203.0.113.9"), "alice@example.test"); got != 0 {
		t.Fatalf("Delay for another account = %v, want 0", got)
	}
}

func TestThrottleAddressCountsAcrossAccounts(t *testing.T) {
	clock := newFakeClock()
	th := newTestThrottle(clock)
	ip := netip.MustParseAddr("192.0.2.1")
	for i := range 5 {
		th.Failure(ip, fmt.Sprintf("user%d@example.test", i))
	}
	// Five failures against a free allowance of four: 1s << 1.
	if got := th.Delay(ip, "fresh@example.test"); got != 2*time.Second {
		t.Fatalf("Delay = %v, want 2s", got)
	}
	if got := th.Delay(netip.MustParseAddr("192.0.2.2"), "fresh@example.test"); got != 0 {
		t.Fatalf("Delay from another address = %v, want 0", got)
	}
}

func TestThrottleCountsIPv6PerSlash64(t *testing.T) {
	clock := newFakeClock()
	th := newTestThrottle(clock)
	for i := range 5 {
		th.Failure(netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1)), fmt.Sprintf("u%d", i))
	}
	if got := th.Delay(netip.MustParseAddr("2001:db8:1:2:ffff::1"), "x"); got != 2*time.Second {
		t.Fatalf("Delay in the same /64 = %v, want 2s", got)
	}
	if got := th.Delay(netip.MustParseAddr("2001:db8:1:3::1"), "x"); got != 0 {
		t.Fatalf("Delay in another /64 = %v, want 0", got)
	}
	// An IPv4-mapped address counts as the IPv4 address.
	th.Failure(netip.MustParseAddr("::ffff:192.0.2.9"), "a")
	if th.failuresOf(t, "ip 192.0.2.9") != 1 {
		t.Fatal("IPv4-mapped address not counted as IPv4")
	}
}

func TestThrottleSuccessResetsAccountOnly(t *testing.T) {
	clock := newFakeClock()
	th := newTestThrottle(clock)
	ip := netip.MustParseAddr("192.0.2.1")
	for range 5 {
		th.Failure(ip, "bob")
	}
	th.Success("BOB")
	if got := th.failuresOf(t, accountKey("bob")); got != 0 {
		t.Fatalf("account failures after success = %d, want 0", got)
	}
	if got := th.Delay(ip, "bob"); got != 2*time.Second {
		t.Fatalf("Delay = %v, want the address's 2s to remain", got)
	}
}

func TestThrottleForgetsOldFailures(t *testing.T) {
	clock := newFakeClock()
	th := newTestThrottle(clock)
	ip := netip.MustParseAddr("192.0.2.1")
	for range 3 {
		th.Failure(ip, "bob")
	}
	clock.Advance(9 * time.Minute)
	if got := th.Delay(ip, "bob"); got != 2*time.Second {
		t.Fatalf("Delay before Forget = %v, want 2s", got)
	}
	clock.Advance(time.Minute)
	if got := th.Delay(ip, "bob"); got != 0 {
		t.Fatalf("Delay after Forget = %v, want 0", got)
	}
	if th.Len() != 0 {
		t.Fatalf("Len = %d, want forgotten entries dropped", th.Len())
	}
	// A failure after forgetting starts again from one.
	th.Failure(ip, "bob")
	if got := th.failuresOf(t, accountKey("bob")); got != 1 {
		t.Fatalf("failures = %d, want 1", got)
	}
}

func TestThrottleMemoryIsBounded(t *testing.T) {
	clock := newFakeClock()
	th := newTestThrottle(clock)
	for i := range 1000 {
		th.Failure(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), fmt.Sprintf("user%d", i))
	}
	if th.Len() > 100 {
		t.Fatalf("Len = %d, want at most MaxEntries (100)", th.Len())
	}
	// The newest entries survive.
	if th.failuresOf(t, accountKey("user999")) != 1 {
		t.Fatal("newest entry evicted")
	}
}

func TestThrottleIgnoresInvalidAddress(t *testing.T) {
	th := newTestThrottle(newFakeClock())
	for range 3 {
		th.Failure(netip.Addr{}, "bob")
	}
	if got := th.Delay(netip.Addr{}, "bob"); got != 2*time.Second {
		t.Fatalf("Delay = %v, want the account's 2s", got)
	}
	if th.Len() != 1 {
		t.Fatalf("Len = %d, want only the account counted", th.Len())
	}
}

// failuresOf reads a counter without the side effects of Delay.
func (t *Throttle) failuresOf(tb testing.TB, key string) int {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.entries[key]; ok {
		return el.Value.(*throttleEntry).failures
	}
	return 0
}
