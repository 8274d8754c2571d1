package controllers

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers/internal/verdicts"
	"github.com/kubemail/kubemail/mailserver/mail"
)

// The judge decides, from the specs alone, which MailDomains, Mailboxes and
// MailAliases of a namespace can be served, and why the others cannot. The
// MailServer reconciler uses it to leave those out of the configuration and
// the other reconcilers to explain it in status; both see the same verdicts
// because the verdicts depend on nothing but the objects.
//
// Rules, applied to objects oldest first (creation time, then Mailbox before
// MailAlias, then name), so that a newer object never takes anything from an
// older one:
//   - a MailDomain whose domain an older MailDomain claims: DomainConflict;
//   - a MailDomain whose MailServer does not exist: ServerNotFound;
//   - a Mailbox or MailAlias whose domain no MailDomain claims: DomainNotFound;
//   - a Mailbox alias in a domain served by another MailServer: InvalidSpec;
//   - an address (or "@domain" catch-all) an older accepted object uses:
//     AddressConflict, on the newer object only;
//   - an alias, forward or catch-all that closes a loop through the accepted
//     objects: AliasLoop;
//   - a catch-all with more than one target: served with its first target
//     only, and reported (the server configuration holds one catch-all address).

// problem says why an object is not (fully) served: the judge's verdict,
// which the verdict store keeps.
type problem = verdicts.Problem

// snapshot is the mail objects of one namespace.
type snapshot struct {
	// servers holds the names of the namespace's MailServers.
	servers   map[string]bool
	domains   []mailv1.MailDomain
	mailboxes []mailv1.Mailbox
	aliases   []mailv1.MailAlias
}

// objects returns the snapshot's objects, for the verdict store.
func (s snapshot) objects() verdicts.Objects {
	return verdicts.Objects{Domains: s.domains, Mailboxes: s.mailboxes, Aliases: s.aliases}
}

// judgement holds the verdicts on a snapshot, by object name. An object
// absent from the problem maps is served as specified.
type judgement struct {
	domains   map[string]problem
	mailboxes map[string]problem
	aliases   map[string]problem
	// byDomain maps a domain name to the MailDomain that serves it.
	byDomain map[string]*mailv1.MailDomain
	// catchAll maps a domain name to its catch-all's targets.
	catchAll map[string][]string
}

// mailboxServed reports whether a Mailbox is served, perhaps partially.
func (j *judgement) mailboxServed(name string) bool {
	p, bad := j.mailboxes[name]
	return !bad || p.Partial
}

// aliasServed reports whether a MailAlias is served, perhaps partially.
func (j *judgement) aliasServed(name string) bool {
	p, bad := j.aliases[name]
	return !bad || p.Partial
}

// domainServed reports whether a MailDomain is served.
func (j *judgement) domainServed(name string) bool {
	_, bad := j.domains[name]
	return !bad
}

// published returns the verdicts as the verdict store keeps them.
func (j *judgement) published() verdicts.Judgement {
	return verdicts.Judgement{Domains: j.domains, Mailboxes: j.mailboxes, Aliases: j.aliases}
}

// serverOf returns the MailServer serving an address's domain, or "".
func (j *judgement) serverOf(addr string) string {
	if d := j.byDomain[mail.Domain(addr)]; d != nil {
		return d.Spec.ServerRef.Name
	}
	return ""
}

// age orders objects oldest first.
type age struct {
	created metav1.Time
	rank    int // 0 for MailDomains and Mailboxes, 1 for MailAliases
	name    string
}

func (a age) before(b age) bool {
	if !a.created.Equal(&b.created) {
		return a.created.Before(&b.created)
	}
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.name < b.name
}

// claimant is a Mailbox or a MailAlias in the judge's queue.
type claimant struct {
	age     age
	mailbox *mailv1.Mailbox
	alias   *mailv1.MailAlias
}

// judge returns the verdicts on s.
func judge(s snapshot) *judgement {
	j := &judgement{
		domains: map[string]problem{}, mailboxes: map[string]problem{}, aliases: map[string]problem{},
		byDomain: map[string]*mailv1.MailDomain{}, catchAll: map[string][]string{},
	}
	domains := make([]*mailv1.MailDomain, len(s.domains))
	for i := range s.domains {
		domains[i] = &s.domains[i]
	}
	sort.Slice(domains, func(a, b int) bool {
		return age{domains[a].CreationTimestamp, 0, domains[a].Name}.before(age{domains[b].CreationTimestamp, 0, domains[b].Name})
	})
	for _, d := range domains {
		name := string(d.Spec.Domain)
		if first := j.byDomain[name]; first != nil {
			j.domains[d.Name] = problem{Reason: mailv1.ReasonDomainConflict,
				Message: fmt.Sprintf("MailDomain %s, which is older, already claims %s; delete one of the two", first.Name, name)}
			continue
		}
		j.byDomain[name] = d
		if s.servers != nil && !s.servers[d.Spec.ServerRef.Name] {
			j.domains[d.Name] = problem{Reason: mailv1.ReasonServerNotFound,
				Message: fmt.Sprintf("MailServer %s does not exist in this namespace; create it or correct spec.serverRef.name", d.Spec.ServerRef.Name)}
		}
	}

	g := newAddressGraph(j)
	for _, c := range sortedClaimants(s) {
		if c.mailbox != nil {
			if p, bad := g.addMailbox(c.mailbox); bad {
				j.mailboxes[c.mailbox.Name] = p
			}
			continue
		}
		if p, bad := g.addAlias(c.alias); bad {
			j.aliases[c.alias.Name] = p
		}
	}
	return j
}

// sortedClaimants lists the Mailboxes and MailAliases oldest first.
func sortedClaimants(s snapshot) []claimant {
	out := make([]claimant, 0, len(s.mailboxes)+len(s.aliases))
	for i := range s.mailboxes {
		m := &s.mailboxes[i]
		out = append(out, claimant{age: age{m.CreationTimestamp, 0, m.Name}, mailbox: m})
	}
	for i := range s.aliases {
		a := &s.aliases[i]
		out = append(out, claimant{age: age{a.CreationTimestamp, 1, a.Name}, alias: a})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].age.before(out[b].age) })
	return out
}

// addressGraph holds the addresses of the accepted objects and where mail
// for each goes, to find conflicts and loops as objects are added.
type addressGraph struct {
	j         *judgement
	owner     map[string]string   // address or "@domain" → "Mailbox alice"
	mailbox   map[string][]string // mailbox address → forwardTo
	boxAlias  map[string]string   // mailbox alias → mailbox address
	aliases   map[string][]string // alias address → targets
	catchAlls map[string][]string // domain → catch-all targets
}

func newAddressGraph(j *judgement) *addressGraph {
	return &addressGraph{j: j, owner: map[string]string{}, mailbox: map[string][]string{},
		boxAlias: map[string]string{}, aliases: map[string][]string{}, catchAlls: j.catchAll}
}

// checkDomain reports a claimed address whose domain no MailDomain serves.
func (g *addressGraph) checkDomain(addr, what string) (problem, bool) {
	if g.j.byDomain[mail.Domain(addr)] == nil {
		return problem{Reason: mailv1.ReasonDomainNotFound,
			Message: fmt.Sprintf("no MailDomain in this namespace serves %s (%s %s); create one or correct the address", mail.Domain(addr), what, addr)}, true
	}
	return problem{}, false
}

// checkFree reports claims an accepted object already holds.
func (g *addressGraph) checkFree(claims []string) (problem, bool) {
	for _, c := range claims {
		if o, taken := g.owner[c]; taken {
			return problem{Reason: mailv1.ReasonAddressConflict,
				Message: fmt.Sprintf("%s is already used by %s, which is older; remove it here or there", c, o)}, true
		}
	}
	return problem{}, false
}

func (g *addressGraph) addMailbox(m *mailv1.Mailbox) (problem, bool) {
	addr := string(m.Spec.Address)
	if p, bad := g.checkDomain(addr, "address"); bad {
		return p, true
	}
	claims := []string{addr}
	server := g.j.serverOf(addr)
	for _, a := range m.Spec.Aliases {
		alias := string(a)
		if alias == addr {
			return problem{Reason: mailv1.ReasonInvalidSpec, Message: fmt.Sprintf("spec.aliases repeats the mailbox's own address %s; remove it", addr)}, true
		}
		if p, bad := g.checkDomain(alias, "alias"); bad {
			return p, true
		}
		if s := g.j.serverOf(alias); s != server {
			return problem{Reason: mailv1.ReasonInvalidSpec, Message: fmt.Sprintf(
				"alias %s is in a domain served by MailServer %s, but the mailbox is on MailServer %s; an alias must be on the mailbox's server", alias, s, server)}, true
		}
		claims = append(claims, alias)
	}
	if p, bad := g.checkFree(claims); bad {
		return p, true
	}
	forwards := make([]string, len(m.Spec.ForwardTo))
	for i, f := range m.Spec.ForwardTo {
		forwards[i] = string(f)
	}
	g.mailbox[addr] = forwards
	for _, a := range claims[1:] {
		g.boxAlias[a] = addr
	}
	if len(forwards) > 0 {
		if chain := g.loopFrom(addr); chain != "" {
			delete(g.mailbox, addr)
			for _, a := range claims[1:] {
				delete(g.boxAlias, a)
			}
			return problem{Reason: mailv1.ReasonAliasLoop, Message: "spec.forwardTo loops back: " + chain + "; break the loop"}, true
		}
	}
	for _, c := range claims {
		g.owner[c] = "Mailbox " + m.Name
	}
	return problem{}, false
}

func (g *addressGraph) addAlias(a *mailv1.MailAlias) (problem, bool) {
	addr := a.Spec.Address
	if p, bad := g.checkDomain(addr, "address"); bad {
		return p, true
	}
	if p, bad := g.checkFree([]string{addr}); bad {
		return p, true
	}
	targets := make([]string, len(a.Spec.Targets))
	for i, t := range a.Spec.Targets {
		targets[i] = string(t)
	}
	if strings.HasPrefix(addr, "@") {
		dom := addr[1:]
		g.catchAlls[dom] = targets
		for _, t := range targets {
			if chain := g.loopFrom(t); chain != "" {
				delete(g.catchAlls, dom)
				return problem{Reason: mailv1.ReasonAliasLoop, Message: "the catch-all loops back: " + chain + "; break the loop"}, true
			}
		}
	} else {
		g.aliases[addr] = targets
		if chain := g.loopFrom(addr); chain != "" {
			delete(g.aliases, addr)
			return problem{Reason: mailv1.ReasonAliasLoop, Message: "the targets loop back: " + chain + "; break the loop"}, true
		}
	}
	g.owner[addr] = "MailAlias " + a.Name
	return problem{}, false
}

// next returns where mail for addr goes next, as the server resolves it.
func (g *addressGraph) next(addr string) []string {
	if f, ok := g.mailbox[addr]; ok {
		return f
	}
	if m, ok := g.boxAlias[addr]; ok {
		return []string{m}
	}
	if t, ok := g.aliases[addr]; ok {
		return t
	}
	if t, ok := g.catchAlls[mail.Domain(addr)]; ok && g.j.byDomain[mail.Domain(addr)] != nil {
		return t
	}
	return nil
}

// loopFrom follows mail from start and returns the first loop met, as
// "a → b → a", or "" if there is none.
func (g *addressGraph) loopFrom(start string) string {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var path []string
	var visit func(addr string) string
	visit = func(addr string) string {
		switch state[addr] {
		case visiting:
			for i, p := range path {
				if p == addr {
					return strings.Join(append(append([]string(nil), path[i:]...), addr), " → ")
				}
			}
		case done:
			return ""
		}
		state[addr] = visiting
		path = append(path, addr)
		for _, n := range g.next(addr) {
			if chain := visit(n); chain != "" {
				return chain
			}
		}
		path = path[:len(path)-1]
		state[addr] = done
		return ""
	}
	return visit(start)
}
