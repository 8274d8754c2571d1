package controllers

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// verdictStore shares, inside the operator process, what the MailServer
// reconciler decided when it compiled a configuration: the judge's
// verdicts on every object of the namespace, and which objects went into
// which server's configuration. The Mailbox, MailAlias and MailDomain
// reconcilers read it instead of judging the whole namespace again (which
// with 50,000 mailboxes would cost each of them a sort of 50,000 objects),
// and the MailServer reconciler wakes exactly the objects whose verdict or
// serving state changed.
type verdictStore struct {
	mu         sync.Mutex
	namespaces map[string]*namespaceVerdicts

	// Channels waking the other reconcilers (source.Channel).
	mailboxes, aliases, domains chan event.GenericEvent
}

// namespaceVerdicts is the latest judgement of one namespace.
type namespaceVerdicts struct {
	verdicts *judgement
	// judged maps each judged object's UID to the generation judged.
	judged map[types.UID]int64
	// servers holds what each MailServer compiled, by name.
	servers map[string]*servedConfig
	// history holds each MailServer's latest compiled configurations,
	// oldest first, so what the replicas serve is known while they trail.
	history map[string][]*servedConfig
	// servedHash holds, by MailServer, the hash every replica serves, as
	// its reconciler last wrote it into status.servedConfigHash.
	servedHash map[string]string
}

// historyLength bounds a MailServer's remembered configurations: replicas
// trail the operator by a reload or two.
const historyLength = 8

// servedConfig is what one compiled configuration contains.
type servedConfig struct {
	hash string
	// mailboxes maps a served Mailbox's name to its compiled password hash.
	mailboxes map[string]string
	aliases   map[string]bool
	domains   map[string]bool
	// dkim holds the names of the MailDomains compiled with a DKIM key.
	dkim map[string]bool
	// relay is policyKey of the RelayPolicy compiled, or "".
	relay string
	// inputs fingerprints what the configuration was compiled from, and
	// shards names the Secrets it was written to.
	inputs string
	shards []string
}

// notifyBuffer bounds the wake-ups queued for each kind.
const notifyBuffer = 1024

func newVerdictStore() *verdictStore {
	return &verdictStore{
		namespaces: map[string]*namespaceVerdicts{},
		mailboxes:  make(chan event.GenericEvent, notifyBuffer),
		aliases:    make(chan event.GenericEvent, notifyBuffer),
		domains:    make(chan event.GenericEvent, notifyBuffer),
	}
}

// verdict is what the store knows about one object.
type verdict struct {
	// judged reports whether the latest judgement saw this generation.
	judged bool
	// problem is the judge's verdict; problem.reason is "" when there is none.
	problem problem
}

// lookup returns the verdict on an object of the given kind.
func (s *verdictStore) lookup(obj client.Object, kind string) verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	nv := s.namespaces[obj.GetNamespace()]
	if nv == nil || nv.judged[obj.GetUID()] != obj.GetGeneration() {
		return verdict{}
	}
	var m map[string]problem
	switch kind {
	case "Mailbox":
		m = nv.verdicts.mailboxes
	case "MailAlias":
		m = nv.verdicts.aliases
	default:
		m = nv.verdicts.domains
	}
	return verdict{judged: true, problem: m[obj.GetName()]}
}

// served returns what server compiled into its latest configuration, or nil.
func (s *verdictStore) served(ns, server string) *servedConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	if nv := s.namespaces[ns]; nv != nil {
		return nv.servers[server]
	}
	return nil
}

// servedByReplicas returns what every replica of ms serves: the compiled
// configuration whose hash status.servedConfigHash holds, or else the
// latest one once ConfigApplied says every replica serves it; nil while
// neither is known (a rollout in progress, or an operator that restarted).
func (s *verdictStore) servedByReplicas(ms *mailv1.MailServer) *servedConfig {
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
		hist := nv.history[ms.Name]
		for i := len(hist) - 1; i >= 0; i-- {
			if hist[i].hash == h {
				return hist[i]
			}
		}
	}
	if latest := nv.servers[ms.Name]; latest != nil && configRolledOut(ms, latest.hash) {
		return latest
	}
	return nil
}

// setServedHash records the hash every replica of server serves.
func (s *verdictStore) setServedHash(ns, server, hash string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if nv := s.namespaces[ns]; nv != nil {
		nv.servedHash[server] = hash
	}
}

// compiledAs returns server's remembered configuration with the given
// hash, or nil.
func (s *verdictStore) compiledAs(ns, server, hash string) *servedConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	nv := s.namespaces[ns]
	if nv == nil || hash == "" {
		return nil
	}
	hist := nv.history[server]
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].hash == hash {
			return hist[i]
		}
	}
	return nil
}

// servingChanges lists the Mailboxes and MailAliases of server whose
// state differs between configurations a and b: compiled or not, or with
// another password hash. When either is unknown (nil), every one of the
// server's is listed. This is how a change of what the server compiled or
// serves reaches the objects it concerns, not all 10,000 of a server.
func servingChanges(a, b *servedConfig, objects snapshot, j *judgement, server string) []client.Object {
	var out []client.Object
	for i := range objects.mailboxes {
		m := &objects.mailboxes[i]
		if a == nil || b == nil {
			if j.serverOf(string(m.Spec.Address)) == server {
				out = append(out, m)
			}
		} else if a.mailboxes[m.Name] != b.mailboxes[m.Name] {
			out = append(out, m)
		}
	}
	for i := range objects.aliases {
		al := &objects.aliases[i]
		if a == nil || b == nil {
			if j.serverOf(al.Spec.Address) == server {
				out = append(out, al)
			}
		} else if a.aliases[al.Name] != b.aliases[al.Name] {
			out = append(out, al)
		}
	}
	return out
}

// publish records a new judgement of ns and, when compiled is not nil,
// what server compiled. It returns the objects whose verdict is new or
// changed, for wake(). (A change of what a server serves reaches the
// objects through their watch on MailServer status.)
func (s *verdictStore) publish(ns, server string, objects snapshot, j *judgement, compiled *servedConfig) []client.Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.namespaces[ns]
	nv := &namespaceVerdicts{verdicts: j, judged: map[types.UID]int64{}, servers: map[string]*servedConfig{},
		history: map[string][]*servedConfig{}, servedHash: map[string]string{}}
	if old != nil {
		for k, v := range old.servedHash {
			nv.servedHash[k] = v
		}
		for k, v := range old.servers {
			nv.servers[k] = v
		}
		for k, v := range old.history {
			nv.history[k] = v
		}
	}
	if compiled != nil {
		nv.servers[server] = compiled
		hist := nv.history[server]
		if len(hist) == 0 || hist[len(hist)-1].hash != compiled.hash {
			hist = append(hist, compiled)
			if len(hist) > historyLength {
				hist = hist[len(hist)-historyLength:]
			}
			nv.history[server] = append([]*servedConfig(nil), hist...)
		}
	}
	s.namespaces[ns] = nv

	var wake []client.Object
	changed := func(obj client.Object, now, before map[string]problem) bool {
		nv.judged[obj.GetUID()] = obj.GetGeneration()
		if old == nil || old.judged[obj.GetUID()] != obj.GetGeneration() {
			return true
		}
		return now[obj.GetName()] != before[obj.GetName()]
	}
	var before judgement
	if old != nil {
		before = *old.verdicts
	}
	for i := range objects.domains {
		d := &objects.domains[i]
		if changed(d, j.domains, before.domains) {
			wake = append(wake, d)
		}
	}
	for i := range objects.mailboxes {
		m := &objects.mailboxes[i]
		if changed(m, j.mailboxes, before.mailboxes) {
			wake = append(wake, m)
		}
	}
	for i := range objects.aliases {
		a := &objects.aliases[i]
		if changed(a, j.aliases, before.aliases) {
			wake = append(wake, a)
		}
	}
	return wake
}

// forget drops what a deleted MailServer compiled, and the namespace's
// verdicts with its last MailServer.
func (s *verdictStore) forget(ns, server string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if nv := s.namespaces[ns]; nv != nil {
		delete(nv.servers, server)
		delete(nv.history, server)
		delete(nv.servedHash, server)
		if len(nv.servers) == 0 {
			delete(s.namespaces, ns)
		}
	}
}

// wake queues a reconcile of each object, until ctx ends.
func (s *verdictStore) wake(ctx context.Context, objs []client.Object) {
	for _, o := range objs {
		ch := s.domains
		switch o.(type) {
		case *mailv1.Mailbox:
			ch = s.mailboxes
		case *mailv1.MailAlias:
			ch = s.aliases
		}
		// Only the name matters to the handler: do not hold on to cache objects.
		ev := event.GenericEvent{Object: &metav1.PartialObjectMetadata{
			ObjectMeta: metav1.ObjectMeta{Namespace: o.GetNamespace(), Name: o.GetName()}}}
		select {
		case ch <- ev:
		case <-ctx.Done():
			return
		}
	}
}
