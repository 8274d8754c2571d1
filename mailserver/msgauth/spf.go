package msgauth

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/kubemail/kubemail/mailserver/resolver"
)

// SPFResult is the result of an SPF check (RFC 7208 §2.6).
type SPFResult string

// SPF results.
const (
	SPFNone      SPFResult = "none"
	SPFNeutral   SPFResult = "neutral"
	SPFPass      SPFResult = "pass"
	SPFFail      SPFResult = "fail"
	SPFSoftFail  SPFResult = "softfail"
	SPFTempError SPFResult = "temperror"
	SPFPermError SPFResult = "permerror"
)

// Limits of RFC 7208 §4.6.4.
const (
	spfMaxLookups     = 10 // terms that cause DNS queries
	spfMaxVoidLookups = 2  // look-ups answering no records
	spfMaxMXHosts     = 10 // MX records evaluated by one "mx"
)

// SPFRequest is what an SPF check is about.
type SPFRequest struct {
	// IP is the SMTP client's address.
	IP netip.Addr
	// MailFrom is the reverse-path, "" for the null sender.
	MailFrom string
	// HELO is the name the client gave in EHLO/HELO.
	HELO string
}

// errSPFPerm and errSPFTemp end an evaluation with permerror or temperror.
var (
	errSPFPerm = errors.New("spf permerror")
	errSPFTemp = errors.New("spf temperror")
)

// CheckSPF checks the MAIL FROM identity, or the HELO identity when MAIL
// FROM is null (RFC 7208 §2.4), and returns the result and the domain
// checked. The "ptr" mechanism never matches (RFC 7208 §5.5: it SHOULD NOT
// be used; answering it needs reverse look-ups this server does not make)
// but counts as a look-up; "exp" is not evaluated.
func CheckSPF(ctx context.Context, r resolver.Resolver, req SPFRequest) (SPFResult, string) {
	sender := req.MailFrom
	if sender == "" {
		sender = "postmaster@" + req.HELO
	}
	at := strings.LastIndexByte(sender, '@')
	if at < 0 {
		sender = "postmaster@" + sender
		at = len("postmaster")
	}
	domain := strings.ToLower(strings.TrimSuffix(sender[at+1:], "."))
	c := &spfCheck{ctx: ctx, r: r, ip: req.IP.Unmap(), sender: sender, local: sender[:at], senderDomain: domain, helo: req.HELO}
	if c.local == "" {
		c.local = "postmaster"
	}
	return c.checkHost(domain), domain
}

// spfCheck is one evaluation with its look-up counters.
type spfCheck struct {
	ctx          context.Context
	r            resolver.Resolver
	ip           netip.Addr
	sender       string
	local        string
	senderDomain string
	helo         string
	lookups      int
	voids        int
}

// checkHost is check_host() of RFC 7208 §4.
func (c *spfCheck) checkHost(domain string) SPFResult {
	res, err := c.evaluate(domain)
	switch {
	case errors.Is(err, errSPFPerm):
		return SPFPermError
	case err != nil:
		return SPFTempError
	}
	return res
}

// validDomain checks a name as RFC 7208 §4.3 requires: a multi-label
// domain name of valid labels.
func validDomain(d string) bool {
	d = strings.TrimSuffix(d, ".")
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// spfRecord returns the domain's one SPF record, or "" when it has none.
func (c *spfCheck) spfRecord(domain string) (string, error) {
	txts, err := c.r.LookupTXT(c.ctx, domain)
	switch {
	case resolver.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", errSPFTemp
	}
	var found []string
	for _, t := range txts {
		// RFC 7208 §4.5: "v=spf1" alone or followed by a space.
		if len(t) >= 6 && strings.EqualFold(t[:6], "v=spf1") && (len(t) == 6 || t[6] == ' ') {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	default:
		return "", errSPFPerm // RFC 7208 §4.5: more than one record
	}
}

// spfTerm is a parsed directive or modifier.
type spfTerm struct {
	qualifier byte   // '+', '-', '~', '?'
	name      string // mechanism or modifier name, lower case
	arg       string // domain-spec, address or modifier value
	cidr4     int    // -1 when not given
	cidr6     int
	modifier  bool
}

func (c *spfCheck) evaluate(domain string) (SPFResult, error) {
	if !validDomain(domain) {
		return SPFNone, nil
	}
	rec, err := c.spfRecord(domain)
	if err != nil {
		return "", err
	}
	if rec == "" {
		return SPFNone, nil
	}
	terms, err := parseSPF(rec)
	if err != nil {
		return "", err
	}
	var redirect string
	for _, t := range terms {
		if t.modifier {
			if t.name == "redirect" {
				redirect = t.arg
			}
			continue
		}
		match, err := c.match(t, domain)
		if err != nil {
			return "", err
		}
		if match {
			return qualifierResult(t.qualifier), nil
		}
	}
	if redirect == "" {
		return SPFNeutral, nil
	}
	// RFC 7208 §6.1: redirect counts as a look-up; a target without a
	// record is a permerror.
	if err := c.count(); err != nil {
		return "", err
	}
	target, err := c.expand(redirect, domain)
	if err != nil {
		return "", err
	}
	res := c.checkHost(target)
	switch res {
	case SPFNone:
		return "", errSPFPerm
	case SPFPermError:
		return "", errSPFPerm
	case SPFTempError:
		return "", errSPFTemp
	}
	return res, nil
}

func qualifierResult(q byte) SPFResult {
	switch q {
	case '-':
		return SPFFail
	case '~':
		return SPFSoftFail
	case '?':
		return SPFNeutral
	default:
		return SPFPass
	}
}

// count charges one DNS-querying term against the limit.
func (c *spfCheck) count() error {
	c.lookups++
	if c.lookups > spfMaxLookups {
		return errSPFPerm
	}
	return nil
}

// void charges a look-up that found nothing.
func (c *spfCheck) void() error {
	c.voids++
	if c.voids > spfMaxVoidLookups {
		return errSPFPerm
	}
	return nil
}

// parseSPF parses a whole record first: any syntax error anywhere makes
// the result permerror (RFC 7208 §4.6).
func parseSPF(rec string) ([]spfTerm, error) {
	var terms []spfTerm
	seen := map[string]bool{}
	for _, word := range strings.Fields(rec[6:]) {
		t, err := parseTerm(word)
		if err != nil {
			return nil, err
		}
		if t.modifier && (t.name == "redirect" || t.name == "exp") {
			if seen[t.name] { // RFC 7208 §6: at most once
				return nil, errSPFPerm
			}
			seen[t.name] = true
		}
		terms = append(terms, t)
	}
	return terms, nil
}

func parseTerm(word string) (spfTerm, error) {
	t := spfTerm{qualifier: '+', cidr4: -1, cidr6: -1}
	// A modifier is name "=" value, name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
	if eq := strings.IndexByte(word, '='); eq > 0 && isModifierName(word[:eq]) {
		t.modifier, t.name, t.arg = true, strings.ToLower(word[:eq]), word[eq+1:]
		if (t.name == "redirect" || t.name == "exp") && t.arg == "" {
			return t, errSPFPerm
		}
		return t, nil
	}
	if strings.ContainsRune("+-~?", rune(word[0])) {
		t.qualifier = word[0]
		word = word[1:]
	}
	end := strings.IndexAny(word, ":/")
	if end < 0 {
		end = len(word)
	}
	t.name = strings.ToLower(word[:end])
	rest := word[end:]
	switch t.name {
	case "all":
		if rest != "" {
			return t, errSPFPerm
		}
	case "include", "exists":
		if !strings.HasPrefix(rest, ":") || len(rest) == 1 {
			return t, errSPFPerm
		}
		t.arg = rest[1:]
	case "a", "mx":
		var err error
		if t.arg, t.cidr4, t.cidr6, err = splitDualCIDR(rest); err != nil {
			return t, err
		}
	case "ptr":
		if strings.HasPrefix(rest, ":") {
			t.arg = rest[1:]
		} else if rest != "" {
			return t, errSPFPerm
		}
	case "ip4", "ip6":
		if !strings.HasPrefix(rest, ":") {
			return t, errSPFPerm
		}
		t.arg = rest[1:]
		if _, err := parseIPNetwork(t.arg, t.name == "ip6"); err != nil {
			return t, errSPFPerm
		}
	default:
		return t, errSPFPerm // RFC 7208 §5: unknown mechanism
	}
	return t, nil
}

func isModifierName(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// splitDualCIDR splits [":" domain-spec] [ "/" ip4-cidr ] [ "//" ip6-cidr ].
func splitDualCIDR(rest string) (string, int, int, error) {
	spec := ""
	if strings.HasPrefix(rest, ":") {
		slash := strings.IndexByte(rest, '/')
		if slash < 0 {
			slash = len(rest)
		}
		spec, rest = rest[1:slash], rest[slash:]
		if spec == "" {
			return "", 0, 0, errSPFPerm
		}
	}
	c4, c6 := -1, -1
	if v6, ok := strings.CutPrefix(rest, "//"); ok {
		n, err := cidrLength(v6, 128)
		return spec, c4, n, err
	}
	if rest == "" {
		return spec, c4, c6, nil
	}
	if !strings.HasPrefix(rest, "/") {
		return "", 0, 0, errSPFPerm
	}
	v4, v6, dual := strings.Cut(rest[1:], "//")
	n, err := cidrLength(v4, 32)
	if err != nil {
		return "", 0, 0, err
	}
	c4 = n
	if dual {
		if c6, err = cidrLength(v6, 128); err != nil {
			return "", 0, 0, err
		}
	}
	return spec, c4, c6, nil
}

func cidrLength(s string, max int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > max || (len(s) > 1 && s[0] == '0') {
		return 0, errSPFPerm
	}
	return n, nil
}

// parseIPNetwork parses ip4/ip6 mechanism arguments.
func parseIPNetwork(s string, v6 bool) (netip.Prefix, error) {
	addr, bits, hasBits := strings.Cut(s, "/")
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Is6() != v6 || ip.Zone() != "" {
		return netip.Prefix{}, errSPFPerm
	}
	n := ip.BitLen()
	if hasBits {
		if n, err = cidrLength(bits, ip.BitLen()); err != nil {
			return netip.Prefix{}, err
		}
	}
	return ip.Prefix(n)
}

// inPrefix reports whether ip is in the network of addr with length bits
// (-1: the whole address).
func inPrefix(ip, addr netip.Addr, bits int) bool {
	addr = addr.Unmap()
	if ip.Is4() != addr.Is4() {
		return false
	}
	if bits < 0 {
		bits = addr.BitLen()
	}
	p, err := addr.Prefix(bits)
	return err == nil && p.Contains(ip)
}
