package configsource

import (
	"strings"
	"testing"

	"github.com/kubemail/kubemail/mailserver/config"
)

// podConfig is a configuration as the operator compiles it for a pod.
func podConfig() config.Config {
	c := validConfig()
	c.Listeners = config.Listeners{
		SMTP: config.Listener{Address: ":2525"}, IMAPS: config.Listener{Address: ":1993"},
		Ops: config.Listener{Address: ":9380"},
	}
	c.Storage.Path = "/var/lib/kubemail"
	c.TLS = config.TLS{CertFile: "/etc/kubemail/tls/tls.crt", KeyFile: "/etc/kubemail/tls/tls.key"}
	c.Domains[0].DKIM = &config.DKIM{Selector: "s1", KeyFile: "/etc/kubemail/dkim/example.test.pem"}
	c.Relay.Routes = []config.RelayRoute{{Domain: "*", Smarthost: &config.Smarthost{
		Host: "relay.example.net", Port: 587, TLS: config.SmarthostStartTLSRequired,
		CredentialsFile: "/etc/kubemail/relay/default", CAFile: "relative/ca.pem",
	}}}
	return c
}

func TestLocalRebase(t *testing.T) {
	publishAll := map[int]string{2525: "127.0.0.1:40025", 1993: "127.0.0.1:40993", 9380: "127.0.0.1:40380"}
	for _, tc := range []struct {
		name    string
		local   Local
		check   func(t *testing.T, c *config.Config)
		wantErr string
	}{
		{
			name:  "paths move under the root and listeners to their published addresses",
			local: Local{Root: "/tmp/pod", Publish: publishAll, Resolver: "127.0.0.1:5353"},
			check: func(t *testing.T, c *config.Config) {
				if c.Outbound.Resolver != "127.0.0.1:5353" {
					t.Errorf("resolver %q", c.Outbound.Resolver)
				}
				got := []string{c.Listeners.SMTP.Address, c.Listeners.IMAPS.Address, c.Listeners.Ops.Address,
					c.Storage.Path, c.TLS.CertFile, c.TLS.KeyFile, c.Domains[0].DKIM.KeyFile,
					c.Relay.Routes[0].Smarthost.CredentialsFile, c.Relay.Routes[0].Smarthost.CAFile}
				want := []string{"127.0.0.1:40025", "127.0.0.1:40993", "127.0.0.1:40380",
					"/tmp/pod/var/lib/kubemail", "/tmp/pod/etc/kubemail/tls/tls.crt", "/tmp/pod/etc/kubemail/tls/tls.key",
					"/tmp/pod/etc/kubemail/dkim/example.test.pem", "/tmp/pod/etc/kubemail/relay/default", "relative/ca.pem"}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("rebased to\n%v\nwant\n%v", got, want)
				}
			},
		},
		{
			name:  "no published ports keeps the listeners",
			local: Local{Root: "/tmp/pod"},
			check: func(t *testing.T, c *config.Config) {
				if c.Listeners.SMTP.Address != ":2525" {
					t.Errorf("smtp listens on %q", c.Listeners.SMTP.Address)
				}
			},
		},
		{
			name:    "a listener on a port not published is refused",
			local:   Local{Publish: map[int]string{2525: "127.0.0.1:40025"}},
			wantErr: "listeners.imaps: port 1993 is not published; listeners.ops: port 9380 is not published",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := compile(t, podConfig())
			before := src.Hash()
			got, err := tc.local.rebase(src)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("rebase: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, got)
			if src.Hash() != before || src.Domains[0].DKIM.KeyFile != "/etc/kubemail/dkim/example.test.pem" ||
				src.Relay.Routes[0].Smarthost.CredentialsFile != "/etc/kubemail/relay/default" {
				t.Error("rebase changed the source configuration")
			}
		})
	}
}

func TestSourceHashesMapRebasedToSource(t *testing.T) {
	var h sourceHashes
	if got := h.of("x"); got != "x" {
		t.Errorf("unknown hash maps to %q", got)
	}
	h.add("first", "source-1")
	for i := range 40 {
		h.add(strings.Repeat("r", i+1), "other")
	}
	h.add("rebased", "source")
	if got := h.of("rebased"); got != "source" {
		t.Errorf("the latest rebased hash maps to %q, want source", got)
	}
	if got := h.of("first"); got != "first" {
		t.Errorf("an old rebased hash is still remembered: %q", got)
	}
	var nilSource *Secrets
	if got := nilSource.SourceHash("y"); got != "y" {
		t.Errorf("a server reading a file reports %q", got)
	}
}

func TestParsePublish(t *testing.T) {
	for _, tc := range []struct{ name, in, wantErr string }{
		{"a port and an address", "2525=127.0.0.1:40025", ""},
		{"no equals sign", "2525", "want CONTAINERPORT=HOST:PORT"},
		{"a port out of range", "70000=127.0.0.1:1", "not a port number"},
		{"an address without a port", "2525=127.0.0.1", "missing port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParsePublish(tc.in)
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("ParsePublish(%q) = %v, want %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

// compile validates c or fails the test.
func compile(t *testing.T, c config.Config) *config.Config {
	t.Helper()
	cfg, err := config.New(c)
	if err != nil {
		t.Fatalf("building the test configuration: %v", err)
	}
	return cfg
}
