package config

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOutboundRefusesInvalidSettings(t *testing.T) {
	cases := map[string]struct {
		mutate func(c *Config)
		want   []string
	}{
		"a resolver that is not an address": {func(c *Config) { c.Outbound.Resolver = "dns server" },
			[]string{`outbound.resolver: "dns server" is not an IP address or host:port`}},
		"a resolver on port 0": {func(c *Config) { c.Outbound.Resolver = "127.0.0.1:0" },
			[]string{`outbound.resolver: "127.0.0.1:0" is not an IP address or host:port: a host and a port other than 0 are required`}},
		"a port out of range": {func(c *Config) { c.Outbound.Port = 70000 },
			[]string{`outbound.port: must be a port from 1 to 65535, not 70000`}},
		"a negative expiry": {func(c *Config) { c.Outbound.Expiry = Dur(-time.Hour) },
			[]string{`outbound.expiry: must be positive, not -1h0m0s`}},
		"a zero retry delay": {func(c *Config) { c.Outbound.RetrySchedule = []Duration{Dur(time.Minute), Dur(0)} },
			[]string{`outbound.retrySchedule[1]: must be more than 0s`}},
		"negative concurrency": {func(c *Config) { c.Outbound.Workers, c.Outbound.MaxPerDestination = -1, -2 },
			[]string{`outbound.workers: must be positive, not -1`, `outbound.maxPerDestination: must be positive, not -2`}},
		"an unknown MTA-STS mode": {func(c *Config) { c.Outbound.MTASTS = "testing" },
			[]string{`outbound.mtaSTS: "testing" is not "enforce" or "off"`}},
		"a route without a domain": {func(c *Config) { c.Relay.Routes = []RelayRoute{{}} },
			[]string{`relay.routes[0].domain: required (a domain, "*.domain" for its subdomains, or "*" for every other domain)`}},
		"two routes for one domain": {func(c *Config) {
			c.Relay.Routes = []RelayRoute{{Domain: "Remote.test"}, {Domain: "remote.test"}}
		}, []string{`relay.routes[1].domain: duplicate route for "remote.test"`}},
		"a smarthost without a host and with an unknown TLS mode": {func(c *Config) {
			c.Relay.Routes = []RelayRoute{{Domain: "*", Smarthost: &Smarthost{TLS: "none"}}}
		}, []string{`relay.routes[0].smarthost.host: required`,
			`relay.routes[0].smarthost.tls: "none" is not "implicit", "starttls-required" or "starttls-opportunistic"`}},
		"an allowed network that is not a CIDR": {func(c *Config) { c.Relay.AllowedNetworks = []string{"10.1.2.3"} },
			[]string{`relay.allowedNetworks[0]: "10.1.2.3" is not a CIDR such as 10.0.0.0/8`}},
		"a rate limit without a rate": {func(c *Config) { c.Relay.RateLimits = []RateLimit{{Sender: "*"}} },
			[]string{`relay.rateLimits[0].recipientsPerHour: must be more than 0, not 0`}},
		"a rate limit for a bad sender": {func(c *Config) {
			c.Relay.RateLimits = []RateLimit{{Sender: "@bad domain", RecipientsPerHour: 1}}
		}, []string{`relay.rateLimits[0].sender: "@bad domain" is not "@" and a domain`}},
		"an admin endpoint on every address": {func(c *Config) { c.Listeners.Admin.Address = ":9381" },
			[]string{`listeners.admin.address: ":9381" must be a loopback address such as 127.0.0.1:9381`}},
		"an admin endpoint on a public address": {func(c *Config) { c.Listeners.Admin.Address = "192.0.2.1:9381" },
			[]string{`listeners.admin.address: "192.0.2.1:9381" must be a loopback address`}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			_, err := New(c)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("New: %v, want a ValidationError", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not contain %q", err, want)
				}
			}
			if len(ve.Errors) != len(tc.want) {
				t.Errorf("%d errors, want %d: %v", len(ve.Errors), len(tc.want), err)
			}
		})
	}
}

func TestOutboundDefaultsAreNotWrittenIntoTheDocument(t *testing.T) {
	plain, err := New(validConfig())
	if err != nil {
		t.Fatal(err)
	}
	y, err := plain.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"outbound", "relay", "admin"} {
		if strings.Contains(string(y), field+":") {
			t.Errorf("canonical YAML of a configuration without %s mentions it:\n%s", field, y)
		}
	}
	p := plain.OutboundPolicy()
	want := OutboundPolicy{Port: 25, Expiry: 120 * time.Hour, DelayNotice: 4 * time.Hour,
		RetrySchedule: DefaultRetrySchedule(), Workers: DefaultWorkers, MaxPerDestination: DefaultMaxPerDestination, MTASTS: true}
	if p.Port != want.Port || p.Expiry != want.Expiry || p.DelayNotice != want.DelayNotice || p.Workers != want.Workers ||
		p.MaxPerDestination != want.MaxPerDestination || p.MTASTS != want.MTASTS || !slices.Equal(p.RetrySchedule, want.RetrySchedule) {
		t.Fatalf("defaults %+v, want %+v", p, want)
	}
	if r := plain.Route("remote.test"); r.Smarthost != nil || r.Key != "remote.test" {
		t.Fatalf("route without relay settings %+v, want direct", r)
	}
	if plain.RelayAllowed(netip.MustParseAddr("127.0.0.1")) {
		t.Fatal("relay allowed without allowedNetworks")
	}
}

func TestOutboundSettingsAreCompiled(t *testing.T) {
	c := validConfig()
	c.Outbound = Outbound{Resolver: "127.0.0.1", Port: 2525, RetrySchedule: []Duration{Dur(time.Second)}, MTASTS: MTASTSOff}
	c.Listeners.Admin.Address = "127.0.0.1:9381"
	c.Relay = Relay{
		Routes: []RelayRoute{
			{Domain: "*", Smarthost: &Smarthost{Host: "Relay.Example.net", CredentialsFile: "/creds"}},
			{Domain: "Direct.test"},
			{Domain: "tls.test", Smarthost: &Smarthost{Host: "192.0.2.7", TLS: SmarthostImplicitTLS}},
			{Domain: "*.Corp.test"},
			{Domain: "*.eu.corp.test", Smarthost: &Smarthost{Host: "eu-relay.test"}},
		},
		AllowedNetworks: []string{"10.1.2.3/8", "::1/128"},
		RateLimits: []RateLimit{{Sender: "*", RecipientsPerHour: 100}, {Sender: "@Example.test", RecipientsPerHour: 50},
			{Sender: "Bulk@example.test", RecipientsPerHour: 1000}},
	}
	cfg, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.OutboundPolicy()
	if p.Resolver != "127.0.0.1:53" || p.Port != 2525 || p.MTASTS || !slices.Equal(p.RetrySchedule, []time.Duration{time.Second}) {
		t.Fatalf("policy %+v", p)
	}
	routes := map[string]struct {
		key  string
		host string
		port int
		tls  string
	}{
		"other.test":  {"smarthost:relay.example.net:587", "relay.example.net", 587, SmarthostStartTLSRequired},
		"DIRECT.test": {"direct.test", "", 0, ""},
		"tls.test":    {"smarthost:192.0.2.7:465", "192.0.2.7", 465, SmarthostImplicitTLS},
		// Subdomain patterns: the nearest applies; the domain itself is not its own subdomain.
		"mail.corp.test":     {"mail.corp.test", "", 0, ""},
		"a.b.corp.test":      {"a.b.corp.test", "", 0, ""},
		"corp.test":          {"smarthost:relay.example.net:587", "relay.example.net", 587, SmarthostStartTLSRequired},
		"paris.eu.corp.test": {"smarthost:eu-relay.test:587", "eu-relay.test", 587, SmarthostStartTLSRequired},
	}
	for domain, want := range routes {
		r := cfg.Route(domain)
		if r.Key != want.key {
			t.Errorf("Route(%s).Key = %q, want %q", domain, r.Key, want.key)
		}
		if want.host == "" {
			if r.Smarthost != nil {
				t.Errorf("Route(%s) has a smarthost, want direct", domain)
			}
			continue
		}
		if r.Smarthost == nil || r.Smarthost.Host != want.host || r.Smarthost.Port != want.port || r.Smarthost.TLS != want.tls {
			t.Errorf("Route(%s).Smarthost = %+v, want %+v", domain, r.Smarthost, want)
		}
	}
	for ip, want := range map[string]bool{"10.200.0.1": true, "::ffff:10.0.0.1": true, "::1": true, "192.0.2.1": false} {
		if got := cfg.RelayAllowed(netip.MustParseAddr(ip)); got != want {
			t.Errorf("RelayAllowed(%s) = %v, want %v", ip, got, want)
		}
	}
	for sender, want := range map[string]int{"bulk@EXAMPLE.test": 1000, "alice@example.test": 50, "x@remote.test": 100, "": 100} {
		if got := cfg.SenderRateLimit(sender); got != want {
			t.Errorf("SenderRateLimit(%q) = %d, want %d", sender, got, want)
		}
	}
	// The document round-trips with the normalised values.
	y, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(y)
	if err != nil {
		t.Fatalf("re-parsing the canonical YAML: %v\n%s", err, y)
	}
	if again.Hash() != cfg.Hash() {
		t.Fatalf("canonical YAML does not round-trip:\n%s", y)
	}
}
