package smtp

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

// lineVerdict is what a message's lines deserve, computed a second way:
// split at CRLF, every piece must be free of CR and LF and short enough.
func lineVerdict(data []byte, max int) (bare, long bool) {
	for _, line := range bytes.Split(data, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			bare = true
		}
		if len(line) > max-2 {
			long = true
		}
	}
	return bare, long
}

func FuzzLineChecker(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n"), uint(3), uint8(20))
	f.Add([]byte("a\n.\nb"), uint(2), uint8(20))
	f.Add([]byte("a\r.\r\n"), uint(1), uint8(5))
	f.Add([]byte("\r\n.\r"), uint(4), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, split uint, m uint8) {
		max := 3 + int(m%64)
		k := int(split % uint(len(data)+1))
		whole := &lineChecker{max: max}
		_, _ = whole.Write(data)
		parts := &lineChecker{max: max}
		_, _ = parts.Write(data[:k])
		_, _ = parts.Write(data[k:])
		got := whole.Close()
		if split := parts.Close(); split != got {
			t.Fatalf("verdict depends on the write boundary: %v whole, %v split at %d", got, split, k)
		}
		bare, long := lineVerdict(data, max)
		if (got == nil) != (!bare && !long) {
			t.Fatalf("verdict %v for data with bare=%v long=%v", got, bare, long)
		}
		switch got {
		case errBareCR:
			if !bytes.Contains(data, []byte("\r")) {
				t.Fatal("bare CR reported without a CR")
			}
		case errBareLF:
			if !bytes.Contains(data, []byte("\n")) {
				t.Fatal("bare LF reported without an LF")
			}
		case errLineTooLong:
			if !long {
				t.Fatal("long line reported where none is")
			}
		}
	})
}

func FuzzCheckAddress(f *testing.F) {
	for _, seed := range []string{"alice@example.com", "a b@example.com", "root@[192.0.2.1]",
		"root@[IPv6:2001:db8::1]", "j\u00f6rg@b\u00fccher.example", "x@exa\x00mple.com", "@", "a@b@c"} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, addr string, smtputf8 bool) {
		err := checkAddress(addr, smtputf8)
		if err != nil {
			return
		}
		if len(addr) > maxAddressLength {
			t.Fatalf("accepted %d octets", len(addr))
		}
		for i := 0; i < len(addr); i++ {
			if c := addr[i]; c < 0x20 || c == 0x7f || (c >= 0x80 && !smtputf8) {
				t.Fatalf("accepted %q with octet %#x (SMTPUTF8 %v)", addr, c, smtputf8)
			}
		}
		if smtputf8 && !utf8.ValidString(addr) {
			t.Fatalf("accepted invalid UTF-8 %q", addr)
		}
		at := strings.LastIndexByte(addr, '@')
		if at <= 0 || at == len(addr)-1 {
			t.Fatalf("accepted %q without local part or domain", addr)
		}
		if !smtputf8 && checkAddress(addr, true) != nil {
			t.Fatalf("%q accepted without SMTPUTF8 but refused with it", addr)
		}
	})
}

func FuzzParsePlain(f *testing.F) {
	f.Add([]byte("\x00alice@example.com\x00secret"))
	f.Add([]byte("alice\x00alice\x00pw"))
	f.Add([]byte("garbage"))
	f.Add([]byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		authzid, user, pass, err := parsePlain(msg)
		if err != nil {
			return
		}
		if got := authzid + "\x00" + user + "\x00" + pass; got != string(msg) {
			t.Fatalf("parts %q do not rebuild the message %q", got, msg)
		}
		if user == "" || pass == "" || len(user) > maxSASLIdentity || len(pass) > maxSASLPassword {
			t.Fatalf("accepted user %d octets, password %d octets", len(user), len(pass))
		}
		for _, s := range []string{authzid, user, pass} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\r\n") {
				t.Fatalf("accepted field %q", s)
			}
		}
	})
}

// FuzzReceivedHeader feeds arbitrary HELO names (the one untrusted field
// that reaches the header unvalidated) through the Received header.
func FuzzReceivedHeader(f *testing.F) {
	f.Add("client.test", true)
	f.Add("[192.0.2.1]", false)
	f.Add("evil\r\nBcc: x@y", false)
	f.Add("(comment) \\ \u00fc", true)
	f.Fuzz(func(t *testing.T, helo string, utf8 bool) {
		ri := receivedInfo{HELO: helo, RemoteIP: netip.MustParseAddr("192.0.2.1"), Hostname: "mx.test",
			ID: "ID", UTF8: utf8, At: fixedNow}
		h := ri.header()
		if !bytes.HasPrefix(h, []byte("Received: from ")) || !bytes.HasSuffix(h, []byte("\r\n")) {
			t.Fatalf("malformed header %q", h)
		}
		if bare, long := lineVerdict(h, 998+2); bare || long {
			t.Fatalf("header %q has bare line endings (%v) or lines over 998 octets (%v)", h, bare, long)
		}
		lines := strings.Split(strings.TrimSuffix(string(h), "\r\n"), "\r\n")
		for _, l := range lines[1:] {
			if !strings.HasPrefix(l, "\t") {
				t.Fatalf("continuation line %q of %q is not folded", l, h)
			}
		}
		if strings.Count(string(h), "(") != strings.Count(string(h), ")") {
			t.Fatalf("unbalanced comment in %q", h)
		}
	})
}
