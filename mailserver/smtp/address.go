package smtp

import (
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// maxAddressLength is the longest mailbox accepted: a path is at most 256
// octets including the angle brackets (RFC 5321 §4.5.3.1.3). The 64-octet
// local-part limit (§4.5.3.1.1) is deliberately not enforced: SRS and VERP
// bounce addresses exceed it in real traffic.
const maxAddressLength = 254

// maxDomainLength is the longest domain (RFC 5321 §4.5.3.1.2).
const maxDomainLength = 255

var (
	errAddressSyntax   = errors.New("address syntax")
	errNonASCIIAddress = errors.New("non-ASCII address without SMTPUTF8")
)

// checkAddress validates a mailbox that go-smtp's parser has already
// accepted. That parser is lenient: it takes any byte but space, tab and '>'
// in the domain and returns quoted local parts unquoted. This check refuses
// control characters, malformed domains and over-long addresses, and
// non-ASCII unless the transaction uses SMTPUTF8 (RFC 6531 §3.5).
func checkAddress(addr string, smtputf8 bool) error {
	if len(addr) == 0 || len(addr) > maxAddressLength {
		return errAddressSyntax
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return errAddressSyntax
	}
	local, domain := addr[:at], addr[at+1:]
	nonASCII := false
	for i := 0; i < len(local); i++ {
		c := local[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return errAddressSyntax
		case c >= 0x80:
			nonASCII = true
		}
	}
	if nonASCII {
		if !smtputf8 {
			return errNonASCIIAddress
		}
		if !utf8.ValidString(local) {
			return errAddressSyntax
		}
	}
	if strings.HasPrefix(domain, "[") {
		if !validAddressLiteral(domain) {
			return errAddressSyntax
		}
		return nil
	}
	if !smtputf8 && !isASCII(domain) {
		return errNonASCIIAddress
	}
	if !validDomain(domain, smtputf8) {
		return errAddressSyntax
	}
	return nil
}

// validDomain reports whether d is a dot-separated sequence of labels of
// letters, digits and hyphens (RFC 5321 §4.1.2 Domain), each 1 to 63 octets
// (RFC 1035 §2.3.4); with allowUTF8, labels may also hold non-ASCII UTF-8
// (U-labels, RFC 6531 §3.3). No trailing dot.
func validDomain(d string, allowUTF8 bool) bool {
	if d == "" || len(d) > maxDomainLength {
		return false
	}
	if allowUTF8 && !utf8.ValidString(d) {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			case c >= 0x80 && allowUTF8:
			default:
				return false
			}
		}
	}
	return true
}

// validAddressLiteral reports whether s is "[IPv4]" or "[IPv6:addr]"
// (RFC 5321 §4.1.3). General address literals are not accepted.
func validAddressLiteral(s string) bool {
	if len(s) < 3 || s[0] != '[' || s[len(s)-1] != ']' {
		return false
	}
	inner := s[1 : len(s)-1]
	if v6, ok := cutPrefixFold(inner, "IPv6:"); ok {
		a, err := netip.ParseAddr(v6)
		return err == nil && a.Is6() && a.Zone() == ""
	}
	a, err := netip.ParseAddr(inner)
	return err == nil && a.Is4()
}

// addressLiteral renders ip as an RFC 5321 §4.1.3 address literal.
func addressLiteral(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is4() {
		return "[" + ip.String() + "]"
	}
	return "[IPv6:" + ip.WithZone("").String() + "]"
}

// formatMailbox renders an address for a header: go-smtp hands over quoted
// local parts unquoted ("a b"@x arrives as a b@x), so a local part that is
// not a dot-atom is quoted again (RFC 5321 §4.1.2, RFC 5322 §3.2.4).
func formatMailbox(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local, domain := addr[:at], addr[at:]
	if isDotAtom(local) {
		return addr
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if local[i] == '"' || local[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String() + domain
}

// isDotAtom reports whether s is atext separated by single dots (RFC 5322
// §3.2.3), non-ASCII counting as atext (RFC 6532 §3.2).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80, c == '.':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
