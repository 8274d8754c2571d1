package mail

import (
	"strings"
	"testing"
)

func TestCanonicalAddress(t *testing.T) {
	cases := map[string]struct {
		in, want, err string
	}{
		"a plain address is lower-cased":          {in: "Bob@Example.TEST", want: "bob@example.test"},
		"atext specials are allowed":              {in: "a.b+tag!#$%&'*/=?^_`{|}~-x@example.test", want: "a.b+tag!#$%&'*/=?^_`{|}~-x@example.test"},
		"a UTF-8 local part is allowed":           {in: "Jörg@example.test", want: "jörg@example.test"},
		"an IDN domain becomes its A-label":       {in: "a@Bücher.Example", want: "a@xn--bcher-kva.example"},
		"an A-label domain stays":                 {in: "a@xn--bcher-kva.example", want: "a@xn--bcher-kva.example"},
		"a single-label domain is allowed":        {in: "root@localhost", want: "root@localhost"},
		"no @ is refused":                         {in: "bob", err: "missing @"},
		"an empty local part is refused":          {in: "@example.test", err: "empty local part"},
		"an empty domain is refused":              {in: "bob@", err: "domain: empty"},
		"a leading dot is refused":                {in: ".bob@example.test", err: "misplaced dot"},
		"two dots in a row are refused":           {in: "b..ob@example.test", err: "misplaced dot"},
		"a space is refused":                      {in: "b ob@example.test", err: `invalid character ' '`},
		"a quoted local part is refused":          {in: `"bob"@example.test`, err: `invalid character '"'`},
		"two @ are refused":                       {in: "a@b@example.test", err: `invalid character '@'`},
		"a local part over 64 octets is refused":  {in: strings.Repeat("a", 65) + "@example.test", err: "longer than 64"},
		"an address over 254 octets is refused":   {in: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".example", err: "longer than 254"},
		"invalid UTF-8 is refused":                {in: "a\xffb@example.test", err: "not valid UTF-8"},
		"a C1 control is refused":                 {in: "a\u0085@example.test", err: "invalid character"},
		"an underscore in the domain is refused":  {in: "a@ex_ample.test", err: `invalid character '_'`},
		"a trailing dot is refused":               {in: "a@example.test.", err: "must not end with a dot"},
		"an address literal is refused":           {in: "a@[192.0.2.1]", err: "address literals"},
		"a numeric top-level label is refused":    {in: "a@192.0.2.1", err: "all digits"},
		"a hyphen at a label's edge is refused":   {in: "a@-example.test", err: "hyphen"},
		"a label over 63 characters is refused":   {in: "a@" + strings.Repeat("x", 64) + ".test", err: "longer than 63"},
		"a bad punycode label is refused":         {in: "a@xn--zz.example", err: "not a valid internationalised domain name"},
		"an empty label is refused":               {in: "a@example..test", err: "empty label"},
		"a disallowed Unicode domain is refused":  {in: "a@exa\u2028mple.test", err: "not a valid internationalised"},
		"a domain over 253 characters is refused": {in: "a@" + strings.Repeat("abcdefghi.", 26) + "test", err: "longer than 253"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := CanonicalAddress(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("CanonicalAddress(%q) = %q, %v; want error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CanonicalAddress(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestFoldAndDomain(t *testing.T) {
	if got := Fold("  Bob@Example.ORG\t"); got != "bob@example.org" {
		t.Errorf("Fold = %q", got)
	}
	for in, want := range map[string]string{"bob@Example.ORG": "example.org", "a@b@C": "c", "no-at": "", "trailing@": ""} {
		if got := Domain(in); got != want {
			t.Errorf("Domain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestXText(t *testing.T) {
	if got := XText("a+b=c d\xff"); got != "a+2Bb+3Dc+20d+FF" {
		t.Fatalf("XText = %q", got)
	}
}
