package msgauth

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kubemail/kubemail/mailserver/resolver"
)

// match evaluates one mechanism (RFC 7208 §5) for the current domain.
func (c *spfCheck) match(t spfTerm, domain string) (bool, error) {
	switch t.name {
	case "all":
		return true, nil
	case "ip4", "ip6":
		p, err := parseIPNetwork(t.arg, t.name == "ip6")
		if err != nil {
			return false, err
		}
		return p.Contains(c.ip), nil
	}
	if err := c.count(); err != nil {
		return false, err
	}
	target := domain
	if t.arg != "" {
		var err error
		if target, err = c.expand(t.arg, domain); err != nil {
			return false, err
		}
	}
	switch t.name {
	case "include":
		return c.include(target)
	case "a":
		return c.matchHost(target, t)
	case "mx":
		return c.matchMX(target, t)
	case "exists":
		ips, err := c.addresses(target, false)
		return len(ips) > 0, err
	default: // "ptr": see CheckSPF
		return false, nil
	}
}

// include is RFC 7208 §5.2's table.
func (c *spfCheck) include(target string) (bool, error) {
	switch c.checkHost(target) {
	case SPFPass:
		return true, nil
	case SPFTempError:
		return false, errSPFTemp
	case SPFPermError, SPFNone:
		return false, errSPFPerm
	default:
		return false, nil
	}
}

// addresses looks up target's addresses of the client's family (or IPv4
// for "exists", RFC 7208 §5.7); an empty answer is a void look-up.
func (c *spfCheck) addresses(target string, clientFamily bool) ([]netip.Addr, error) {
	if !validDomain(target) {
		return nil, c.void()
	}
	ips, err := c.r.LookupIP(c.ctx, target)
	if err != nil && !resolver.IsNotFound(err) {
		return nil, errSPFTemp
	}
	want4 := !clientFamily || c.ip.Is4()
	var out []netip.Addr
	for _, ip := range ips {
		if ip.Unmap().Is4() == want4 {
			out = append(out, ip.Unmap())
		}
	}
	if len(out) == 0 {
		return nil, c.void()
	}
	return out, nil
}

func (c *spfCheck) matchIPs(ips []netip.Addr, t spfTerm) bool {
	bits := t.cidr4
	if c.ip.Is6() {
		bits = t.cidr6
	}
	return slices.ContainsFunc(ips, func(ip netip.Addr) bool { return inPrefix(c.ip, ip, bits) })
}

func (c *spfCheck) matchHost(target string, t spfTerm) (bool, error) {
	ips, err := c.addresses(target, true)
	if err != nil {
		return false, err
	}
	return c.matchIPs(ips, t), nil
}

// matchMX is RFC 7208 §5.4: at most 10 MX hosts are looked up.
func (c *spfCheck) matchMX(target string, t spfTerm) (bool, error) {
	if !validDomain(target) {
		return false, c.void()
	}
	mxs, err := c.r.LookupMX(c.ctx, target)
	switch {
	case resolver.IsNotFound(err):
		return false, c.void()
	case err != nil:
		return false, errSPFTemp
	case len(mxs) == 0:
		return false, c.void()
	case len(mxs) > spfMaxMXHosts:
		return false, errSPFPerm
	}
	for _, mx := range mxs {
		host := strings.TrimSuffix(mx.Host, ".")
		if !validDomain(host) {
			continue
		}
		ips, err := c.r.LookupIP(c.ctx, host)
		if err != nil && !resolver.IsNotFound(err) {
			return false, errSPFTemp
		}
		var fam []netip.Addr
		for _, ip := range ips {
			if ip.Unmap().Is4() == c.ip.Is4() {
				fam = append(fam, ip.Unmap())
			}
		}
		if c.matchIPs(fam, t) {
			return true, nil
		}
	}
	return false, nil
}

// expand expands the macros of a domain-spec (RFC 7208 §7) and shortens
// the result to 253 octets by dropping labels from the left (§7.3).
func (c *spfCheck) expand(spec, domain string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(spec); i++ {
		ch := spec[i]
		if ch != '%' {
			if ch < 0x21 || ch > 0x7e {
				return "", errSPFPerm
			}
			b.WriteByte(ch)
			continue
		}
		if i+1 >= len(spec) {
			return "", errSPFPerm
		}
		i++
		switch spec[i] {
		case '%':
			b.WriteByte('%')
		case '_':
			b.WriteByte(' ')
		case '-':
			b.WriteString("%20")
		case '{':
			end := strings.IndexByte(spec[i:], '}')
			if end < 0 {
				return "", errSPFPerm
			}
			v, err := c.macro(spec[i+1:i+end], domain)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += end
		default:
			return "", errSPFPerm
		}
	}
	out := strings.TrimSuffix(b.String(), ".")
	for len(out) > 253 {
		dot := strings.IndexByte(out, '.')
		if dot < 0 {
			return "", errSPFPerm
		}
		out = out[dot+1:]
	}
	return strings.ToLower(out), nil
}

// macro expands the inside of one %{…}: letter, digits, "r", delimiters.
func (c *spfCheck) macro(m, domain string) (string, error) {
	if m == "" {
		return "", errSPFPerm
	}
	letter := m[0]
	var value string
	switch letter | 0x20 { // lower case
	case 's':
		value = c.sender
	case 'l':
		value = c.local
	case 'o':
		value = c.senderDomain
	case 'd':
		value = domain
	case 'i':
		value = macroIP(c.ip)
	case 'p':
		value = "unknown" // RFC 7208 §7.3: validated names need reverse look-ups
	case 'v':
		value = "in-addr"
		if c.ip.Is6() {
			value = "ip6"
		}
	case 'h':
		value = c.helo
	default:
		return "", errSPFPerm // c, r, t only in "exp"
	}
	rest := m[1:]
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		digits++
	}
	keep := 0
	if digits > 0 {
		n, err := strconv.Atoi(rest[:digits])
		if err != nil || n == 0 || n > 128 {
			return "", errSPFPerm
		}
		keep = n
	}
	rest = rest[digits:]
	reverse := false
	if rest != "" && (rest[0] == 'r' || rest[0] == 'R') {
		reverse, rest = true, rest[1:]
	}
	delims := "."
	if rest != "" {
		if strings.Trim(rest, ".-+,/_=") != "" {
			return "", errSPFPerm
		}
		delims = rest
	}
	parts := strings.FieldsFunc(value, func(r rune) bool { return strings.ContainsRune(delims, r) })
	if value != "" && len(parts) == 0 {
		parts = []string{""}
	}
	if reverse {
		slices.Reverse(parts)
	}
	if keep > 0 && keep < len(parts) {
		parts = parts[len(parts)-keep:]
	}
	out := strings.Join(parts, ".")
	if letter >= 'A' && letter <= 'Z' {
		out = url.PathEscape(out)
	}
	return out, nil
}

// macroIP is the "i" macro: dotted quad, or dot-separated nibbles for IPv6.
func macroIP(ip netip.Addr) string {
	if ip.Is4() {
		return ip.String()
	}
	b := ip.As16()
	nibbles := make([]string, 0, 32)
	for _, x := range b {
		nibbles = append(nibbles, fmt.Sprintf("%x", x>>4), fmt.Sprintf("%x", x&0xf))
	}
	return strings.Join(nibbles, ".")
}
