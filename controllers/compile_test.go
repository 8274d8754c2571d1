package controllers

import (
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

func TestCompileConfig(t *testing.T) {
	tests := map[string]struct {
		server  *mailv1.MailServer
		objects snapshot
		hashes  []string // Mailbox names that have a password hash
		dkim    []string // domains whose DKIM key is ready
	}{
		"samples": {
			server: server("mx1"),
			objects: snapshot{
				domains: []mailv1.MailDomain{domain("example-com", "example.com", 0, withDefaultQuota("2Gi"))},
				mailboxes: []mailv1.Mailbox{
					mailbox("alice", "alice@example.com", 1, withQuota("5Gi"), withAliases("a.liddell@example.com")),
					mailbox("bob", "bob@example.com", 2),
				},
				aliases: []mailv1.MailAlias{alias("postmaster", "postmaster@example.com", 3, "alice@example.com", "bob@example.com")},
			},
			hashes: []string{"alice", "bob"},
			dkim:   []string{"example.com"},
		},
		"refused and unready objects": {
			server: server("mx1", func(ms *mailv1.MailServer) {
				ms.Spec.Protocols = []mailv1.Protocol{mailv1.ProtocolSMTP, mailv1.ProtocolIMAPS}
				ms.Spec.Service.ProxyProtocol = true
				ms.Spec.Service.TrustedCIDRs = []mailv1.CIDR{"10.0.0.0/8", "fd00::/8"}
				ms.Spec.Limits = mailv1.MailServerLimits{}
			}),
			objects: snapshot{
				domains: []mailv1.MailDomain{
					domain("example-com", "example.com", 0),
					domain("example-com-again", "example.com", 1),
					domain("example-org", "example.org", 0, onServer("mx2")),
				},
				mailboxes: []mailv1.Mailbox{
					mailbox("alice", "alice@example.com", 1, withForward(true, "alice@example.net")),
					mailbox("alice-again", "alice@example.com", 2),
					mailbox("carol", "carol@example.com", 3, suspended, withForward(false, "c@example.net")),
					mailbox("dave", "dave@example.com", 4), // no password hash yet
					mailbox("erin", "erin@example.org", 5), // served by mx2
					mailbox("frank", "frank@example.net", 6),
				},
				aliases: []mailv1.MailAlias{
					alias("all", "@example.com", 7, "alice@example.com", "carol@example.com"),
					alias("loop-a", "la@example.com", 8, "lb@example.com"),
					alias("loop-b", "lb@example.com", 9, "la@example.com"),
				},
			},
			hashes: []string{"alice", "alice-again", "carol", "erin", "frank"},
		},
		"no domains yet": {
			server: server("mx1", func(ms *mailv1.MailServer) { ms.Spec.Protocols = nil }),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := configInput{server: tc.server, objects: tc.objects, passwordHashes: map[string]string{}, dkimKeys: map[string]bool{}}
			in.objects.servers = map[string]bool{"mx1": true, "mx2": true}
			in.verdicts = judge(in.objects)
			for _, n := range tc.hashes {
				in.passwordHashes[n] = testHash
			}
			for _, d := range tc.dkim {
				in.dkimKeys[d] = true
			}
			out, err := compileConfig(in)
			if err != nil {
				t.Fatal(err)
			}
			data, err := out.config.YAML()
			if err != nil {
				t.Fatal(err)
			}
			report := "# domains: " + strings.Join(out.domains, ",") + "\n# mailboxes: " + strings.Join(out.mailboxes, ",") +
				"\n# aliases: " + strings.Join(out.aliases, ",") + "\n# hash: " + out.config.Hash() + "\n"
			golden(t, "config-"+strings.ReplaceAll(name, " ", "-"), append([]byte(report), data...))
		})
	}
}

func TestCompileConfigRefusesWhatTheServerCannotServe(t *testing.T) {
	ms := server("mx1", func(ms *mailv1.MailServer) {
		ms.Spec.Storage = mailv1.MailServerStorage{Type: mailv1.StoragePostgreSQL,
			PostgreSQL: &mailv1.PostgreSQLStorage{}}
		ms.Spec.Replicas = ptr.To[int32](3)
	})
	in := configInput{server: ms, verdicts: judge(snapshot{})}
	_, err := compileConfig(in)
	if err == nil || !strings.Contains(err.Error(), "storage.driver") {
		t.Fatalf("got %v, want an error naming storage.driver", err)
	}
}
