package verdicts

import (
	"context"
	"maps"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// Problem says why an object is not (fully) served: the judge's verdict
// on it. The zero Problem means there is none.
type Problem struct {
	// Reason is the condition reason, an UpperCamelCase constant.
	Reason string
	// Message tells the user what to fix.
	Message string
	// Partial means the object is served, but not entirely as specified.
	Partial bool
}

// Judgement holds the verdicts on one namespace's objects, by kind and
// object name. An object absent from its map is served as specified.
type Judgement struct {
	Domains   map[string]Problem
	Mailboxes map[string]Problem
	Aliases   map[string]Problem
}

// Objects are the objects of one namespace a Judgement is on.
type Objects struct {
	Domains   []mailv1.MailDomain
	Mailboxes []mailv1.Mailbox
	Aliases   []mailv1.MailAlias
}

// Verdict is what the store knows about one object.
type Verdict struct {
	// Judged reports whether the latest judgement saw this generation.
	Judged bool
	// Problem is the judge's verdict; Problem.Reason is "" when there is none.
	Problem Problem
}

// Store shares, inside the operator process, what the MailServer
// reconciler decided when it compiled a configuration: the judge's
// verdicts on every object of the namespace, and which objects went into
// which server's configuration. See the package documentation.
type Store struct {
	mu         sync.Mutex
	namespaces map[string]*namespace

	// Channels waking the other reconcilers (source.Channel).
	mailboxes, aliases, domains chan event.GenericEvent
}

// namespace is the latest judgement of one namespace.
type namespace struct {
	verdicts Judgement
	// judged maps each judged object's UID to the generation judged.
	judged map[types.UID]int64
	// servers holds what each MailServer compiled last, by name.
	servers map[string]*Config
	// history holds each MailServer's latest compiled configurations,
	// oldest first, so what the replicas serve is known while they trail.
	history map[string][]*Config
	// servedHash holds, by MailServer, the hash every replica serves, as
	// its reconciler last wrote it into status.servedConfigHash.
	servedHash map[string]string
	// usage holds, by MailServer, the bytes each mailbox address uses, as
	// its replicas last reported (usage.go).
	usage map[string]map[string]int64
}

// historyLength bounds a MailServer's remembered configurations: replicas
// trail the operator by a reload or two.
const historyLength = 8

// notifyBuffer bounds the wake-ups queued for each kind.
const notifyBuffer = 1024

// New returns an empty Store.
func New() *Store {
	return &Store{
		namespaces: map[string]*namespace{},
		mailboxes:  make(chan event.GenericEvent, notifyBuffer),
		aliases:    make(chan event.GenericEvent, notifyBuffer),
		domains:    make(chan event.GenericEvent, notifyBuffer),
	}
}

// MailboxEvents delivers the Mailboxes Wake wakes, for source.Channel.
func (s *Store) MailboxEvents() <-chan event.GenericEvent { return s.mailboxes }

// AliasEvents delivers the MailAliases Wake wakes, for source.Channel.
func (s *Store) AliasEvents() <-chan event.GenericEvent { return s.aliases }

// DomainEvents delivers the MailDomains Wake wakes, for source.Channel.
func (s *Store) DomainEvents() <-chan event.GenericEvent { return s.domains }

// Lookup returns the verdict on a MailDomain, Mailbox or MailAlias; an
// object of another type is never judged.
func (s *Store) Lookup(obj client.Object) Verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	nv := s.namespaces[obj.GetNamespace()]
	if nv == nil || nv.judged[obj.GetUID()] != obj.GetGeneration() {
		return Verdict{}
	}
	var m map[string]Problem
	switch obj.(type) {
	case *mailv1.Mailbox:
		m = nv.verdicts.Mailboxes
	case *mailv1.MailAlias:
		m = nv.verdicts.Aliases
	case *mailv1.MailDomain:
		m = nv.verdicts.Domains
	default:
		return Verdict{}
	}
	return Verdict{Judged: true, Problem: m[obj.GetName()]}
}

// Publish records a new judgement of ns and, when compiled is not nil,
// what server compiled. It returns the objects whose verdict is new or
// changed, for Wake; none when nothing changed. (It does not compare what
// was compiled: ServingChanges does.)
func (s *Store) Publish(ns, server string, objects Objects, j Judgement, compiled *Config) []client.Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.namespaces[ns]
	nv := &namespace{verdicts: j, judged: map[types.UID]int64{}, servers: map[string]*Config{},
		history: map[string][]*Config{}, servedHash: map[string]string{}, usage: map[string]map[string]int64{}}
	if old != nil {
		maps.Copy(nv.servedHash, old.servedHash)
		maps.Copy(nv.usage, old.usage)
		maps.Copy(nv.servers, old.servers)
		maps.Copy(nv.history, old.history)
	}
	if compiled != nil {
		nv.servers[server] = compiled
		hist := nv.history[server]
		if len(hist) == 0 || hist[len(hist)-1].Hash != compiled.Hash {
			hist = append(hist, compiled)
			if len(hist) > historyLength {
				hist = hist[len(hist)-historyLength:]
			}
			nv.history[server] = append([]*Config(nil), hist...)
		}
	}
	s.namespaces[ns] = nv

	var wake []client.Object
	changed := func(obj client.Object, now, before map[string]Problem) bool {
		nv.judged[obj.GetUID()] = obj.GetGeneration()
		if old == nil || old.judged[obj.GetUID()] != obj.GetGeneration() {
			return true
		}
		return now[obj.GetName()] != before[obj.GetName()]
	}
	var before Judgement
	if old != nil {
		before = old.verdicts
	}
	for i := range objects.Domains {
		d := &objects.Domains[i]
		if changed(d, j.Domains, before.Domains) {
			wake = append(wake, d)
		}
	}
	for i := range objects.Mailboxes {
		m := &objects.Mailboxes[i]
		if changed(m, j.Mailboxes, before.Mailboxes) {
			wake = append(wake, m)
		}
	}
	for i := range objects.Aliases {
		a := &objects.Aliases[i]
		if changed(a, j.Aliases, before.Aliases) {
			wake = append(wake, a)
		}
	}
	return wake
}

// Forget drops what a deleted MailServer compiled, and the namespace's
// verdicts with its last MailServer.
func (s *Store) Forget(ns, server string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if nv := s.namespaces[ns]; nv != nil {
		delete(nv.servers, server)
		delete(nv.history, server)
		delete(nv.servedHash, server)
		delete(nv.usage, server)
		if len(nv.servers) == 0 {
			delete(s.namespaces, ns)
		}
	}
}

// Wake queues a reconcile of each object, a Mailbox on MailboxEvents, a
// MailAlias on AliasEvents and anything else on DomainEvents, blocking
// while a channel is full, until ctx ends.
func (s *Store) Wake(ctx context.Context, objs []client.Object) {
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
