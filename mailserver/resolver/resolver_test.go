package resolver_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/kubemail/kubemail/mailserver/resolver"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
)

func newResolver(t *testing.T, records ...string) (*resolver.DNS, *dnstest.Server) {
	t.Helper()
	srv := dnstest.Start(t, records...)
	r, err := resolver.New(resolver.Options{Server: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	return r, srv
}

func TestLookups(t *testing.T) {
	big := make([]string, 0, 40)
	for i := range 40 {
		big = append(big, fmt.Sprintf(`big.test. 300 IN TXT "record %02d %s"`, i, strings.Repeat("x", 150)))
	}
	r, srv := newResolver(t, append(big,
		"b.test. 300 IN MX 20 mx2.b.test.",
		"b.test. 300 IN MX 10 mx1.b.test.",
		"b.test. 300 IN TXT \"v=spf1 \" \"ip4:192.0.2.0/24 -all\"",
		"mx1.b.test. 300 IN A 127.0.0.1",
		"mx1.b.test. 300 IN AAAA ::1",
		"alias.b.test. 300 IN CNAME mx1.b.test.",
		"nomx.test. 300 IN A 192.0.2.9",
		"broken.test. 300 IN A 192.0.2.10",
	)...)
	srv.Fail("broken.test", true)
	ctx := t.Context()

	t.Run("MX records come sorted by preference", func(t *testing.T) {
		mx, err := r.LookupMX(ctx, "b.test")
		if err != nil || len(mx) != 2 || mx[0].Host != "mx1.b.test." || mx[0].Pref != 10 || mx[1].Host != "mx2.b.test." {
			t.Fatalf("LookupMX = %v, %v", mx, err)
		}
	})
	t.Run("a domain without MX records gives none and no error", func(t *testing.T) {
		mx, err := r.LookupMX(ctx, "nomx.test")
		if err != nil || len(mx) != 0 {
			t.Fatalf("LookupMX = %v, %v", mx, err)
		}
	})
	t.Run("a domain that does not exist is not found", func(t *testing.T) {
		_, err := r.LookupMX(ctx, "nowhere.test")
		if !resolver.IsNotFound(err) || resolver.IsTemporary(err) {
			t.Fatalf("LookupMX error %v, want not found", err)
		}
	})
	t.Run("SERVFAIL is temporary", func(t *testing.T) {
		_, err := r.LookupIP(ctx, "broken.test")
		if !resolver.IsTemporary(err) {
			t.Fatalf("LookupIP error %v, want temporary", err)
		}
	})
	t.Run("addresses of both families, through a CNAME", func(t *testing.T) {
		ips, err := r.LookupIP(ctx, "alias.b.test")
		want := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}
		if err != nil || !slices.Equal(ips, want) {
			t.Fatalf("LookupIP = %v, %v; want %v", ips, err, want)
		}
	})
	t.Run("TXT strings are concatenated", func(t *testing.T) {
		txt, err := r.LookupTXT(ctx, "b.test")
		if err != nil || !slices.Equal(txt, []string{"v=spf1 ip4:192.0.2.0/24 -all"}) {
			t.Fatalf("LookupTXT = %q, %v", txt, err)
		}
		if _, err := r.LookupTXT(ctx, "mx1.b.test"); !resolver.IsNotFound(err) {
			t.Fatalf("LookupTXT of a name without TXT: %v, want not found", err)
		}
	})
	t.Run("a truncated answer is asked again over TCP", func(t *testing.T) {
		txt, err := r.LookupTXT(ctx, "big.test")
		if err != nil || len(txt) != 40 {
			t.Fatalf("LookupTXT(big.test) = %d records, %v", len(txt), err)
		}
	})
}

func TestLoopbackOnlyRefusesOtherServers(t *testing.T) {
	t.Setenv(resolver.LoopbackOnlyEnv, "1")
	tests := map[string]struct {
		server string
		ok     bool
	}{
		"a DNS server on 127.0.0.1 is allowed":    {"127.0.0.1:5353", true},
		"a DNS server on ::1 is allowed":          {"[::1]:53", true},
		"a private-network server is refused":     {"10.255.255.53:53", false},
		"a public server is refused":              {"192.0.2.53:53", false},
		"a name instead of an address is refused": {"localhost:53", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := resolver.New(resolver.Options{Server: tc.server})
			if (err == nil) != tc.ok {
				t.Fatalf("New(%q) = %v, want ok %v", tc.server, err, tc.ok)
			}
		})
	}
}
