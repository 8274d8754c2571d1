package controllers

import (
	"strings"
	"testing"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

func TestJudge(t *testing.T) {
	servers := map[string]bool{"mx1": true, "mx2": true}
	type verdict struct {
		kind, name, reason string
		partial            bool
		msg                string // a substring of the message
	}
	tests := map[string]struct {
		objects snapshot
		want    []verdict
	}{
		"objects that fit together are all served": {
			objects: snapshot{servers: servers,
				domains:   []mailv1.MailDomain{domain("example-com", "example.com", 0)},
				mailboxes: []mailv1.Mailbox{mailbox("alice", "alice@example.com", 1, withAliases("a@example.com"))},
				aliases:   []mailv1.MailAlias{alias("postmaster", "postmaster@example.com", 2, "alice@example.com", "ext@example.org")},
			},
		},
		"the newer of two MailDomains claiming a domain is refused": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{
				domain("second", "example.com", 5), domain("first", "example.com", 1)}},
			want: []verdict{{kind: "MailDomain", name: "second", reason: mailv1.ReasonDomainConflict, msg: "MailDomain first"}},
		},
		"a MailDomain naming a missing MailServer is refused": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{domain("d", "example.com", 0, onServer("nope"))}},
			want:    []verdict{{kind: "MailDomain", name: "d", reason: mailv1.ReasonServerNotFound, msg: "MailServer nope"}},
		},
		"a mailbox in a domain nobody serves is refused": {
			objects: snapshot{servers: servers, mailboxes: []mailv1.Mailbox{mailbox("bob", "bob@example.net", 0)}},
			want:    []verdict{{kind: "Mailbox", name: "bob", reason: mailv1.ReasonDomainNotFound, msg: "example.net"}},
		},
		"a mailbox alias in a domain nobody serves is refused": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{domain("d", "example.com", 0)},
				mailboxes: []mailv1.Mailbox{mailbox("bob", "bob@example.com", 1, withAliases("bob@example.net"))}},
			want: []verdict{{kind: "Mailbox", name: "bob", reason: mailv1.ReasonDomainNotFound, msg: "alias bob@example.net"}},
		},
		"a mailbox alias on another server's domain is refused": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{
				domain("d", "example.com", 0), domain("o", "example.org", 0, onServer("mx2"))},
				mailboxes: []mailv1.Mailbox{mailbox("bob", "bob@example.com", 1, withAliases("bob@example.org"))}},
			want: []verdict{{kind: "Mailbox", name: "bob", reason: mailv1.ReasonInvalidSpec, msg: "MailServer mx2"}},
		},
		"only the newer of two mailboxes with one address is refused": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{domain("d", "example.com", 0)},
				mailboxes: []mailv1.Mailbox{mailbox("new", "bob@example.com", 9), mailbox("old", "bob@example.com", 1)}},
			want: []verdict{{kind: "Mailbox", name: "new", reason: mailv1.ReasonAddressConflict, msg: "Mailbox old"}},
		},
		"an alias taking a mailbox alias's address is refused, not the mailbox": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{domain("d", "example.com", 0)},
				mailboxes: []mailv1.Mailbox{mailbox("alice", "alice@example.com", 1, withAliases("sales@example.com"))},
				aliases:   []mailv1.MailAlias{alias("sales", "sales@example.com", 2, "bob@example.org")}},
			want: []verdict{{kind: "MailAlias", name: "sales", reason: mailv1.ReasonAddressConflict, msg: "Mailbox alice"}},
		},
		"a mailbox newer than an alias with its address is refused": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{domain("d", "example.com", 0)},
				mailboxes: []mailv1.Mailbox{mailbox("sales", "sales@example.com", 3)},
				aliases:   []mailv1.MailAlias{alias("sales-alias", "sales@example.com", 2, "bob@example.org")}},
			want: []verdict{{kind: "Mailbox", name: "sales", reason: mailv1.ReasonAddressConflict, msg: "MailAlias sales-alias"}},
		},
		"a refused object does not block a newer one": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{domain("d", "example.com", 0)},
				mailboxes: []mailv1.Mailbox{
					mailbox("a", "a@example.com", 1),
					mailbox("b", "a@example.com", 2, withAliases("x@example.com")),
					mailbox("c", "x@example.com", 3)}},
			want: []verdict{{kind: "Mailbox", name: "b", reason: mailv1.ReasonAddressConflict}},
		},
		"the alias closing a loop is refused, the older one is not": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{domain("d", "example.com", 0)},
				aliases: []mailv1.MailAlias{
					alias("a", "a@example.com", 1, "b@example.com"),
					alias("b", "b@example.com", 2, "a@example.com")}},
			want: []verdict{{kind: "MailAlias", name: "b", reason: mailv1.ReasonAliasLoop, msg: "b@example.com → a@example.com → b@example.com"}},
		},
		"a forward that loops through an alias is refused": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{domain("d", "example.com", 0)},
				aliases:   []mailv1.MailAlias{alias("team", "team@example.com", 1, "alice@example.com")},
				mailboxes: []mailv1.Mailbox{mailbox("alice", "alice@example.com", 2, withForward(false, "team@example.com"))}},
			want: []verdict{{kind: "Mailbox", name: "alice", reason: mailv1.ReasonAliasLoop}},
		},
		"a catch-all whose target is unknown in its own domain loops": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{domain("d", "example.com", 0)},
				aliases: []mailv1.MailAlias{alias("all", "@example.com", 1, "nobody@example.com")}},
			want: []verdict{{kind: "MailAlias", name: "all", reason: mailv1.ReasonAliasLoop}},
		},
		"a catch-all with several targets is served with all of them": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{domain("d", "example.com", 0)},
				mailboxes: []mailv1.Mailbox{mailbox("alice", "alice@example.com", 1), mailbox("bob", "bob@example.com", 1)},
				aliases:   []mailv1.MailAlias{alias("all", "@example.com", 2, "alice@example.com", "bob@example.com")}},
		},
		"a catch-all whose second target loops back is refused": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{domain("d", "example.com", 0)},
				mailboxes: []mailv1.Mailbox{mailbox("alice", "alice@example.com", 1)},
				aliases:   []mailv1.MailAlias{alias("all", "@example.com", 2, "alice@example.com", "nobody@example.com")}},
			want: []verdict{{kind: "MailAlias", name: "all", reason: mailv1.ReasonAliasLoop}},
		},
		"a second catch-all for a domain is refused": {
			objects: snapshot{servers: servers, domains: []mailv1.MailDomain{domain("d", "example.com", 0)},
				aliases: []mailv1.MailAlias{alias("all", "@example.com", 2, "x@example.org"), alias("all2", "@example.com", 3, "y@example.org")}},
			want: []verdict{{kind: "MailAlias", name: "all2", reason: mailv1.ReasonAddressConflict}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			j := judge(tc.objects)
			got := map[string]problem{}
			for n, p := range j.domains {
				got["MailDomain/"+n] = p
			}
			for n, p := range j.mailboxes {
				got["Mailbox/"+n] = p
			}
			for n, p := range j.aliases {
				got["MailAlias/"+n] = p
			}
			for _, w := range tc.want {
				key := w.kind + "/" + w.name
				p, ok := got[key]
				if !ok {
					t.Errorf("%s: no problem, want %s", key, w.reason)
					continue
				}
				delete(got, key)
				if p.Reason != w.reason || p.Partial != w.partial || !strings.Contains(p.Message, w.msg) {
					t.Errorf("%s: got %s (partial %v) %q, want %s (partial %v) containing %q", key, p.Reason, p.Partial, p.Message, w.reason, w.partial, w.msg)
				}
			}
			for key, p := range got {
				t.Errorf("%s: unexpected %s: %s", key, p.Reason, p.Message)
			}
		})
	}
}
