package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/kubemail/kubemail/mailserver/auth"
	"github.com/kubemail/kubemail/mailserver/mail"
)

// validator checks a defaulted Config, normalising names and addresses in
// place, and collects every problem.
type validator struct {
	errs    []FieldError
	domains map[string]bool   // canonical local domains
	owner   map[string]string // canonical address → field path that claimed it
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) validate(c *Config) {
	if c.APIVersion != APIVersion {
		v.add("apiVersion", "must be %q, not %q", APIVersion, c.APIVersion)
	}
	if c.Kind != Kind {
		v.add("kind", "must be %q, not %q", Kind, c.Kind)
	}
	if c.Hostname == "" {
		v.add("hostname", "required")
	} else if h, err := mail.CanonicalDomain(c.Hostname); err != nil {
		v.add("hostname", "%q is not a valid host name: %v", c.Hostname, err)
	} else {
		c.Hostname = h
	}
	v.listeners(c)
	v.adminListener(c.Listeners.Admin)
	v.tls(c.TLS)
	v.storage(c.Storage)
	v.limits(c.Limits)

	v.domains = make(map[string]bool, len(c.Domains))
	v.owner = make(map[string]string, len(c.Mailboxes))
	for i := range c.Domains {
		v.domain(fmt.Sprintf("domains[%d]", i), &c.Domains[i])
	}
	for i := range c.Mailboxes {
		v.mailbox(fmt.Sprintf("mailboxes[%d]", i), &c.Mailboxes[i])
	}
	for i := range c.Aliases {
		v.alias(fmt.Sprintf("aliases[%d]", i), &c.Aliases[i])
	}
	v.outbound(&c.Outbound)
	v.relay(&c.Relay)
}

// namedListener is a listener and its field name.
type namedListener struct {
	name string
	l    *Listener
}

// listenerFields lists the listeners in field order.
func listenerFields(l *Listeners) []namedListener {
	return []namedListener{
		{"smtp", &l.SMTP}, {"submission", &l.Submission}, {"submissions", &l.Submissions},
		{"imap", &l.IMAP}, {"imaps", &l.IMAPS}, {"pop3", &l.POP3}, {"pop3s", &l.POP3S}, {"ops", &l.Ops},
		{"admin", &l.Admin},
	}
}

func (v *validator) listeners(c *Config) {
	seen := map[string]string{}
	for _, f := range listenerFields(&c.Listeners) {
		path := "listeners." + f.name
		if f.l.ProxyProtocol && f.l.Enabled() {
			if len(c.ProxyProtocol.TrustedCIDRs) == 0 {
				v.add(path+".proxyProtocol", "requires proxyProtocol.trustedCIDRs")
			}
		}
		if !f.l.Enabled() {
			continue
		}
		if err := checkListenAddress(f.l.Address); err != nil {
			v.add(path+".address", "%q is not a valid host:port: %v", f.l.Address, err)
			continue
		}
		if _, port, _ := net.SplitHostPort(f.l.Address); port != "0" {
			if other, dup := seen[f.l.Address]; dup {
				v.add(path+".address", "%q is already the address of listeners.%s", f.l.Address, other)
			}
			seen[f.l.Address] = f.name
		}
	}
	for i, s := range c.ProxyProtocol.TrustedCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			v.add(fmt.Sprintf("proxyProtocol.trustedCIDRs[%d]", i), "%q is not a CIDR such as 10.0.0.0/8", s)
			continue
		}
		c.ProxyProtocol.TrustedCIDRs[i] = p.Masked().String()
	}
}

// checkListenAddress checks host:port where host is empty, an IP address or
// a host name and port is 0-65535.
func checkListenAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("missing or misplaced port")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || (len(port) > 1 && port[0] == '0') {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if _, err := mail.CanonicalDomain(host); err != nil {
		return fmt.Errorf("host %q is neither an IP address nor a host name", host)
	}
	return nil
}

func (v *validator) tls(t TLS) {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		v.add("tls.keyFile", "required when tls.certFile is set")
	case t.CertFile == "" && t.KeyFile != "":
		v.add("tls.certFile", "required when tls.keyFile is set")
	}
}

func (v *validator) storage(s Storage) {
	switch s.Driver {
	case DriverSQLite:
	case DriverPostgres:
		v.add("storage.driver", "%q is not supported yet; use %q", DriverPostgres, DriverSQLite)
	default:
		v.add("storage.driver", "%q is unknown; use %q", s.Driver, DriverSQLite)
	}
	if s.Path == "" {
		v.add("storage.path", "required")
	}
}

func (v *validator) limits(l Limits) {
	positive := func(name string, n int64) {
		if n < 0 {
			v.add("limits."+name, "must be positive, not %d", n)
		}
	}
	positive("maxMessageBytes", l.MaxMessageBytes)
	positive("maxRecipients", int64(l.MaxRecipients))
	positive("maxConnections", int64(l.MaxConnections))
	positive("maxConnectionsPerIP", int64(l.MaxConnectionsPerIP))
	positive("maxIMAPConnectionsPerUser", int64(l.MaxIMAPConnectionsPerUser))
	positive("maxPOP3ConnectionsPerUser", int64(l.MaxPOP3ConnectionsPerUser))
	if l.MaxLineLength < MinLineLength {
		v.add("limits.maxLineLength", "must be at least %d (RFC 5321 §4.5.3.1.6), not %d", MinLineLength, l.MaxLineLength)
	}
	durations := []struct {
		name string
		d    Duration
	}{
		{"commandTimeout", l.CommandTimeout}, {"idleTimeout", l.IdleTimeout}, {"imapIdleTimeout", l.IMAPIdleTimeout},
		{"authFailureDelay", l.AuthFailureDelay}, {"authFailureMaxDelay", l.AuthFailureMaxDelay},
	}
	bad := false
	for _, d := range durations {
		switch {
		case d.d.invalid != "":
			v.add("limits."+d.name, "%s", d.d.invalid)
			bad = true
		case d.d.Duration < 0:
			v.add("limits."+d.name, "must be positive, not %v", d.d.Duration)
			bad = true
		}
	}
	if bad {
		return
	}
	if l.IMAPIdleTimeout.Duration < MinIMAPIdleTimeout {
		v.add("limits.imapIdleTimeout", "must be at least %v (RFC 9051 §5.4), not %v", MinIMAPIdleTimeout, l.IMAPIdleTimeout.Duration)
	}
	if l.AuthFailureMaxDelay.Duration < l.AuthFailureDelay.Duration {
		v.add("limits.authFailureMaxDelay", "must not be less than limits.authFailureDelay (%v)", l.AuthFailureDelay.Duration)
	}
}

func (v *validator) domain(path string, d *Domain) {
	name, err := mail.CanonicalDomain(d.Name)
	switch {
	case d.Name == "":
		v.add(path+".name", "required")
	case err != nil:
		v.add(path+".name", "%q is not a valid domain name: %v", d.Name, err)
	case v.domains[name]:
		v.add(path+".name", "duplicate domain %q", name)
	default:
		d.Name = name
		v.domains[name] = true
	}
	for i := range d.CatchAll {
		p := path + ".catchAll"
		if len(d.CatchAll) > 1 {
			p = fmt.Sprintf("%s[%d]", p, i)
		}
		d.CatchAll[i] = v.address(p, d.CatchAll[i])
	}
	if d.QuotaBytes < 0 {
		v.add(path+".quotaBytes", "must not be negative, not %d", d.QuotaBytes)
	}
	if k := d.DKIM; k != nil {
		if k.Selector == "" {
			v.add(path+".dkim.selector", "required")
		} else if sel, ok := checkSelector(k.Selector); !ok {
			v.add(path+".dkim.selector", "%q is not a valid selector (DNS labels, RFC 6376 §3.1)", k.Selector)
		} else {
			k.Selector = sel
		}
		if k.KeyFile == "" {
			v.add(path+".dkim.keyFile", "required")
		}
	}
}

// address checks and canonicalises an address, returning it (or the input
// unchanged after reporting a problem).
func (v *validator) address(path, addr string) string {
	a, _ := v.checkAddress(path, addr)
	return a
}

func (v *validator) checkAddress(path, addr string) (string, bool) {
	if addr == "" {
		v.add(path, "required")
		return addr, false
	}
	a, err := mail.CanonicalAddress(addr)
	if err != nil {
		v.add(path, "%q is not a valid email address: %v", addr, err)
		return addr, false
	}
	return a, true
}

// localAddress is address plus: in a configured domain, and not claimed
// before (as a mailbox, mailbox alias or alias).
func (v *validator) localAddress(path, addr string) string {
	a, ok := v.checkAddress(path, addr)
	if !ok {
		return a
	}
	if d := mail.Domain(a); !v.domains[d] {
		v.add(path, "domain %q of %q is not in domains", d, a)
		return a
	}
	if other, dup := v.owner[a]; dup {
		v.add(path, "%q is already defined at %s", a, other)
		return a
	}
	v.owner[a] = path
	return a
}

func (v *validator) mailbox(path string, m *Mailbox) {
	m.Address = v.localAddress(path+".address", m.Address)
	switch {
	case m.PasswordHash == "":
		v.add(path+".passwordHash", "required")
	case !auth.Recognized(m.PasswordHash):
		// Never echo the hash: it is a secret.
		v.add(path+".passwordHash", "not a recognised password hash (argon2id, bcrypt or SHA512-CRYPT; make one with kubemail passwd)")
	}
	if m.QuotaBytes < 0 {
		v.add(path+".quotaBytes", "must not be negative, not %d", m.QuotaBytes)
	}
	for i := range m.Aliases {
		m.Aliases[i] = v.localAddress(fmt.Sprintf("%s.aliases[%d]", path, i), m.Aliases[i])
	}
	for i := range m.ForwardTo {
		m.ForwardTo[i] = v.address(fmt.Sprintf("%s.forwardTo[%d]", path, i), m.ForwardTo[i])
	}
}

func (v *validator) alias(path string, a *Alias) {
	if strings.HasPrefix(a.Address, "@") {
		v.add(path+".address", "catch-all %q belongs on the domain (domains[].catchAll)", a.Address)
	} else {
		a.Address = v.localAddress(path+".address", a.Address)
	}
	if len(a.Targets) == 0 {
		v.add(path+".targets", "at least one target is required")
	}
	for i := range a.Targets {
		a.Targets[i] = v.address(fmt.Sprintf("%s.targets[%d]", path, i), a.Targets[i])
	}
}

// checkSelector checks a DKIM selector, one or more letter-digit-hyphen
// labels (RFC 6376 §3.1), and lower-cases it.
func checkSelector(s string) (string, bool) {
	s = strings.ToLower(s)
	if !mail.IsASCII(s) || len(s) > 253 {
		return s, false
	}
	for _, l := range strings.Split(s, ".") {
		if mail.CheckLabel(l) != nil {
			return s, false
		}
	}
	return s, true
}
