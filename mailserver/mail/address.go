package mail

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Address syntax and comparison: the one place in the tree where addresses
// and domains are parsed and normalised.
//
// Domains are compared in their canonical form: IDNA A-labels ("xn--…",
// UTS #46 lookup mapping), lower-cased, without a trailing dot.
//
// Local parts are compared case-insensitively too: "Bob@example.test" and
// "bob@example.test" are the same mailbox. RFC 5321 §2.4 lets the receiving
// server decide; folding case is what users expect and what Dovecot
// (auth_username_format=%Lu) and most providers do, and it keeps one person
// from owning two accounts that differ only in case. Canonical addresses are
// lower-cased (Unicode simple folding via strings.ToLower for SMTPUTF8 local
// parts, RFC 6531).
//
// Accepted local parts are dot-atoms (RFC 5322 §3.2.3) of atext plus
// non-ASCII UTF-8 (RFC 6532 §3.2), at most 64 octets (RFC 5321 §4.5.3.1.1);
// quoted local parts are not accepted in the configuration.

// maxAddressLength is the longest address, RFC 5321 §4.5.3.1.3 (path of 256
// octets minus the angle brackets).
const maxAddressLength = 254

// idnaProfile maps and validates domain names for lookup (UTS #46
// non-transitional, STD3 ASCII rules: letters, digits and hyphens only).
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.StrictDomainName(true),
	idna.BidiRule(),
	idna.ValidateLabels(true),
)

// CanonicalDomain returns the canonical form of a domain or host name, or an
// error saying why it is not one.
func CanonicalDomain(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty")
	}
	if strings.HasSuffix(name, ".") {
		return "", errors.New("must not end with a dot")
	}
	if strings.HasPrefix(name, "[") {
		return "", errors.New("address literals are not domain names")
	}
	a := name
	if IsASCII(name) {
		// Check plain names first, for a precise message.
		a = strings.ToLower(name)
		for _, l := range strings.Split(a, ".") {
			if err := CheckLabel(l); err != nil {
				return "", err
			}
		}
	}
	a, err := idnaProfile.ToASCII(a)
	if err != nil {
		return "", errors.New("not a valid internationalised domain name")
	}
	a = strings.ToLower(a)
	if len(a) > 253 {
		return "", errors.New("longer than 253 characters")
	}
	labels := strings.Split(a, ".")
	for _, l := range labels {
		if err := CheckLabel(l); err != nil {
			return "", err
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return "", errors.New("the last label must not be all digits") // RFC 3696 §2
	}
	return a, nil
}

// CheckLabel checks one lower-case ASCII label (of a domain, or of a DKIM
// selector) against RFC 1035 §2.3.1 (as relaxed by
// RFC 1123 §2.1 for a leading digit).
func CheckLabel(l string) error {
	switch {
	case l == "":
		return errors.New("empty label")
	case len(l) > 63:
		return errors.New("label longer than 63 characters")
	case l[0] == '-' || l[len(l)-1] == '-':
		return errors.New("label starts or ends with a hyphen")
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("invalid character %q", c)
		}
	}
	return nil
}

// IsASCII reports whether s holds only ASCII characters.
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// CanonicalAddress returns the canonical form of an email address
// (lower-cased local part, canonical domain), or an error saying why it is
// not a valid address.
func CanonicalAddress(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", errors.New("missing @")
	}
	local, domain := addr[:at], addr[at+1:]
	if err := checkLocalPart(local); err != nil {
		return "", err
	}
	d, err := CanonicalDomain(domain)
	if err != nil {
		return "", fmt.Errorf("domain: %w", err)
	}
	out := strings.ToLower(local) + "@" + d
	if len(out) > maxAddressLength {
		return "", fmt.Errorf("longer than %d characters", maxAddressLength)
	}
	return out, nil
}

// checkLocalPart checks a dot-atom local part.
func checkLocalPart(local string) error {
	switch {
	case local == "":
		return errors.New("empty local part")
	case len(local) > 64:
		return errors.New("local part longer than 64 octets")
	case !utf8.ValidString(local):
		return errors.New("local part is not valid UTF-8")
	case local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, ".."):
		return errors.New("misplaced dot in local part")
	}
	for _, r := range local {
		if r < utf8.RuneSelf && r != '.' && !isAtext(byte(r)) { //nolint:gosec // G115: bounded: r < utf8.RuneSelf is checked first
			return fmt.Errorf("invalid character %q in local part", r)
		}
		if r >= 0x80 && r <= 0x9f { // C1 controls are not utext
			return fmt.Errorf("invalid character %q in local part", r)
		}
	}
	return nil
}

// isAtext reports whether c is RFC 5322 §3.2.3 atext.
func isAtext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// Domain returns the domain of an address, lower-cased: what follows the
// last "@", or "" when there is none. It does not validate: a canonical
// address gives its canonical domain, anything else a best guess for a
// lookup key.
func Domain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}

// Fold returns the lookup key of a name that may not be a valid address
// (a login name, a stored account key): trimmed and lower-cased. Canonical
// addresses are their own key.
func Fold(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}
