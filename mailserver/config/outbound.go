package config

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kubemail/kubemail/mailserver/mail"
)

// Outbound configures delivery to other servers: the outbound queue.
// Absent values take the defaults below. Unlike [Limits], the defaults are
// not written into the document (the fields are omitted when zero), so a
// configuration that does not use outbound delivery keeps its hash; read
// the effective values with [Config.OutboundPolicy].
type Outbound struct {
	// Resolver is the DNS server used for MX, A/AAAA, TXT and MTA-STS
	// look-ups, as host:port or an IP address (port 53). Empty means the
	// system's resolver (the first nameserver of /etc/resolv.conf).
	Resolver string `json:"resolver,omitempty"`
	// Port is the SMTP port of remote mail exchangers (default 25).
	Port int `json:"port,omitempty"`
	// Expiry is how long a message is retried before it is returned to its
	// sender (default 5 days, RFC 5321 §4.5.4.1: at least 4–5 days).
	Expiry Duration `json:"expiry,omitzero"`
	// DelayNotice is how long after queueing the sender is told that
	// delivery is delayed (default 4 hours); a value not below Expiry
	// sends none.
	DelayNotice Duration `json:"delayNotice,omitzero"`
	// RetrySchedule is the wait after each failed attempt: the n-th
	// failure waits the n-th entry, and the last entry repeats until
	// Expiry (default 5m, 15m, 30m, 1h, 2h, 4h, 8h).
	RetrySchedule []Duration `json:"retrySchedule,omitempty"`
	// Workers is the most deliveries in progress at once (default 100,
	// Postfix's default_process_limit).
	Workers int `json:"workers,omitempty"`
	// MaxPerDestination is the most deliveries in progress at once to one
	// destination, a recipient domain or a smarthost (default 20, Postfix's
	// default_destination_concurrency_limit).
	MaxPerDestination int `json:"maxPerDestination,omitempty"`
	// MTASTS is "enforce" (the default: a domain's MTA-STS policy in
	// enforce mode is honoured, RFC 8461) or "off".
	MTASTS string `json:"mtaSTS,omitempty"`
}

// MTA-STS settings of [Outbound].
const (
	MTASTSEnforce = "enforce"
	MTASTSOff     = "off"
)

// Defaults of [Outbound].
const (
	DefaultOutboundPort      = 25
	DefaultExpiry            = 5 * 24 * time.Hour
	DefaultDelayNotice       = 4 * time.Hour
	DefaultWorkers           = 100
	DefaultMaxPerDestination = 20
)

// DefaultRetrySchedule is the default [Outbound.RetrySchedule].
func DefaultRetrySchedule() []time.Duration {
	return []time.Duration{5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour}
}

// Relay says how mail leaves and who may send it through this server.
type Relay struct {
	// Routes choose, per recipient domain, direct delivery to the domain's
	// mail exchangers or a smarthost. The route of domain "*" applies to
	// every domain without its own; without one, delivery is direct.
	Routes []RelayRoute `json:"routes,omitempty"`
	// AllowedNetworks (CIDRs) may relay through the MX listener without
	// AUTH, for example in-cluster applications. Keep it narrow: anyone in
	// these networks can send mail anywhere in this server's name.
	AllowedNetworks []string `json:"allowedNetworks,omitempty"`
	// RateLimits bound how many remote recipients one sender may reach per
	// hour; the most specific matching rule applies.
	RateLimits []RateLimit `json:"rateLimits,omitempty"`
}

// RelayRoute routes one recipient domain.
type RelayRoute struct {
	// Domain is a recipient domain; "*.example.com" for every subdomain of
	// example.com (not example.com itself); or "*" for every other domain.
	// The most specific route applies: the domain's own, then the nearest
	// "*.parent", then "*".
	Domain string `json:"domain"`
	// Smarthost, when set, sends the domain's mail through that server;
	// absent means direct delivery.
	Smarthost *Smarthost `json:"smarthost,omitempty"`
}

// TLS modes of a [Smarthost].
const (
	// SmarthostImplicitTLS connects with TLS from the start (RFC 8314 §3.3).
	SmarthostImplicitTLS = "implicit"
	// SmarthostStartTLSRequired requires STARTTLS (RFC 3207) and a
	// certificate valid for Host.
	SmarthostStartTLSRequired = "starttls-required"
	// SmarthostStartTLSOpportunistic uses STARTTLS when offered, without
	// verifying the certificate, and plain SMTP otherwise; credentials are
	// never sent without TLS.
	SmarthostStartTLSOpportunistic = "starttls-opportunistic"
)

// Smarthost is a relay server that takes outbound mail.
type Smarthost struct {
	// Host is the relay's host name (or IP address).
	Host string `json:"host"`
	// Port defaults to 465 with implicit TLS and 587 otherwise.
	Port int `json:"port,omitempty"`
	// TLS is "implicit", "starttls-required" (the default) or
	// "starttls-opportunistic".
	TLS string `json:"tls,omitempty"`
	// CredentialsFile holds the AUTH credentials: a file whose first line
	// is the user name and second line the password, or a directory with
	// files "username" and "password" (a mounted kubernetes.io/basic-auth
	// Secret). Empty means no AUTH. Read at each connection, so a rotated
	// Secret takes effect without a reload.
	CredentialsFile string `json:"credentialsFile,omitempty"`
	// CAFile is a PEM bundle of the certificate authorities that sign the
	// relay's certificate; empty means the system roots.
	CAFile string `json:"caFile,omitempty"`
}

// RateLimit bounds one sender's remote recipients.
type RateLimit struct {
	// Sender is an address, "@domain" for each sender of the domain, or
	// "*" for each sender. The sender is the authenticated account, else
	// the envelope sender.
	Sender string `json:"sender"`
	// RecipientsPerHour is how many remote recipients each matching
	// sender may reach in one hour.
	RecipientsPerHour int `json:"recipientsPerHour"`
}

// OutboundPolicy is [Outbound] with the defaults applied.
type OutboundPolicy struct {
	Resolver          string
	Port              int
	Expiry            time.Duration
	DelayNotice       time.Duration
	RetrySchedule     []time.Duration
	Workers           int
	MaxPerDestination int
	MTASTS            bool
}

// Route is where mail for one recipient domain goes.
type Route struct {
	// Key names the route: the domain of a direct route, or
	// "smarthost:host:port" (a destination for concurrency limits).
	Key string
	// Smarthost is nil for direct delivery. It must not be modified.
	Smarthost *Smarthost
}

// outboundIndex is the compiled outbound and relay settings.
type outboundIndex struct {
	policy   OutboundPolicy
	routes   map[string]*Smarthost // domain or "*" → smarthost (nil: direct)
	networks []netip.Prefix
	limits   map[string]int // address, "@domain" or "*" → recipients per hour
}

// compileOutbound applies the defaults; c has been validated.
func compileOutbound(c *Config) *outboundIndex {
	o := c.Outbound
	p := OutboundPolicy{
		Resolver: o.Resolver, Port: o.Port, Expiry: o.Expiry.Duration, DelayNotice: o.DelayNotice.Duration,
		Workers: o.Workers, MaxPerDestination: o.MaxPerDestination, MTASTS: o.MTASTS != MTASTSOff,
	}
	p.Port = cmpOr(p.Port, DefaultOutboundPort)
	p.Expiry = cmpOr(p.Expiry, DefaultExpiry)
	p.DelayNotice = cmpOr(p.DelayNotice, DefaultDelayNotice)
	p.Workers = cmpOr(p.Workers, DefaultWorkers)
	p.MaxPerDestination = cmpOr(p.MaxPerDestination, DefaultMaxPerDestination)
	for _, d := range o.RetrySchedule {
		p.RetrySchedule = append(p.RetrySchedule, d.Duration)
	}
	if len(p.RetrySchedule) == 0 {
		p.RetrySchedule = DefaultRetrySchedule()
	}
	idx := &outboundIndex{policy: p, routes: map[string]*Smarthost{}, limits: map[string]int{}}
	for i := range c.Relay.Routes {
		idx.routes[c.Relay.Routes[i].Domain] = c.Relay.Routes[i].Smarthost
	}
	for _, s := range c.Relay.AllowedNetworks {
		idx.networks = append(idx.networks, netip.MustParsePrefix(s)) // validated
	}
	for _, l := range c.Relay.RateLimits {
		idx.limits[l.Sender] = l.RecipientsPerHour
	}
	return idx
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// OutboundPolicy returns the outbound settings with defaults applied.
func (c *Config) OutboundPolicy() OutboundPolicy {
	c.mustBeCompiled()
	p := c.idx.out.policy
	p.RetrySchedule = slices.Clone(p.RetrySchedule)
	return p
}

// Route returns the route for a recipient domain: its own, else the
// nearest subdomain pattern ("*.example.com" for a.b.example.com), else
// "*", else direct delivery.
func (c *Config) Route(domain string) Route {
	c.mustBeCompiled()
	d, err := mail.CanonicalDomain(domain)
	if err != nil {
		d = domain
	}
	sh, ok := c.idx.out.routes[d]
	for parent := d; !ok; {
		_, rest, more := strings.Cut(parent, ".")
		if !more || rest == "" {
			sh = c.idx.out.routes["*"]
			break
		}
		sh, ok = c.idx.out.routes["*."+rest]
		parent = rest
	}
	if sh == nil {
		return Route{Key: d}
	}
	return Route{Key: "smarthost:" + net.JoinHostPort(sh.Host, strconv.Itoa(sh.Port)), Smarthost: sh}
}

// RelayAllowed reports whether an unauthenticated client at ip may relay
// through the MX listener (relay.allowedNetworks).
func (c *Config) RelayAllowed(ip netip.Addr) bool {
	c.mustBeCompiled()
	ip = ip.Unmap()
	for _, p := range c.idx.out.networks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// SenderRateLimit returns how many remote recipients sender (an account
// or envelope sender address) may reach per hour, 0 for no limit: the rule
// for the address, else for "@" + its domain, else for "*".
func (c *Config) SenderRateLimit(sender string) int {
	c.mustBeCompiled()
	limits := c.idx.out.limits
	if len(limits) == 0 {
		return 0
	}
	a := key(sender)
	if n, ok := limits[a]; ok && a != "" {
		return n
	}
	if n, ok := limits["@"+mail.Domain(a)]; ok && a != "" {
		return n
	}
	return limits["*"]
}
