package msgauth

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/kubemail/kubemail/mailserver/resolver"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
)

// spfZone is the DNS of the SPF tests.
var spfZone = []string{
	`pass.test. IN TXT "v=spf1 ip4:192.0.2.0/24 -all"`,
	`fail.test. IN TXT "v=spf1 -all"`,
	`soft.test. IN TXT "v=spf1 ~all"`,
	`neutral.test. IN TXT "v=spf1 ip4:198.51.100.1"`,
	`v6.test. IN TXT "v=spf1 ip6:2001:db8::/32 -all"`,
	`inc.test. IN TXT "v=spf1 include:pass.test -all"`,
	`incmissing.test. IN TXT "v=spf1 include:nothing.test -all"`,
	`redir.test. IN TXT "v=spf1 redirect=pass.test"`,
	`redirnone.test. IN TXT "v=spf1 redirect=nothing.test"`,
	`a.test. IN TXT "v=spf1 a/24 -all"`,
	`a.test. IN A 192.0.2.77`,
	`mx.test. IN TXT "v=spf1 mx -all"`,
	`mx.test. IN MX 10 mail.mx.test.`,
	`mail.mx.test. IN A 192.0.2.5`,
	`macro.test. IN TXT "v=spf1 exists:%{ir}.%{l1r-}.%{d2}._spf.macro.test -all"`,
	`5.2.0.192.bob.macro.test._spf.macro.test. IN A 127.0.0.2`,
	`two.test. IN TXT "v=spf1 -all"`,
	`two.test. IN TXT "v=spf1 +all"`,
	`syntax.test. IN TXT "v=spf1 ip4:192.0.2.0/33 -all"`,
	`unknownmech.test. IN TXT "v=spf1 foo -all"`,
	`broken.test. IN TXT "v=spf1 -all"`,
	`tempinc.test. IN TXT "v=spf1 include:broken.test -all"`,
	`voids.test. IN TXT "v=spf1 a:n1.test a:n2.test a:n3.test -all"`,
	`helo.example. IN TXT "v=spf1 ip4:192.0.2.9 -all"`,
	`notspf.test. IN TXT "v=spf10 -all"`,
	`mod.test. IN TXT "v=spf1 unknown=x ip4:192.0.2.5 -all"`,
	`dual.test. IN TXT "v=spf1 a:a.test//64 a:a.test/30 -all"`,
}

func init() {
	// loop.test includes itself: the 10-look-up limit ends it.
	spfZone = append(spfZone, `loop.test. IN TXT "v=spf1 include:loop.test -all"`)
	// many.test has 11 include terms.
	rec := "v=spf1"
	for i := range 11 {
		rec += fmt.Sprintf(" include:n%d.inc.test", i)
		spfZone = append(spfZone, fmt.Sprintf(`n%d.inc.test. IN TXT "v=spf1 ?all"`, i))
	}
	spfZone = append(spfZone, `many.test. IN TXT "`+rec+` -all"`)
}

func TestCheckSPF(t *testing.T) {
	srv := dnstest.Start(t, spfZone...)
	srv.Fail("broken.test", true)
	r, err := resolver.New(resolver.Options{Server: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		ip, from, helo string
		want           SPFResult
		domain         string
	}{
		"an address in an ip4 network passes":               {"192.0.2.5", "a@pass.test", "x", SPFPass, "pass.test"},
		"an address outside it fails at -all":               {"203.0.113.1", "a@pass.test", "x", SPFFail, "pass.test"},
		"~all soft-fails":                                   {"203.0.113.1", "a@soft.test", "x", SPFSoftFail, "soft.test"},
		"no match and no all is neutral":                    {"203.0.113.1", "a@neutral.test", "x", SPFNeutral, "neutral.test"},
		"an IPv6 client in an ip6 network passes":           {"2001:db8::1", "a@v6.test", "x", SPFPass, "v6.test"},
		"an IPv4-mapped client is compared as IPv4":         {"::ffff:192.0.2.5", "a@pass.test", "x", SPFPass, "pass.test"},
		"include passes when the included record passes":    {"192.0.2.5", "a@inc.test", "x", SPFPass, "inc.test"},
		"include of a domain without SPF is a permerror":    {"192.0.2.5", "a@incmissing.test", "x", SPFPermError, "incmissing.test"},
		"redirect takes the target's result":                {"203.0.113.1", "a@redir.test", "x", SPFFail, "redir.test"},
		"redirect to a domain without SPF is a permerror":   {"192.0.2.5", "a@redirnone.test", "x", SPFPermError, "redirnone.test"},
		"a with a CIDR length matches the network":          {"192.0.2.200", "a@a.test", "x", SPFPass, "a.test"},
		"mx matches the mail exchangers' addresses":         {"192.0.2.5", "a@mx.test", "x", SPFPass, "mx.test"},
		"mx does not match other addresses":                 {"192.0.2.6", "a@mx.test", "x", SPFFail, "mx.test"},
		"macros expand i, l and d with transformers":        {"192.0.2.5", "bob-x@macro.test", "x", SPFPass, "macro.test"},
		"two SPF records are a permerror":                   {"192.0.2.5", "a@two.test", "x", SPFPermError, "two.test"},
		"a bad CIDR is a permerror":                         {"192.0.2.5", "a@syntax.test", "x", SPFPermError, "syntax.test"},
		"an unknown mechanism is a permerror":               {"192.0.2.5", "a@unknownmech.test", "x", SPFPermError, "unknownmech.test"},
		"SERVFAIL is a temperror":                           {"192.0.2.5", "a@broken.test", "x", SPFTempError, "broken.test"},
		"a temperror in an include is a temperror":          {"192.0.2.5", "a@tempinc.test", "x", SPFTempError, "tempinc.test"},
		"more than two void look-ups are a permerror":       {"192.0.2.5", "a@voids.test", "x", SPFPermError, "voids.test"},
		"more than ten look-ups are a permerror":            {"192.0.2.5", "a@many.test", "x", SPFPermError, "many.test"},
		"an include loop ends at the look-up limit":         {"192.0.2.5", "a@loop.test", "x", SPFPermError, "loop.test"},
		"a domain without SPF is none":                      {"192.0.2.5", "a@nothing.test", "x", SPFNone, "nothing.test"},
		"v=spf10 is not an SPF record":                      {"192.0.2.5", "a@notspf.test", "x", SPFNone, "notspf.test"},
		"unknown modifiers are ignored":                     {"192.0.2.5", "a@mod.test", "x", SPFPass, "mod.test"},
		"a single-label domain is none":                     {"192.0.2.5", "a@localhost", "x", SPFNone, "localhost"},
		"the null sender checks the HELO name":              {"192.0.2.9", "", "helo.example", SPFPass, "helo.example"},
		"the null sender with a foreign address fails":      {"192.0.2.8", "", "helo.example", SPFFail, "helo.example"},
		"a dual CIDR uses the IPv4 length for IPv4 clients": {"192.0.2.78", "a@dual.test", "x", SPFPass, "dual.test"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, domain := CheckSPF(t.Context(), r, SPFRequest{IP: netip.MustParseAddr(tc.ip), MailFrom: tc.from, HELO: tc.helo})
			if got != tc.want || domain != tc.domain {
				t.Fatalf("CheckSPF = %s for %s, want %s for %s", got, domain, tc.want, tc.domain)
			}
		})
	}
}

func TestSPFMacros(t *testing.T) {
	c := &spfCheck{ip: netip.MustParseAddr("192.0.2.3"), sender: "strong-bad@email.example.com", local: "strong-bad",
		senderDomain: "email.example.com", helo: "mx.example.org"}
	v6 := &spfCheck{ip: netip.MustParseAddr("2001:db8::cb01"), sender: c.sender, local: c.local, senderDomain: c.senderDomain}
	// The examples of RFC 7208 §7.4.
	cases := map[string]struct {
		c          *spfCheck
		spec, want string
	}{
		"s":                 {c, "%{s}", "strong-bad@email.example.com"},
		"o":                 {c, "%{o}", "email.example.com"},
		"d":                 {c, "%{d}", "email.example.com"},
		"d4":                {c, "%{d4}", "email.example.com"},
		"d3":                {c, "%{d3}", "email.example.com"},
		"d2":                {c, "%{d2}", "example.com"},
		"d1":                {c, "%{d1}", "com"},
		"dr":                {c, "%{dr}", "com.example.email"},
		"d2r":               {c, "%{d2r}", "example.email"},
		"l":                 {c, "%{l}", "strong-bad"},
		"l-":                {c, "%{l-}", "strong.bad"},
		"lr":                {c, "%{lr}", "strong-bad"},
		"lr-":               {c, "%{lr-}", "bad.strong"},
		"l1r-":              {c, "%{l1r-}", "strong"},
		"ir with a suffix":  {c, "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
		"lr- with a suffix": {c, "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
		"IPv6 nibbles": {v6, "%{ir}.%{v}._spf.%{d2}",
			"1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"},
		"escapes": {c, "a%%b%_c%-d", "a%b c%20d"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := tc.c.expand(tc.spec, "email.example.com")
			if err != nil || got != tc.want {
				t.Fatalf("expand(%q) = %q, %v; want %q", tc.spec, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"%", "%{", "%{x}", "%{d0}", "%{d2q}", "%a"} {
		if got, err := c.expand(bad, "example.com"); err == nil {
			t.Errorf("expand(%q) = %q, want a permerror", bad, got)
		}
	}
}

// FuzzSPFRecord parses and expands arbitrary records: no panics, and a
// record either parses or is a permerror.
func FuzzSPFRecord(f *testing.F) {
	for _, s := range []string{"v=spf1 -all", "v=spf1 a:%{d}/24//64 mx ?all", "v=spf1 redirect=%{d2}",
		"v=spf1 exists:%{ir}.%{l1r-}.%{d2}._spf.test", "v=spf1 ip6:::1/0 include:x"} {
		f.Add(s)
	}
	c := &spfCheck{ip: netip.MustParseAddr("192.0.2.3"), sender: "a@b.example", local: "a", senderDomain: "b.example", helo: "h"}
	f.Fuzz(func(t *testing.T, rec string) {
		if len(rec) < 6 {
			return
		}
		terms, err := parseSPF(rec)
		if err != nil {
			return
		}
		for _, term := range terms {
			if term.arg != "" && term.name != "ip4" && term.name != "ip6" {
				_, _ = c.expand(term.arg, "b.example")
			}
		}
	})
}
