package verdicts

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

const ns = "mail"

func objectMeta(name string, generation int64) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Generation: generation}
}

func mailbox(name, addr string, generation int64) mailv1.Mailbox {
	return mailv1.Mailbox{ObjectMeta: objectMeta(name, generation), Spec: mailv1.MailboxSpec{Address: mailv1.EmailAddress(addr)}}
}

func alias(name, addr string, generation int64) mailv1.MailAlias {
	return mailv1.MailAlias{ObjectMeta: objectMeta(name, generation), Spec: mailv1.MailAliasSpec{Address: addr}}
}

func domain(name string, generation int64) mailv1.MailDomain {
	return mailv1.MailDomain{ObjectMeta: objectMeta(name, generation)}
}

// fixture is a namespace of one MailDomain, two Mailboxes and one
// MailAlias, all at generation 1.
func fixture() Objects {
	return Objects{
		Domains:   []mailv1.MailDomain{domain("example", 1)},
		Mailboxes: []mailv1.Mailbox{mailbox("alice", "alice@example.com", 1), mailbox("bob", "bob@example.org", 1)},
		Aliases:   []mailv1.MailAlias{alias("postmaster", "postmaster@example.com", 1)},
	}
}

// none is a judgement without a problem.
func none() Judgement {
	return Judgement{Domains: map[string]Problem{}, Mailboxes: map[string]Problem{}, Aliases: map[string]Problem{}}
}

var conflict = Problem{Reason: mailv1.ReasonAddressConflict, Message: "taken"}

// names lists objects as kind/name, sorted.
func names(objs []client.Object) []string {
	out := []string{}
	for _, o := range objs {
		kind := "MailDomain"
		switch o.(type) {
		case *mailv1.Mailbox:
			kind = "Mailbox"
		case *mailv1.MailAlias:
			kind = "MailAlias"
		}
		out = append(out, kind+"/"+o.GetName())
	}
	slices.Sort(out)
	return out
}

func TestPublishWakes(t *testing.T) {
	all := []string{"MailAlias/postmaster", "MailDomain/example", "Mailbox/alice", "Mailbox/bob"}
	tests := map[string]struct {
		// change turns the first publication's objects and judgement into the second's.
		change func(o *Objects, j *Judgement)
		wake   []string
	}{
		"nothing changed, nothing is woken": {
			change: func(*Objects, *Judgement) {},
			wake:   []string{},
		},
		"a new verdict wakes its object only": {
			change: func(_ *Objects, j *Judgement) { j.Mailboxes["bob"] = conflict },
			wake:   []string{"Mailbox/bob"},
		},
		"a verdict lifted wakes its object": {
			change: func(_ *Objects, j *Judgement) { delete(j.Aliases, "postmaster") },
			wake:   []string{"MailAlias/postmaster"},
		},
		"a verdict on a MailDomain wakes the MailDomain": {
			change: func(_ *Objects, j *Judgement) {
				j.Domains["example"] = Problem{Reason: mailv1.ReasonServerNotFound, Message: "gone"}
			},
			wake: []string{"MailDomain/example"},
		},
		"a new generation is judged again and woken, even with the same verdict": {
			change: func(o *Objects, _ *Judgement) { o.Mailboxes[0].Generation = 2 },
			wake:   []string{"Mailbox/alice"},
		},
		"a new object is woken": {
			change: func(o *Objects, _ *Judgement) {
				o.Mailboxes = append(o.Mailboxes, mailbox("carol", "carol@example.com", 1))
			},
			wake: []string{"Mailbox/carol"},
		},
		"a deleted object wakes nothing": {
			change: func(o *Objects, _ *Judgement) { o.Mailboxes = o.Mailboxes[:1] },
			wake:   []string{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := New()
			j := none()
			j.Aliases["postmaster"] = conflict
			if got := names(s.Publish(ns, "mx", fixture(), j, nil)); !slices.Equal(got, all) {
				t.Fatalf("first publication woke %v, want every object %v", got, all)
			}
			o, j2 := fixture(), none()
			j2.Aliases["postmaster"] = conflict
			tc.change(&o, &j2)
			if got := names(s.Publish(ns, "mx", o, j2, nil)); !slices.Equal(got, tc.wake) {
				t.Fatalf("second publication woke %v, want %v", got, tc.wake)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	o := fixture()
	j := none()
	j.Mailboxes["bob"] = conflict
	tests := map[string]struct {
		publish bool
		obj     client.Object
		want    Verdict
	}{
		"nothing is judged before the first publication": {false, &o.Mailboxes[0], Verdict{}},
		"a Mailbox served as specified":                  {true, &o.Mailboxes[0], Verdict{Judged: true}},
		"a Mailbox with a problem":                       {true, &o.Mailboxes[1], Verdict{Judged: true, Problem: conflict}},
		"a MailAlias served as specified":                {true, &o.Aliases[0], Verdict{Judged: true}},
		"a MailDomain served as specified":               {true, &o.Domains[0], Verdict{Judged: true}},
		"a newer generation than judged is not judged": {true,
			func() client.Object { m := mailbox("bob", "bob@example.org", 2); return &m }(), Verdict{}},
		"an object the judgement did not see is not judged": {true,
			func() client.Object { m := mailbox("carol", "carol@example.com", 1); return &m }(), Verdict{}},
		"another namespace is not judged": {true,
			func() client.Object { m := mailbox("alice", "alice@example.com", 1); m.Namespace = "other"; return &m }(), Verdict{}},
		"an object of another kind is never judged": {true,
			&mailv1.RelayPolicy{ObjectMeta: objectMeta("alice", 1)}, Verdict{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := New()
			if tc.publish {
				s.Publish(ns, "mx", o, j, nil)
			}
			if got := s.Lookup(tc.obj); got != tc.want {
				t.Fatalf("Lookup = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestForget(t *testing.T) {
	o := fixture()
	s := New()
	s.Publish(ns, "mx1", o, none(), &Config{Hash: "h1"})
	s.Publish(ns, "mx2", o, none(), &Config{Hash: "h2"})

	s.Forget(ns, "mx1")
	if s.Latest(ns, "mx1") != nil || s.CompiledAs(ns, "mx1", "h1") != nil {
		t.Fatal("a forgotten MailServer's configuration is still remembered")
	}
	if s.Latest(ns, "mx2") == nil || !s.Lookup(&o.Mailboxes[0]).Judged {
		t.Fatal("forgetting one MailServer dropped another's configuration or the namespace's verdicts")
	}
	s.Forget(ns, "mx2")
	if s.Lookup(&o.Mailboxes[0]).Judged {
		t.Fatal("the namespace's verdicts outlived its last MailServer")
	}
	s.Forget("nowhere", "mx") // forgetting what was never published is harmless
}

func TestWake(t *testing.T) {
	o := fixture()
	s := New()
	s.Wake(context.Background(), []client.Object{&o.Mailboxes[0], &o.Aliases[0], &o.Domains[0], &o.Mailboxes[1]})
	tests := map[string]struct {
		ch   <-chan event.GenericEvent
		want []string
	}{
		"Mailboxes are woken on MailboxEvents":  {s.MailboxEvents(), []string{"alice", "bob"}},
		"MailAliases are woken on AliasEvents":  {s.AliasEvents(), []string{"postmaster"}},
		"MailDomains are woken on DomainEvents": {s.DomainEvents(), []string{"example"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			for len(tc.ch) > 0 {
				ev := <-tc.ch
				if _, ok := ev.Object.(*metav1.PartialObjectMetadata); !ok {
					t.Errorf("the event holds a %T, want only the name (PartialObjectMetadata)", ev.Object)
				}
				if ev.Object.GetNamespace() != ns {
					t.Errorf("the event names namespace %q, want %q", ev.Object.GetNamespace(), ns)
				}
				got = append(got, ev.Object.GetName())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("woke %v, want %v in order", got, tc.want)
			}
		})
	}
}

func TestWakeStopsWithContext(t *testing.T) {
	s := New()
	m := mailbox("alice", "alice@example.com", 1)
	objs := make([]client.Object, notifyBuffer+1) // one more than the channel holds
	for i := range objs {
		objs[i] = &m
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Wake(ctx, objs)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Wake blocked on a full channel after its context ended")
	}
}
