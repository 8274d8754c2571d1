package main

import (
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kubemail/kubemail/mailserver/config"
)

// renderedConfig is the part of the kubemail config the template must produce.
type renderedConfig struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Hostname   string `json:"hostname"`
	Listeners  map[string]struct {
		Address string `json:"address"`
	} `json:"listeners"`
	TLS     map[string]string `json:"tls"`
	Storage struct {
		Driver string `json:"driver"`
		Path   string `json:"path"`
	} `json:"storage"`
	Limits   map[string]int `json:"limits"`
	Outbound struct {
		Resolver string `json:"resolver"`
	} `json:"outbound"`
	Domains []struct {
		Name string `json:"name"`
	} `json:"domains"`
	Mailboxes []struct {
		Address      string `json:"address"`
		PasswordHash string `json:"passwordHash"`
	} `json:"mailboxes"`
}

func TestKubemailConfigTemplate(t *testing.T) {
	text, err := os.ReadFile("../kubemail-config.yaml.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	s := sizing{domain: "bench.test", concurrency: []int{1, 10, 50}, fullConcurrency: 10}
	// A bcrypt hash has '$' and '/', an argon2id PHC string ',' and '='; both must survive YAML.
	hashes := map[string]string{
		"a bcrypt hash is kept verbatim":    "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"an argon2id hash is kept verbatim": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g: #x",
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			d := configData{Hostname: "kubemail.bench.test", SMTP: "127.0.0.1:22525", POP3: "127.0.0.1:22110",
				IMAP: "127.0.0.1:22143", Ops: "127.0.0.1:22080", StoragePath: "/tmp/x y/store", Domain: s.domain, Connections: 1256}
			for _, a := range s.accounts() {
				d.Mailboxes = append(d.Mailboxes, mailboxData{Address: a, PasswordHash: hash})
			}
			out, err := renderConfig(string(text), d)
			if err != nil {
				t.Fatal(err)
			}
			var cfg renderedConfig
			if err := yaml.UnmarshalStrict(out, &cfg); err != nil {
				t.Fatalf("rendered config is not the expected YAML: %v\n%s", err, out)
			}
			if host, _, _ := strings.Cut(cfg.Outbound.Resolver, ":"); host != "127.0.0.1" {
				t.Errorf("outbound.resolver %q: the benchmark's DNS look-ups must stay on 127.0.0.1", cfg.Outbound.Resolver)
			}
			if cfg.APIVersion != "server.kubemail.io/v1alpha1" || cfg.Kind != "ServerConfig" || cfg.Hostname != d.Hostname {
				t.Errorf("header = %s %s %s", cfg.APIVersion, cfg.Kind, cfg.Hostname)
			}
			wantListeners := map[string]string{"smtp": d.SMTP, "pop3": d.POP3, "imap": d.IMAP, "ops": d.Ops}
			for k, v := range wantListeners {
				if cfg.Listeners[k].Address != v {
					t.Errorf("listeners.%s.address = %q, want %q", k, cfg.Listeners[k].Address, v)
				}
			}
			for _, k := range []string{"maxConnections", "maxConnectionsPerIP", "maxIMAPConnectionsPerUser", "maxPOP3ConnectionsPerUser"} {
				if cfg.Limits[k] != 1256 {
					t.Errorf("limits.%s = %d, want 1256", k, cfg.Limits[k])
				}
			}
			if cfg.Storage.Driver != "sqlite" || cfg.Storage.Path != d.StoragePath {
				t.Errorf("storage = %+v", cfg.Storage)
			}
			if len(cfg.Domains) != 1 || cfg.Domains[0].Name != "bench.test" {
				t.Errorf("domains = %+v", cfg.Domains)
			}
			want := []string{"ingest-c1@bench.test", "ingest-c10@bench.test", "ingest-c50@bench.test", "read@bench.test"}
			if len(cfg.Mailboxes) != len(want) {
				t.Fatalf("mailboxes = %+v, want %v", cfg.Mailboxes, want)
			}
			for i, m := range cfg.Mailboxes {
				if m.Address != want[i] || m.PasswordHash != hash {
					t.Errorf("mailbox %d = %+v, want %s with the hash", i, m, want[i])
				}
			}
		})
	}
}

func TestRenderConfigRefusesUnknownFields(t *testing.T) {
	if _, err := renderConfig("{{ .NoSuchField }}", configData{}); err == nil || !strings.Contains(err.Error(), "NoSuchField") {
		t.Errorf("a template naming a missing field rendered: %v", err)
	}
}

func TestSizingAccounts(t *testing.T) {
	tests := map[string]struct {
		s    sizing
		want []string
	}{
		"the full-mailbox run reuses an ingest mailbox": {
			s:    sizing{domain: "d.test", concurrency: []int{1, 10}, fullConcurrency: 10},
			want: []string{"ingest-c1@d.test", "ingest-c10@d.test", "read@d.test"},
		},
		"a full-mailbox concurrency outside the list gets its own mailbox": {
			s:    sizing{domain: "d.test", concurrency: []int{50}, fullConcurrency: 5},
			want: []string{"ingest-c50@d.test", "ingest-c5@d.test", "read@d.test"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.s.accounts(); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("accounts = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIntList(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    string
		wantErr bool
	}{
		"a list with spaces":        {in: "1, 10,50", want: "1,10,50"},
		"a single value":            {in: "7", want: "7"},
		"zero sessions are refused": {in: "1,0", wantErr: true},
		"words are refused":         {in: "ten", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var l intList
			err := l.Set(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Set(%q) = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if err == nil && l.String() != tc.want {
				t.Errorf("Set(%q) gives %q, want %q", tc.in, l.String(), tc.want)
			}
		})
	}
}

// TestKubemailConfigTemplateLoads renders the template as run.sh does and hands it to the server's own
// configuration parser, so a schema change in mailserver/config fails here, not in the middle of a run.
func TestKubemailConfigTemplateLoads(t *testing.T) {
	text, err := os.ReadFile("../kubemail-config.yaml.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	s := sizing{domain: "bench.test", concurrency: []int{1, 10, 50}, fullConcurrency: 10}
	d := configData{Hostname: "kubemail.bench.test", SMTP: "127.0.0.1:22525", POP3: "127.0.0.1:22110",
		IMAP: "127.0.0.1:22143", Ops: "127.0.0.1:22080", StoragePath: t.TempDir(), Domain: s.domain, Connections: 1256}
	// The sample hash of config/standalone/server.yaml ("demo-password").
	const hash = "$argon2id$v=19$m=19456,t=2,p=1$oh/8jTPSZnjlKf7D+jVh1A$51YvRpd1wlhwBislrCC/KYUUQWAnbVeSQ9z4SN8v+bM"
	for _, a := range s.accounts() {
		d.Mailboxes = append(d.Mailboxes, mailboxData{Address: a, PasswordHash: hash})
	}
	out, err := renderConfig(string(text), d)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(out)
	if err != nil {
		t.Fatalf("the server refuses the rendered config: %v\n%s", err, out)
	}
	if got := len(cfg.Mailboxes); got != len(s.accounts()) {
		t.Errorf("the server sees %d mailboxes, want %d", got, len(s.accounts()))
	}
	if cfg.Listeners.IMAP.Address != d.IMAP || cfg.Limits.MaxIMAPConnectionsPerUser != 1256 {
		t.Errorf("imap listener %q, IMAP connections per user %d", cfg.Listeners.IMAP.Address, cfg.Limits.MaxIMAPConnectionsPerUser)
	}
}
