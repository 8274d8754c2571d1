// Package resolver answers the DNS questions of outbound delivery (MX,
// A/AAAA, MTA-STS TXT) and of the inbound checks (SPF, DKIM, DMARC TXT)
// with github.com/miekg/dns against one configured DNS server, so a test
// can point the whole mail server at a fake DNS server on 127.0.0.1
// (package resolver/dnstest).
//
// Errors are *net.DNSError, as the standard library returns them: a name
// or record type that does not exist has IsNotFound set, a failure that
// may pass (timeout, SERVFAIL, REFUSED) has IsTemporary set. go-msgauth's
// dkim and dmarc packages rely on exactly these fields.
//
// The server is expected to be a recursive resolver (as in any cluster or
// host): answers are taken as given, following no referrals, with CNAME
// chains resolved by the server.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Resolver is what the mail server asks the DNS.
type Resolver interface {
	// LookupMX returns a domain's MX records, sorted by preference. A
	// domain that exists without MX records gives none and no error (RFC
	// 5321 §5.1 then falls back to the domain's address records).
	LookupMX(ctx context.Context, domain string) ([]*net.MX, error)
	// LookupIP returns a host's IPv4 and IPv6 addresses.
	LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
	// LookupTXT returns the TXT records of a name, each record's strings
	// concatenated (RFC 7208 §3.3).
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// DefaultTimeout bounds one query.
const DefaultTimeout = 5 * time.Second

// resolvConf is where the system's resolver is configured.
const resolvConf = "/etc/resolv.conf"

// LoopbackOnlyEnv names an environment variable that, when set to 1, makes
// New refuse every DNS server that is not a loopback address. `make test`
// sets it, so a test that forgets to point the server at its fake DNS fails
// at once instead of sending queries to the machine's resolver.
const LoopbackOnlyEnv = "KUBEMAIL_LOOPBACK_DNS_ONLY"

// Options configure New.
type Options struct {
	// Server is the DNS server, host:port; empty means the first
	// nameserver of /etc/resolv.conf.
	Server string
	// Timeout bounds each query; zero means DefaultTimeout.
	Timeout time.Duration
}

// DNS is a Resolver over github.com/miekg/dns. It is safe for concurrent use.
type DNS struct {
	server string
	udp    *dns.Client
	tcp    *dns.Client
}

var _ Resolver = (*DNS)(nil)

// New returns a resolver asking opts.Server.
func New(opts Options) (*DNS, error) {
	server := opts.Server
	if server == "" {
		conf, err := dns.ClientConfigFromFile(resolvConf)
		if err != nil {
			return nil, fmt.Errorf("reading the system resolver configuration: %w", err)
		}
		if len(conf.Servers) == 0 {
			return nil, fmt.Errorf("reading the system resolver configuration: no nameserver in %s", resolvConf)
		}
		server = net.JoinHostPort(conf.Servers[0], conf.Port)
	}
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		return nil, fmt.Errorf("DNS server %q: %w", server, err)
	}
	if os.Getenv(LoopbackOnlyEnv) == "1" {
		if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("refusing DNS server %q: %s=1 allows only loopback DNS servers (set outbound.resolver to the test's fake DNS)", server, LoopbackOnlyEnv)
		}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &DNS{
		server: server,
		udp:    &dns.Client{Net: "udp", Timeout: timeout, UDPSize: dns.DefaultMsgSize},
		tcp:    &dns.Client{Net: "tcp", Timeout: timeout},
	}, nil
}

// Server returns the address of the DNS server asked.
func (r *DNS) Server() string { return r.server }

// query asks one question; a truncated UDP answer is asked again over TCP.
// It returns the answer records of type qtype, or a *net.DNSError.
func (r *DNS) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	fqdn := dns.Fqdn(name)
	if _, ok := dns.IsDomainName(fqdn); !ok {
		return nil, &net.DNSError{Err: "invalid domain name", Name: name, IsNotFound: true}
	}
	m := new(dns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.RecursionDesired = true
	m.SetEdns0(dns.DefaultMsgSize, false)
	in, _, err := r.udp.ExchangeContext(ctx, m, r.server)
	if err == nil && in.Truncated {
		in, _, err = r.tcp.ExchangeContext(ctx, m, r.server)
	}
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: name, Server: r.server, IsTimeout: isTimeout(err), IsTemporary: true}
	}
	switch in.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, &net.DNSError{Err: "no such host", Name: name, Server: r.server, IsNotFound: true}
	default:
		return nil, &net.DNSError{Err: "server answered " + dns.RcodeToString[in.Rcode], Name: name, Server: r.server,
			IsTemporary: true}
	}
	var out []dns.RR
	for _, rr := range in.Answer {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// noRecords is the error for a name without records of the type asked.
func (r *DNS) noRecords(name string) error {
	return &net.DNSError{Err: "no such record", Name: name, Server: r.server, IsNotFound: true}
}

// LookupMX implements Resolver.
func (r *DNS) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	rrs, err := r.query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	slices.SortStableFunc(out, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	return out, nil
}

// LookupIP implements Resolver: A and AAAA, IPv4 first. It fails with
// IsNotFound only when neither exists.
func (r *DNS) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	var out []netip.Addr
	var errs []error
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := r.query(ctx, host, qtype)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rr := range rrs {
			var ip net.IP
			switch v := rr.(type) {
			case *dns.A:
				ip = v.A
			case *dns.AAAA:
				ip = v.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, a.Unmap())
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, err := range errs {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsTemporary {
			return nil, err
		}
	}
	return nil, r.noRecords(host)
}

// LookupTXT implements Resolver.
func (r *DNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	if len(rrs) == 0 {
		return nil, r.noRecords(name)
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, nil
}

// IsNotFound reports whether err says that the name or record does not exist.
func IsNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// IsTemporary reports whether err is a failure that may pass: anything
// but a definite "does not exist".
func IsTemporary(err error) bool {
	return err != nil && !IsNotFound(err)
}
