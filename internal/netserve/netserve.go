// Package netserve holds the network plumbing the protocol servers share:
// the client IP of a connection's address, and the set of listeners a
// server is serving so that a shutdown closes every one of them.
package netserve

import (
	"net"
	"net/netip"
	"sync"
)

// IPOf extracts the IP of an address, IPv4-mapped addresses unmapped; the
// zero Addr when there is none.
func IPOf(addr net.Addr) netip.Addr {
	switch a := addr.(type) {
	case nil:
		return netip.Addr{}
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		return ap.Addr().Unmap()
	}
}

// Listeners is the set of listeners a server is serving. Close closes
// them all and refuses any tracked later, so a Serve that races a
// shutdown does not keep a listener open. The zero value is ready to use
// and it is safe for concurrent use.
type Listeners struct {
	mu     sync.Mutex
	closed bool
	set    map[net.Listener]struct{}
}

// Track adds l; once Close was called it closes l instead and returns
// false.
func (s *Listeners) Track(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = l.Close()
		return false
	}
	if s.set == nil {
		s.set = make(map[net.Listener]struct{})
	}
	s.set[l] = struct{}{}
	return true
}

// Untrack removes l (when its Serve returns).
func (s *Listeners) Untrack(l net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.set, l)
}

// Close closes every tracked listener and refuses new ones.
func (s *Listeners) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for l := range s.set {
		_ = l.Close()
		delete(s.set, l)
	}
}
