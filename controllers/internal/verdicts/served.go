package verdicts

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// Config is what one compiled configuration contains.
type Config struct {
	// Hash is the configuration's config.Hash.
	Hash string
	// Mailboxes maps a served Mailbox's name to its compiled password hash.
	Mailboxes map[string]string
	// Aliases and Domains hold the names of the MailAliases and
	// MailDomains compiled.
	Aliases map[string]bool
	Domains map[string]bool
	// DKIM holds the names of the MailDomains compiled with a DKIM key.
	DKIM map[string]bool
	// Relay identifies the version of the RelayPolicy compiled, or is "".
	Relay string
	// Inputs fingerprints what the configuration was compiled from, and
	// Shards names the Secrets it was written to.
	Inputs string
	Shards []string
}

// Latest returns what server compiled into its latest configuration, or nil.
func (s *Store) Latest(ns, server string) *Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	if nv := s.namespaces[ns]; nv != nil {
		return nv.servers[server]
	}
	return nil
}

// ServedByReplicas returns what every replica of ms serves: the compiled
// configuration whose hash SetServedHash recorded (or, before it did,
// status.servedConfigHash holds), or else the latest one once ConfigApplied
// says every replica serves it; nil while neither is known (a rollout in
// progress, or an operator that restarted).
func (s *Store) ServedByReplicas(ms *mailv1.MailServer) *Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	nv := s.namespaces[ms.Namespace]
	if nv == nil {
		return nil
	}
	h := ms.Status.ServedConfigHash
	if known, ok := nv.servedHash[ms.Name]; ok {
		h = known
	}
	if h != "" {
		if c := nv.remembered(ms.Name, h); c != nil {
			return c
		}
	}
	if latest := nv.servers[ms.Name]; latest != nil && rolledOut(ms, latest.Hash) {
		return latest
	}
	return nil
}

// rolledOut reports whether every replica of ms serves the configuration
// with the given hash.
func rolledOut(ms *mailv1.MailServer, hash string) bool {
	c := meta.FindStatusCondition(ms.Status.Conditions, mailv1.MailServerConfigApplied)
	return ms.Status.ConfigHash == hash && c != nil && c.Status == metav1.ConditionTrue
}

// SetServedHash records the hash every replica of server serves. It does
// nothing before the namespace's first Publish.
func (s *Store) SetServedHash(ns, server, hash string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if nv := s.namespaces[ns]; nv != nil {
		nv.servedHash[server] = hash
	}
}

// CompiledAs returns server's remembered configuration with the given
// hash, or nil.
func (s *Store) CompiledAs(ns, server, hash string) *Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	nv := s.namespaces[ns]
	if nv == nil || hash == "" {
		return nil
	}
	return nv.remembered(server, hash)
}

// remembered returns the newest of server's remembered configurations
// with the given hash, or nil.
func (nv *namespace) remembered(server, hash string) *Config {
	hist := nv.history[server]
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Hash == hash {
			return hist[i]
		}
	}
	return nil
}

// ServingChanges lists the Mailboxes and MailAliases of server whose
// state differs between configurations a and b: compiled or not, or with
// another password hash. When either is unknown (nil), every one of the
// server's is listed, serverOf telling which MailServer serves an
// address's domain. This is how a change of what the server compiled or
// serves reaches the objects it concerns, not all 10,000 of a server.
func ServingChanges(a, b *Config, objects Objects, serverOf func(addr string) string, server string) []client.Object {
	var out []client.Object
	for i := range objects.Mailboxes {
		m := &objects.Mailboxes[i]
		if a == nil || b == nil {
			if serverOf(string(m.Spec.Address)) == server {
				out = append(out, m)
			}
		} else if a.Mailboxes[m.Name] != b.Mailboxes[m.Name] {
			out = append(out, m)
		}
	}
	for i := range objects.Aliases {
		al := &objects.Aliases[i]
		if a == nil || b == nil {
			if serverOf(al.Spec.Address) == server {
				out = append(out, al)
			}
		} else if a.Aliases[al.Name] != b.Aliases[al.Name] {
			out = append(out, al)
		}
	}
	return out
}
