package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/kubemail/kubemail/mailserver/mail"
)

// outbound checks the outbound section.
func (v *validator) outbound(o *Outbound) {
	if o.Resolver != "" {
		if addr, err := resolverAddress(o.Resolver); err != nil {
			v.add("outbound.resolver", "%q is not an IP address or host:port: %v", o.Resolver, err)
		} else {
			o.Resolver = addr
		}
	}
	if o.Port < 0 || o.Port > 65535 {
		v.add("outbound.port", "must be a port from 1 to 65535, not %d", o.Port)
	}
	if o.Workers < 0 {
		v.add("outbound.workers", "must be positive, not %d", o.Workers)
	}
	if o.MaxPerDestination < 0 {
		v.add("outbound.maxPerDestination", "must be positive, not %d", o.MaxPerDestination)
	}
	v.positiveDuration("outbound.expiry", o.Expiry)
	v.positiveDuration("outbound.delayNotice", o.DelayNotice)
	for i, d := range o.RetrySchedule {
		path := fmt.Sprintf("outbound.retrySchedule[%d]", i)
		if v.positiveDuration(path, d) && d.Duration == 0 {
			v.add(path, "must be more than 0s")
		}
	}
	switch o.MTASTS {
	case "", MTASTSEnforce, MTASTSOff:
	default:
		v.add("outbound.mtaSTS", "%q is not %q or %q", o.MTASTS, MTASTSEnforce, MTASTSOff)
	}
}

// positiveDuration reports a duration that did not parse or is negative,
// and whether it is usable.
func (v *validator) positiveDuration(path string, d Duration) bool {
	switch {
	case d.invalid != "":
		v.add(path, "%s", d.invalid)
	case d.Duration < 0:
		v.add(path, "must be positive, not %v", d.Duration)
	default:
		return true
	}
	return false
}

// resolverAddress checks a DNS server address and adds port 53 to a bare IP.
func resolverAddress(s string) (string, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), nil
	}
	if err := checkListenAddress(s); err != nil {
		return "", err
	}
	if host, port, _ := net.SplitHostPort(s); host == "" || port == "0" {
		return "", fmt.Errorf("a host and a port other than 0 are required")
	}
	return s, nil
}

// relay checks the relay section.
func (v *validator) relay(r *Relay) {
	seen := map[string]bool{}
	for i := range r.Routes {
		path := fmt.Sprintf("relay.routes[%d]", i)
		rt := &r.Routes[i]
		name, pattern := strings.CutPrefix(rt.Domain, "*.")
		switch d, err := mail.CanonicalDomain(name); {
		case rt.Domain == "*":
		case rt.Domain == "":
			v.add(path+".domain", "required (a domain, \"*.domain\" for its subdomains, or \"*\" for every other domain)")
		case err != nil:
			v.add(path+".domain", "%q is not a domain name, \"*.domain\" or \"*\": %v", rt.Domain, err)
		case pattern:
			rt.Domain = "*." + d
		default:
			rt.Domain = d
		}
		if seen[rt.Domain] {
			v.add(path+".domain", "duplicate route for %q", rt.Domain)
		}
		seen[rt.Domain] = true
		if rt.Smarthost != nil {
			v.smarthost(path+".smarthost", rt.Smarthost)
		}
	}
	for i, s := range r.AllowedNetworks {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			v.add(fmt.Sprintf("relay.allowedNetworks[%d]", i), "%q is not a CIDR such as 10.0.0.0/8", s)
			continue
		}
		r.AllowedNetworks[i] = p.Masked().String()
	}
	limits := map[string]bool{}
	for i := range r.RateLimits {
		path := fmt.Sprintf("relay.rateLimits[%d]", i)
		l := &r.RateLimits[i]
		switch {
		case l.Sender == "*":
		case strings.HasPrefix(l.Sender, "@"):
			if d, err := mail.CanonicalDomain(l.Sender[1:]); err != nil {
				v.add(path+".sender", "%q is not \"@\" and a domain: %v", l.Sender, err)
			} else {
				l.Sender = "@" + d
			}
		default:
			l.Sender = v.address(path+".sender", l.Sender)
		}
		if limits[l.Sender] {
			v.add(path+".sender", "duplicate rate limit for %q", l.Sender)
		}
		limits[l.Sender] = true
		if l.RecipientsPerHour <= 0 {
			v.add(path+".recipientsPerHour", "must be more than 0, not %d", l.RecipientsPerHour)
		}
	}
}

func (v *validator) smarthost(path string, s *Smarthost) {
	if s.Host == "" {
		v.add(path+".host", "required")
	} else if _, err := netip.ParseAddr(s.Host); err != nil {
		if h, err := mail.CanonicalDomain(s.Host); err != nil {
			v.add(path+".host", "%q is neither an IP address nor a host name: %v", s.Host, err)
		} else {
			s.Host = h
		}
	}
	switch s.TLS {
	case "":
		s.TLS = SmarthostStartTLSRequired
	case SmarthostImplicitTLS, SmarthostStartTLSRequired, SmarthostStartTLSOpportunistic:
	default:
		v.add(path+".tls", "%q is not %q, %q or %q", s.TLS,
			SmarthostImplicitTLS, SmarthostStartTLSRequired, SmarthostStartTLSOpportunistic)
	}
	switch {
	case s.Port == 0 && s.TLS == SmarthostImplicitTLS:
		s.Port = 465
	case s.Port == 0:
		s.Port = 587
	case s.Port < 0 || s.Port > 65535:
		v.add(path+".port", "must be a port from 1 to 65535, not %d", s.Port)
	}
}

// adminListener checks that the admin endpoint, which has no
// authentication of its own, listens on a loopback address only.
func (v *validator) adminListener(l Listener) {
	if !l.Enabled() {
		return
	}
	host, _, err := net.SplitHostPort(l.Address)
	if err != nil {
		return // reported with the other listeners
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		v.add("listeners.admin.address", "%q must be a loopback address such as 127.0.0.1:9381: the admin endpoint has no authentication", l.Address)
	}
	if l.ProxyProtocol {
		v.add("listeners.admin.proxyProtocol", "not supported on the admin endpoint")
	}
}
