package server

import (
	"net/netip"
	"testing"
)

func TestConnLimiter(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	v6a := netip.MustParseAddr("2001:db8:1:2::1")
	v6b := netip.MustParseAddr("2001:db8:1:2:ffff::9") // same /64 as v6a
	v6c := netip.MustParseAddr("2001:db8:1:3::1")      // another /64
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")  // a, IPv4-mapped

	tests := map[string]struct {
		total, perIP int
		open         []netip.Addr
		next         netip.Addr
		want         string
	}{
		"a client under both limits is admitted":         {10, 3, []netip.Addr{a, a}, a, ""},
		"a client at its limit is refused":               {10, 2, []netip.Addr{a, a}, a, refusedPerIP},
		"another client is not held back by a full one":  {10, 2, []netip.Addr{a, a}, b, ""},
		"the total limit refuses everyone":               {3, 10, []netip.Addr{a, b, b}, netip.MustParseAddr("192.0.2.3"), refusedTotal},
		"IPv6 clients of one /64 count together":         {10, 1, []netip.Addr{v6a}, v6b, refusedPerIP},
		"IPv6 clients of another /64 count apart":        {10, 1, []netip.Addr{v6a}, v6c, ""},
		"an IPv4-mapped address counts as its IPv4 form": {10, 1, []netip.Addr{a}, mapped, refusedPerIP},
		"zero limits mean unlimited":                     {0, 0, []netip.Addr{a, a, a}, a, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l := newConnLimiter(func() (int, int) { return tc.total, tc.perIP })
			for _, ip := range tc.open {
				if _, refused := l.acquire(ip); refused != "" {
					t.Fatalf("setting up: %s refused: %s", ip, refused)
				}
			}
			release, refused := l.acquire(tc.next)
			if refused != tc.want {
				t.Fatalf("acquire(%s) refused %q, want %q", tc.next, refused, tc.want)
			}
			if (release == nil) != (refused != "") {
				t.Errorf("release is %v with refusal %q", release != nil, refused)
			}
		})
	}
}

func TestConnLimiterReleaseFreesTheSlotOnce(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	limit := 1
	l := newConnLimiter(func() (int, int) { return 10, limit })
	release, refused := l.acquire(ip)
	if refused != "" {
		t.Fatal(refused)
	}
	if _, refused := l.acquire(ip); refused != refusedPerIP {
		t.Fatalf("second connection refused %q, want %q", refused, refusedPerIP)
	}
	release()
	release() // a second call must not free a slot it does not hold
	if total, fromIP := l.open(ip); total != 0 || fromIP != 0 {
		t.Fatalf("after release: %d open, %d from the client; want 0, 0", total, fromIP)
	}
	r1, refused := l.acquire(ip)
	if refused != "" {
		t.Fatalf("after release the client is refused: %s", refused)
	}
	// A lowered limit applies to the next connection, not to open ones.
	limit = 0
	if _, refused := l.acquire(ip); refused != "" {
		t.Fatalf("with the limit removed the client is refused: %s", refused)
	}
	r1()
}
