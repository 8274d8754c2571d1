package server

import (
	"net/netip"
	"sync"
)

// connLimiter counts the client connections open on every protocol listener
// together and refuses those beyond limits.maxConnections in total or
// limits.maxConnectionsPerIP from one client. The limits are read for every
// connection, so a configuration reload changes them at once (connections
// already open are not closed when a limit is lowered).
//
// The client is the real one: behind a trusted PROXY-protocol peer the
// limiter sees the address from the header. IPv6 clients are counted per
// /64, as auth.Throttle does, since one host usually controls a whole /64.
type connLimiter struct {
	limits func() (total, perIP int)

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
}

func newConnLimiter(limits func() (total, perIP int)) *connLimiter {
	return &connLimiter{limits: limits, perIP: make(map[netip.Addr]int)}
}

// acquire takes a slot for a connection from ip. It returns a release
// function to call exactly once when the connection closes, or a refusal
// reason (refusedTotal, refusedPerIP) and nil.
func (l *connLimiter) acquire(ip netip.Addr) (release func(), refused string) {
	maxTotal, maxPerIP := l.limits()
	key := clientKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case maxTotal > 0 && l.total >= maxTotal:
		return nil, refusedTotal
	case maxPerIP > 0 && l.perIP[key] >= maxPerIP:
		return nil, refusedPerIP
	}
	l.total++
	l.perIP[key]++
	var once sync.Once
	return func() { once.Do(func() { l.release(key) }) }, ""
}

func (l *connLimiter) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.perIP[key] - 1; n > 0 {
		l.perIP[key] = n
	} else {
		delete(l.perIP, key)
	}
}

// open returns the number of connections held, in total and from ip.
func (l *connLimiter) open(ip netip.Addr) (total, fromIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.perIP[clientKey(ip)]
}

// clientKey is what one client is counted under: the IPv4 address, or the
// /64 of an IPv6 address. An unknown address counts as one client.
func clientKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, err := ip.Prefix(64)
		if err == nil {
			return p.Addr()
		}
	}
	return ip
}
