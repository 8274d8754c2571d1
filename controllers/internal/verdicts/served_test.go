package verdicts

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// config returns a compiled configuration with the given hash.
func config(hash string) *Config {
	return &Config{Hash: hash, Mailboxes: map[string]string{}, Aliases: map[string]bool{}, Domains: map[string]bool{}, DKIM: map[string]bool{}}
}

// hashes lists the hashes of configs, "nil" for nil.
func hashes(configs ...*Config) []string {
	out := make([]string, len(configs))
	for i, c := range configs {
		out[i] = "nil"
		if c != nil {
			out[i] = c.Hash
		}
	}
	return out
}

func TestPublishCompiled(t *testing.T) {
	tests := map[string]struct {
		// publish lists the hashes compiled, in order; "" publishes a
		// judgement without a configuration.
		publish []string
		latest  string // "nil" for none
		// remembered and forgotten are hashes CompiledAs does and does not find.
		remembered, forgotten []string
	}{
		"nothing compiled, nothing remembered": {
			publish: []string{""}, latest: "nil", forgotten: []string{"h1"},
		},
		"the configuration compiled is the latest and remembered": {
			publish: []string{"h1"}, latest: "h1", remembered: []string{"h1"},
		},
		"a judgement without a configuration keeps the latest": {
			publish: []string{"h1", ""}, latest: "h1", remembered: []string{"h1"},
		},
		"earlier configurations stay remembered": {
			publish: []string{"h1", "h2", "h3"}, latest: "h3", remembered: []string{"h1", "h2", "h3"},
		},
		"the same configuration again takes no room in the history": {
			// Remembered each time, the eight h1 would push h0 out.
			publish:    []string{"h0", "h1", "h1", "h1", "h1", "h1", "h1", "h1", "h1", "h2", "h3", "h4", "h5", "h6", "h7"},
			latest:     "h7",
			remembered: []string{"h0", "h1", "h7"},
		},
		"only the last historyLength configurations are remembered": {
			publish:    []string{"h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"},
			latest:     "h8",
			remembered: []string{"h1", "h8"}, forgotten: []string{"h0"},
		},
		"the empty hash is never remembered": {
			publish: []string{"h1"}, latest: "h1", forgotten: []string{""},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := New()
			for _, h := range tc.publish {
				var c *Config
				if h != "" {
					c = config(h)
				}
				s.Publish(ns, "mx", fixture(), none(), c)
			}
			if got := hashes(s.Latest(ns, "mx"))[0]; got != tc.latest {
				t.Errorf("Latest = %s, want %s", got, tc.latest)
			}
			for _, h := range tc.remembered {
				if c := s.CompiledAs(ns, "mx", h); c == nil || c.Hash != h {
					t.Errorf("CompiledAs(%q) = %v, want the configuration", h, hashes(c))
				}
			}
			for _, h := range tc.forgotten {
				if c := s.CompiledAs(ns, "mx", h); c != nil {
					t.Errorf("CompiledAs(%q) = %v, want nil", h, hashes(c))
				}
			}
			if c := s.Latest(ns, "other"); c != nil {
				t.Errorf("another MailServer's Latest = %v, want nil", hashes(c))
			}
		})
	}
	if historyLength != 8 {
		t.Fatalf("historyLength is %d; the cases above assume 8", historyLength)
	}
}

// server returns a MailServer whose status says it compiled configHash,
// served servedHash, and whether ConfigApplied is True.
func server(configHash, servedHash string, applied bool) *mailv1.MailServer {
	ms := &mailv1.MailServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mx"}}
	ms.Status.ConfigHash, ms.Status.ServedConfigHash = configHash, servedHash
	status := metav1.ConditionFalse
	if applied {
		status = metav1.ConditionTrue
	}
	ms.Status.Conditions = []metav1.Condition{{Type: mailv1.MailServerConfigApplied, Status: status}}
	return ms
}

func TestServedByReplicas(t *testing.T) {
	const unset = "-" // SetServedHash not called
	tests := map[string]struct {
		compiled  []string // hashes published, oldest first
		setServed string   // what SetServedHash recorded, or unset
		ms        *mailv1.MailServer
		want      string // "nil" for none
	}{
		"nothing is served before the first publication": {
			nil, unset, server("h1", "h1", true), "nil",
		},
		"the served hash recorded picks the configuration from history": {
			[]string{"h1", "h2"}, "h1", server("h2", "", false), "h1",
		},
		"the served hash recorded wins over the status": {
			[]string{"h1", "h2", "h3"}, "h2", server("h3", "h1", false), "h2",
		},
		"before one is recorded, status.servedConfigHash picks it": {
			[]string{"h1", "h2"}, unset, server("h2", "h1", false), "h1",
		},
		"a served hash not remembered falls back to the latest once ConfigApplied": {
			[]string{"h2"}, "h0", server("h2", "h0", true), "h2",
		},
		"a served hash not remembered is nothing while the rollout goes on": {
			[]string{"h2"}, "h0", server("h2", "h0", false), "nil",
		},
		"no served hash: the latest once ConfigApplied says every replica serves it": {
			[]string{"h1"}, "", server("h1", "", true), "h1",
		},
		"no served hash and ConfigApplied for another hash: nothing": {
			[]string{"h1", "h2"}, "", server("h1", "", true), "nil",
		},
		"no served hash and no ConfigApplied: nothing": {
			[]string{"h1"}, "", server("h1", "", false), "nil",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := New()
			for _, h := range tc.compiled {
				s.Publish(ns, "mx", fixture(), none(), config(h))
			}
			if tc.setServed != unset {
				s.SetServedHash(ns, "mx", tc.setServed)
			}
			if got := hashes(s.ServedByReplicas(tc.ms))[0]; got != tc.want {
				t.Fatalf("ServedByReplicas = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSetServedHashBeforePublish(t *testing.T) {
	s := New()
	s.SetServedHash(ns, "mx", "h1") // no namespace yet: nothing to record it in
	s.Publish(ns, "mx", fixture(), none(), config("h1"))
	s.Publish(ns, "mx", fixture(), none(), config("h2"))
	if got := hashes(s.ServedByReplicas(server("h2", "", false)))[0]; got != "nil" {
		t.Fatalf("ServedByReplicas = %s, want nil: a served hash recorded before the first publication is dropped", got)
	}
}

func TestServingChanges(t *testing.T) {
	objects := fixture() // alice and postmaster in example.com, bob in example.org
	serverOf := func(addr string) string {
		if strings.HasSuffix(addr, "@example.com") {
			return "mx"
		}
		return "other"
	}
	with := func(mutate func(c *Config)) *Config {
		c := config("h")
		c.Mailboxes["alice"], c.Aliases["postmaster"] = "hash-a", true
		mutate(c)
		return c
	}
	same := with(func(*Config) {})
	tests := map[string]struct {
		a, b *Config
		want []string
	}{
		"the same content wakes nothing": {same, with(func(c *Config) { c.Hash = "h2" }), []string{}},
		"a new password hash wakes its Mailbox": {same, with(func(c *Config) { c.Mailboxes["alice"] = "hash-b" }),
			[]string{"Mailbox/alice"}},
		"a Mailbox compiled in wakes it": {same, with(func(c *Config) { c.Mailboxes["bob"] = "hash-b" }),
			[]string{"Mailbox/bob"}},
		"a MailAlias left out wakes it": {same, with(func(c *Config) { delete(c.Aliases, "postmaster") }),
			[]string{"MailAlias/postmaster"}},
		"a MailDomain's change wakes no Mailbox or MailAlias": {same, with(func(c *Config) { c.Domains["example"] = true }),
			[]string{}},
		"an unknown configuration before wakes everything of the server": {nil, same,
			[]string{"MailAlias/postmaster", "Mailbox/alice"}},
		"an unknown configuration after wakes everything of the server": {same, nil,
			[]string{"MailAlias/postmaster", "Mailbox/alice"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := names(ServingChanges(tc.a, tc.b, objects, serverOf, "mx"))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ServingChanges = %v, want %v", got, tc.want)
			}
		})
	}
}

func ExampleServingChanges() {
	objects := Objects{Mailboxes: []mailv1.Mailbox{mailbox("alice", "alice@example.com", 1), mailbox("bob", "bob@example.com", 1)}}
	before := &Config{Hash: "h1", Mailboxes: map[string]string{"alice": "old"}}
	after := &Config{Hash: "h2", Mailboxes: map[string]string{"alice": "new", "bob": "new"}}
	for _, o := range ServingChanges(before, after, objects, func(string) string { return "mx" }, "mx") {
		fmt.Println(o.GetName())
	}
	// Output:
	// alice
	// bob
}
