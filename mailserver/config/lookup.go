package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/kubemail/kubemail/mailserver/mail"
)

// Limits of alias expansion, in the spirit of Postfix's
// virtual_alias_recursion_limit and virtual_alias_expansion_limit.
const (
	// MaxAliasDepth is the longest chain of aliases and forwards followed.
	MaxAliasDepth = 20
	// MaxExpansion is the most addresses one recipient may expand to
	// (Postfix's default is 1000; this leaves room for an all-staff alias).
	MaxExpansion = 10_000
)

// Errors of [Config.Resolve].
var (
	// ErrInvalidAddress means the recipient is not a valid address.
	ErrInvalidAddress = errors.New("invalid address")
	// ErrUnknownRecipient means the address is in a local domain but there
	// is no such mailbox or alias and the domain has no catch-all.
	ErrUnknownRecipient = errors.New("unknown recipient")
	// ErrAliasLoop means the expansion comes back to an address it is expanding.
	ErrAliasLoop = errors.New("alias loop")
	// ErrAliasLimit means the expansion is deeper than MaxAliasDepth or
	// larger than MaxExpansion.
	ErrAliasLimit = errors.New("alias expansion limit exceeded")
)

// Resolution is where mail for one recipient goes.
type Resolution struct {
	// Recipient is the canonical form of the address resolved.
	Recipient string
	// Local reports whether its domain is served here. A non-local
	// recipient is not expanded: relaying it is the caller's decision.
	Local bool
	// Accounts are the local mailboxes (canonical addresses) to deliver
	// into, without duplicates, in the order found.
	Accounts []string
	// External are the non-local addresses to forward to, without duplicates.
	External []string
	// Dangling are local targets of aliases or forwards that name no
	// mailbox or alias in a domain without catch-all; they are skipped.
	Dangling []string
	// CatchAll reports whether a domain's catch-all was used.
	CatchAll bool
}

// compile builds the look-up tables of a validated configuration and checks
// every alias, forward and catch-all for loops and limits.
func compile(c *Config) (*index, []FieldError) {
	idx := &index{
		domains:   make(map[string]*Domain, len(c.Domains)),
		mailboxes: make(map[string]*Mailbox, len(c.Mailboxes)),
		boxAlias:  make(map[string]*Mailbox),
		aliases:   make(map[string]*Alias, len(c.Aliases)),
		senders:   make(map[string]map[string]bool),
	}
	for i := range c.Domains {
		idx.domains[c.Domains[i].Name] = &c.Domains[i]
	}
	for i := range c.Mailboxes {
		m := &c.Mailboxes[i]
		idx.mailboxes[m.Address] = m
		for _, a := range m.Aliases {
			idx.boxAlias[a] = m
			idx.allowSender(m.Address, a)
		}
	}
	for i := range c.Aliases {
		idx.aliases[c.Aliases[i].Address] = &c.Aliases[i]
	}
	for _, s := range c.ProxyProtocol.TrustedCIDRs {
		idx.trusted = append(idx.trusted, netip.MustParsePrefix(s)) // validated
	}
	idx.out = compileOutbound(c)

	var errs []FieldError
	cycles := map[string]bool{} // each loop is reported once, where first met
	check := func(path, addr string, stack ...string) {
		var res Resolution
		r := resolver{idx: idx, res: &res, seen: map[string]bool{}}
		err := r.expand(addr, stack)
		if le := (*loopError)(nil); errors.As(err, &le) {
			if cycles[le.cycle()] {
				return
			}
			cycles[le.cycle()] = true
		}
		if err != nil {
			errs = append(errs, FieldError{Path: path, Message: err.Error()})
		}
	}
	for i, d := range c.Domains {
		for j, t := range d.CatchAll {
			// Expanded as a target of "@domain", so that a catch-all
			// naming a missing address is dangling, like any alias target.
			p := fmt.Sprintf("domains[%d].catchAll", i)
			if len(d.CatchAll) > 1 {
				p = fmt.Sprintf("%s[%d]", p, j)
			}
			check(p, t, "@"+d.Name)
		}
	}
	for i, m := range c.Mailboxes {
		if len(m.ForwardTo) > 0 {
			check(fmt.Sprintf("mailboxes[%d].forwardTo", i), m.Address)
		}
	}
	for i, a := range c.Aliases {
		check(fmt.Sprintf("aliases[%d].targets", i), a.Address)
		idx.allowAliasSenders(a.Address, a.Address, map[string]bool{})
	}
	return idx, errs
}

func (idx *index) allowSender(account, from string) {
	if idx.senders[account] == nil {
		idx.senders[account] = map[string]bool{}
	}
	idx.senders[account][from] = true
}

// allowAliasSenders lets every account that alias reaches through aliases
// and mailbox aliases (not forwards or catch-alls) send as it.
func (idx *index) allowAliasSenders(alias, addr string, seen map[string]bool) {
	if seen[addr] || len(seen) > MaxExpansion {
		return
	}
	seen[addr] = true
	if m, ok := idx.mailbox(addr); ok {
		idx.allowSender(m.Address, alias)
		return
	}
	if a, ok := idx.aliases[addr]; ok {
		for _, t := range a.Targets {
			idx.allowAliasSenders(alias, t, seen)
		}
	}
}

// mailbox finds a mailbox by its address or one of its aliases.
func (idx *index) mailbox(addr string) (*Mailbox, bool) {
	if m, ok := idx.mailboxes[addr]; ok {
		return m, true
	}
	m, ok := idx.boxAlias[addr]
	return m, ok
}

// resolver expands one recipient.
type resolver struct {
	idx   *index
	res   *Resolution
	seen  map[string]bool // accounts and external addresses added
	steps int
}

// expand adds where mail for addr (canonical) goes. stack holds the
// addresses being expanded, outermost first.
func (r *resolver) expand(addr string, stack []string) error {
	for i, s := range stack {
		if s == addr {
			return &loopError{chain: append(stack[:len(stack):len(stack)], addr), start: i}
		}
	}
	if len(stack) > MaxAliasDepth {
		return fmt.Errorf("%w: deeper than %d: %s", ErrAliasLimit, MaxAliasDepth, shortChain(append(stack, addr)))
	}
	if r.steps++; r.steps > MaxExpansion {
		return fmt.Errorf("%w: more than %d addresses", ErrAliasLimit, MaxExpansion)
	}
	dom, local := r.idx.domains[mail.Domain(addr)]
	if !local {
		r.add(&r.res.External, addr)
		return nil
	}
	stack = append(stack, addr)
	if m, ok := r.idx.mailboxes[addr]; ok {
		if len(m.ForwardTo) == 0 || m.KeepCopy {
			r.add(&r.res.Accounts, m.Address)
		}
		return r.expandAll(m.ForwardTo, stack)
	}
	if m, ok := r.idx.boxAlias[addr]; ok {
		return r.expand(m.Address, stack)
	}
	if a, ok := r.idx.aliases[addr]; ok {
		return r.expandAll(a.Targets, stack)
	}
	if len(dom.CatchAll) > 0 {
		r.res.CatchAll = true
		return r.expandAll(dom.CatchAll, stack)
	}
	if len(stack) == 1 {
		return ErrUnknownRecipient
	}
	r.add(&r.res.Dangling, addr)
	return nil
}

// loopError is an [ErrAliasLoop]: chain is the expansion path, whose last
// address repeats chain[start].
type loopError struct {
	chain []string
	start int
}

// Error renders the loop's path.
func (e *loopError) Error() string {
	return fmt.Sprintf("%v: %s", ErrAliasLoop, shortChain(e.chain))
}

// Unwrap makes errors.Is(err, ErrAliasLoop) true.
func (e *loopError) Unwrap() error { return ErrAliasLoop }

// cycle identifies the loop regardless of where its expansion entered it.
func (e *loopError) cycle() string {
	members := slices.Clone(e.chain[e.start : len(e.chain)-1])
	slices.Sort(members)
	return strings.Join(members, " ")
}

// shortChain renders an expansion path, eliding the middle of long ones.
func shortChain(chain []string) string {
	if len(chain) > 6 {
		chain = append(append(slices.Clone(chain[:3]), "…"), chain[len(chain)-2:]...)
	}
	return strings.Join(chain, " → ")
}

func (r *resolver) expandAll(targets, stack []string) error {
	for _, t := range targets {
		if err := r.expand(t, stack); err != nil {
			return err
		}
	}
	return nil
}

func (r *resolver) add(list *[]string, addr string) {
	if !r.seen[addr] {
		r.seen[addr] = true
		*list = append(*list, addr)
	}
}

// Resolve expands a recipient address: a mailbox or one of its aliases
// gives that account (and its forwards); an alias gives its targets,
// recursively; an unknown local part in a local domain goes to the domain's
// catch-all, or fails with [ErrUnknownRecipient]; a non-local domain gives
// Local=false and no expansion. Errors: [ErrInvalidAddress],
// [ErrUnknownRecipient], [ErrAliasLoop], [ErrAliasLimit] (the last two are
// caught by validation, so a loaded configuration does not produce them).
func (c *Config) Resolve(recipient string) (Resolution, error) {
	c.mustBeCompiled()
	addr, err := mail.CanonicalAddress(recipient)
	if err != nil {
		return Resolution{}, fmt.Errorf("%w: %v", ErrInvalidAddress, err)
	}
	res := Resolution{Recipient: addr, Local: c.isLocal(mail.Domain(addr))}
	if !res.Local {
		return res, nil
	}
	r := resolver{idx: c.idx, res: &res, seen: map[string]bool{}}
	if err := r.expand(addr, nil); err != nil {
		return Resolution{Recipient: addr, Local: true}, err
	}
	if len(res.Accounts) == 0 && len(res.External) == 0 {
		return Resolution{Recipient: addr, Local: true, Dangling: res.Dangling}, ErrUnknownRecipient
	}
	return res, nil
}

// key returns the canonical form of an address for map look-ups, or "" if
// it is not a valid address. Plain ASCII takes a fast path.
func key(addr string) string {
	if mail.IsASCII(addr) {
		return strings.ToLower(addr)
	}
	a, err := mail.CanonicalAddress(addr)
	if err != nil {
		return ""
	}
	return a
}

// isLocal looks up a canonical domain.
func (c *Config) isLocal(domain string) bool {
	_, ok := c.idx.domains[domain]
	return ok
}

// IsLocalDomain reports whether mail for domain is delivered here.
func (c *Config) IsLocalDomain(domain string) bool {
	_, ok := c.LookupDomain(domain)
	return ok
}

// LookupDomain returns a local domain's settings. The result must not be modified.
func (c *Config) LookupDomain(domain string) (*Domain, bool) {
	c.mustBeCompiled()
	d := strings.ToLower(domain)
	if !mail.IsASCII(domain) {
		var err error
		if d, err = mail.CanonicalDomain(domain); err != nil {
			return nil, false
		}
	}
	dom, ok := c.idx.domains[d]
	return dom, ok
}

// LookupMailbox returns the account whose address (not alias) is address,
// compared as described in address.go. The result must not be modified.
func (c *Config) LookupMailbox(address string) (*Mailbox, bool) {
	c.mustBeCompiled()
	m, ok := c.idx.mailboxes[key(address)]
	return m, ok
}

// LookupPassword finds a login's password hash; it has the shape of
// auth.LookupFunc. Logins are by the mailbox's address.
func (c *Config) LookupPassword(username string) (hash string, suspended bool, ok bool) {
	m, ok := c.LookupMailbox(username)
	if !ok {
		return "", false, false
	}
	return m.PasswordHash, m.Suspended, true
}

// QuotaBytes returns the quota of a mailbox: its own, else its domain's
// default; 0 means unlimited.
func (c *Config) QuotaBytes(m *Mailbox) int64 {
	if m.QuotaBytes > 0 {
		return m.QuotaBytes
	}
	if d, ok := c.LookupDomain(mail.Domain(m.Address)); ok {
		return d.QuotaBytes
	}
	return 0
}

// SenderAllowed reports whether the authenticated account may use from as
// its sender address: its own address, one of its mailbox aliases, or an
// alias whose expansion (through aliases, not forwards or catch-alls)
// reaches the account.
func (c *Config) SenderAllowed(account, from string) bool {
	c.mustBeCompiled()
	acct, f := key(account), key(from)
	if _, ok := c.idx.mailboxes[acct]; !ok || f == "" {
		return false
	}
	return f == acct || c.idx.senders[acct][f]
}

// ProxyTrusted reports whether PROXY protocol headers from ip are honoured.
func (c *Config) ProxyTrusted(ip netip.Addr) bool {
	c.mustBeCompiled()
	ip = ip.Unmap()
	for _, p := range c.idx.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
