// Package dnstest is an in-process authoritative DNS server for tests: it
// listens on 127.0.0.1 (UDP and TCP, the same port) and answers from
// records the test adds in zone-file syntax.
package dnstest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server is a fake DNS server. Its methods are safe for concurrent use.
type Server struct {
	addr string
	udp  *dns.Server
	tcp  *dns.Server

	mu      sync.Mutex
	records map[string][]dns.RR // by lower-case FQDN
	fail    map[string]int      // FQDN → rcode to answer instead
	queries int
}

// Start starts a server on 127.0.0.1 with the given records (see Add) and
// stops it when the test ends.
func Start(t testing.TB, records ...string) *Server {
	t.Helper()
	pc, l, err := listenPair()
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	s := &Server{addr: pc.LocalAddr().String(), records: map[string][]dns.RR{}, fail: map[string]int{}}
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: l, Handler: s}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go func() { _ = s.udp.ActivateAndServe() }()
	go func() { _ = s.tcp.ActivateAndServe() }()
	<-started
	<-started
	t.Cleanup(func() {
		_ = s.udp.Shutdown()
		_ = s.tcp.Shutdown()
	})
	s.Add(t, records...)
	return s
}

// listenPair listens on UDP and TCP on the same free loopback port. The
// port the kernel picks for UDP may be taken for TCP, so it tries again
// with another port a few times.
func listenPair() (net.PacketConn, net.Listener, error) {
	var lc net.ListenConfig
	var lastErr error
	for range 20 {
		pc, err := lc.ListenPacket(context.Background(), "udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listening on UDP: %w", err)
		}
		l, err := lc.Listen(context.Background(), "tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		_ = pc.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("listening on TCP beside UDP: %w", lastErr)
}

// Addr is the server's address, host:port.
func (s *Server) Addr() string { return s.addr }

// Add adds records written as in a zone file, with absolute names, for
// example "b.test. 300 IN MX 10 mx.b.test.".
func (s *Server) Add(t testing.TB, records ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil || rr == nil {
			t.Fatalf("dnstest: record %q: %v", r, err)
		}
		name := strings.ToLower(rr.Header().Name)
		s.records[name] = append(s.records[name], rr)
	}
}

// Remove deletes every record of name of type (a type name such as "MX").
func (s *Server) Remove(name, rrtype string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(dns.Fqdn(name))
	t := dns.StringToType[rrtype]
	kept := s.records[name][:0]
	for _, rr := range s.records[name] {
		if rr.Header().Rrtype != t {
			kept = append(kept, rr)
		}
	}
	s.records[name] = kept
}

// Fail makes every question about name answer SERVFAIL, or answer
// normally again when fail is false.
func (s *Server) Fail(name string, fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(dns.Fqdn(name))
	if fail {
		s.fail[name] = dns.RcodeServerFailure
	} else {
		delete(s.fail, name)
	}
}

// Queries returns how many questions have been answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// ServeDNS implements dns.Handler: records of the name and type asked,
// following CNAMEs; NXDOMAIN when the name has no records at all.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	s.mu.Lock()
	s.queries++
	name := strings.ToLower(q.Name)
	for range 8 {
		if rcode, ok := s.fail[name]; ok {
			m.Rcode = rcode
			break
		}
		rrs, exists := s.records[name]
		if !exists || len(rrs) == 0 {
			if len(m.Answer) == 0 {
				m.Rcode = dns.RcodeNameError
			}
			break
		}
		var cname string
		for _, rr := range rrs {
			switch {
			case rr.Header().Rrtype == q.Qtype:
				m.Answer = append(m.Answer, dns.Copy(rr))
			case rr.Header().Rrtype == dns.TypeCNAME && q.Qtype != dns.TypeCNAME:
				m.Answer = append(m.Answer, dns.Copy(rr))
				cname = strings.ToLower(rr.(*dns.CNAME).Target)
			}
		}
		if cname == "" {
			break
		}
		name = cname
	}
	s.mu.Unlock()
	if w.LocalAddr().Network() == "udp" {
		m.Truncate(dnsSize(req))
	}
	_ = w.WriteMsg(m)
}

// dnsSize is the UDP payload size the client accepts.
func dnsSize(req *dns.Msg) int {
	if o := req.IsEdns0(); o != nil {
		return int(o.UDPSize())
	}
	return dns.MinMsgSize
}
