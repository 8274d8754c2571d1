package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

// resolveConfig is the configuration the look-up tests run against.
func resolveConfig(t *testing.T) *Config {
	t.Helper()
	c, err := New(Config{
		APIVersion: APIVersion, Kind: Kind, Hostname: "mx.example.test",
		Storage:       Storage{Path: "data"},
		ProxyProtocol: ProxyProtocol{TrustedCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"}},
		Domains: []Domain{
			{Name: "example.test", CatchAll: Targets{"catchall@example.test"}, QuotaBytes: 1000},
			{Name: "example.org"},
			{Name: "bücher.example", CatchAll: Targets{"jörg@bücher.example", "Shop@Partner.net"}},
		},
		Mailboxes: []Mailbox{
			{Address: "alice@example.test", PasswordHash: testHash, Aliases: []string{"A.Smith@example.test"}},
			{Address: "bob@example.test", PasswordHash: testHash, ForwardTo: []string{"bob@elsewhere.net"}, KeepCopy: true, QuotaBytes: 5},
			{Address: "carol@example.test", PasswordHash: testHash, ForwardTo: []string{"carol@elsewhere.net"}},
			{Address: "dave@example.org", PasswordHash: testHash},
			{Address: "catchall@example.test", PasswordHash: testHash},
			{Address: "jörg@bücher.example", PasswordHash: testHash},
			{Address: "frozen@example.org", PasswordHash: testHash, Suspended: true},
			{Address: "fwd@example.org", PasswordHash: testHash, ForwardTo: []string{"dave@example.org"}},
		},
		Aliases: []Alias{
			{Address: "team@example.test", Targets: []string{"alice@example.test", "Bob@EXAMPLE.test", "team2@example.test"}},
			{Address: "team2@example.test", Targets: []string{"dave@example.org", "ext@partner.net", "alice@example.test"}},
			{Address: "list@example.org", Targets: []string{"team@example.test", "carol@example.test"}},
			{Address: "gone@example.org", Targets: []string{"missing@example.org"}},
			{Address: "partly@example.org", Targets: []string{"missing@example.org", "dave@example.org"}},
			{Address: "via-catchall@example.org", Targets: []string{"nobody@example.test"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestResolve(t *testing.T) {
	c := resolveConfig(t)
	cases := map[string]struct {
		recipient string
		want      Resolution
		err       error
	}{
		"a mailbox delivers to its account": {"alice@example.test",
			Resolution{Recipient: "alice@example.test", Local: true, Accounts: []string{"alice@example.test"}}, nil},
		"the local part and domain compare case-insensitively": {"ALICE@Example.TEST",
			Resolution{Recipient: "alice@example.test", Local: true, Accounts: []string{"alice@example.test"}}, nil},
		"a mailbox alias delivers to its account": {"a.smith@example.test",
			Resolution{Recipient: "a.smith@example.test", Local: true, Accounts: []string{"alice@example.test"}}, nil},
		"a forward with keepCopy delivers and forwards": {"bob@example.test",
			Resolution{Recipient: "bob@example.test", Local: true, Accounts: []string{"bob@example.test"}, External: []string{"bob@elsewhere.net"}}, nil},
		"a forward without keepCopy only forwards": {"carol@example.test",
			Resolution{Recipient: "carol@example.test", Local: true, External: []string{"carol@elsewhere.net"}}, nil},
		"a local forward delivers to the target account": {"fwd@example.org",
			Resolution{Recipient: "fwd@example.org", Local: true, Accounts: []string{"dave@example.org"}}, nil},
		"nested aliases expand once per address": {"team@example.test",
			Resolution{Recipient: "team@example.test", Local: true,
				Accounts: []string{"alice@example.test", "bob@example.test", "dave@example.org"},
				External: []string{"bob@elsewhere.net", "ext@partner.net"}}, nil},
		"an alias of aliases reaches every level": {"list@example.org",
			Resolution{Recipient: "list@example.org", Local: true,
				Accounts: []string{"alice@example.test", "bob@example.test", "dave@example.org"},
				External: []string{"bob@elsewhere.net", "ext@partner.net", "carol@elsewhere.net"}}, nil},
		"an unknown local part goes to the catch-all": {"whoever@example.test",
			Resolution{Recipient: "whoever@example.test", Local: true, Accounts: []string{"catchall@example.test"}, CatchAll: true}, nil},
		"an alias target with an unknown local part goes to the catch-all": {"via-catchall@example.org",
			Resolution{Recipient: "via-catchall@example.org", Local: true, Accounts: []string{"catchall@example.test"}, CatchAll: true}, nil},
		"a catch-all with several targets delivers to each": {"whoever@bücher.example",
			Resolution{Recipient: "whoever@xn--bcher-kva.example", Local: true, Accounts: []string{"jörg@xn--bcher-kva.example"},
				External: []string{"shop@partner.net"}, CatchAll: true}, nil},
		"an unknown local part without catch-all is unknown": {"whoever@example.org",
			Resolution{Recipient: "whoever@example.org", Local: true}, ErrUnknownRecipient},
		"an alias whose only target is missing is unknown": {"gone@example.org",
			Resolution{Recipient: "gone@example.org", Local: true, Dangling: []string{"missing@example.org"}}, ErrUnknownRecipient},
		"a missing alias target is skipped and reported": {"partly@example.org",
			Resolution{Recipient: "partly@example.org", Local: true, Accounts: []string{"dave@example.org"}, Dangling: []string{"missing@example.org"}}, nil},
		"a suspended mailbox still receives mail": {"frozen@example.org",
			Resolution{Recipient: "frozen@example.org", Local: true, Accounts: []string{"frozen@example.org"}}, nil},
		"an internationalised address resolves in canonical form": {"Jörg@BÜCHER.example",
			Resolution{Recipient: "jörg@xn--bcher-kva.example", Local: true, Accounts: []string{"jörg@xn--bcher-kva.example"}}, nil},
		"a non-local domain is not expanded": {"Someone@Partner.NET",
			Resolution{Recipient: "someone@partner.net"}, nil},
		"a malformed address is invalid": {"not-an-address",
			Resolution{}, ErrInvalidAddress},
		"a quoted local part is invalid": {`"john doe"@example.test`,
			Resolution{}, ErrInvalidAddress},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := c.Resolve(tc.recipient)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !equalResolution(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func equalResolution(a, b Resolution) bool {
	return a.Recipient == b.Recipient && a.Local == b.Local && a.CatchAll == b.CatchAll &&
		slices.Equal(a.Accounts, b.Accounts) && slices.Equal(a.External, b.External) && slices.Equal(a.Dangling, b.Dangling)
}

// Validation keeps loops out of loaded configurations; the resolver still
// guards against them on its own.
func TestResolveGuardsAgainstLoopsAndLimits(t *testing.T) {
	c := &Config{
		Domains: []Domain{{Name: "example.test"}},
		Aliases: []Alias{
			{Address: "a@example.test", Targets: []string{"b@example.test"}},
			{Address: "b@example.test", Targets: []string{"c@example.test", "a@example.test"}},
			{Address: "c@example.test", Targets: []string{"ext@partner.net"}},
		},
	}
	// wide@ → w0…wN@, each an alias of a missing address: 2N+2 steps.
	wide := Alias{Address: "wide@example.test"}
	for i := range MaxExpansion / 2 {
		w := fmt.Sprintf("w%d@example.test", i)
		c.Aliases = append(c.Aliases, Alias{Address: w, Targets: []string{"missing-" + w}})
		wide.Targets = append(wide.Targets, w)
	}
	c.Aliases = append(c.Aliases, wide)
	idx, errs := compile(c)
	if len(errs) != 2 {
		t.Fatalf("compile reported %v, want the loop and the limit", errs)
	}
	c.idx = idx
	_, err := c.Resolve("a@example.test")
	if !errors.Is(err, ErrAliasLoop) || err.Error() != "alias loop: a@example.test → b@example.test → a@example.test" {
		t.Errorf("Resolve(a) = %v, want the loop", err)
	}
	if _, err := c.Resolve("wide@example.test"); !errors.Is(err, ErrAliasLimit) {
		t.Errorf("Resolve(wide) = %v, want ErrAliasLimit", err)
	}
}

func TestSenderAllowed(t *testing.T) {
	c := resolveConfig(t)
	cases := map[string]struct {
		account, from string
		want          bool
	}{
		"an account may send as itself":                        {"alice@example.test", "alice@example.test", true},
		"letter case does not matter":                          {"Alice@example.test", "ALICE@EXAMPLE.TEST", true},
		"an account may send as its mailbox alias":             {"alice@example.test", "a.smith@example.test", true},
		"a target of an alias may send as the alias":           {"alice@example.test", "team@example.test", true},
		"a target through nested aliases may send as them":     {"dave@example.org", "team@example.test", true},
		"a target through two levels may send as the outer":    {"alice@example.test", "list@example.org", true},
		"a forwarding target of an alias may send as it":       {"carol@example.test", "list@example.org", true},
		"an account may not send as another account":           {"alice@example.test", "bob@example.test", false},
		"an account may not send as another's mailbox alias":   {"bob@example.test", "a.smith@example.test", false},
		"a catch-all recipient may not send as any address":    {"catchall@example.test", "whoever@example.test", false},
		"a forward target may not send as the forwarder":       {"dave@example.org", "fwd@example.org", false},
		"an alias outside the account's reach is not allowed":  {"bob@example.test", "team2@example.test", false},
		"an unknown account may not send at all":               {"nobody@example.test", "nobody@example.test", false},
		"an invalid sender is not allowed":                     {"alice@example.test", "é@", false},
		"an internationalised account may send as itself":      {"jörg@bücher.example", "JÖRG@xn--bcher-kva.example", true},
		"a mailbox alias is not an account that may send":      {"a.smith@example.test", "a.smith@example.test", false},
		"an empty sender is not allowed for an account":        {"alice@example.test", "", false},
		"an alias address is not an account":                   {"team@example.test", "team@example.test", false},
		"a non-local sender is not allowed":                    {"alice@example.test", "alice@elsewhere.net", false},
		"a forwarded-to external address gives no permissions": {"bob@example.test", "bob@elsewhere.net", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := c.SenderAllowed(tc.account, tc.from); got != tc.want {
				t.Errorf("SenderAllowed(%q, %q) = %v, want %v", tc.account, tc.from, got, tc.want)
			}
		})
	}
}

func TestLookups(t *testing.T) {
	c := resolveConfig(t)
	if m, ok := c.LookupMailbox("BOB@example.test"); !ok || m.Address != "bob@example.test" {
		t.Errorf("LookupMailbox(BOB) = %v, %v", m, ok)
	}
	if _, ok := c.LookupMailbox("a.smith@example.test"); ok {
		t.Errorf("LookupMailbox found a mailbox by its alias; logins use the address")
	}
	if _, ok := c.LookupMailbox("team@example.test"); ok {
		t.Errorf("LookupMailbox found an alias")
	}
	if h, suspended, ok := c.LookupPassword("frozen@EXAMPLE.org"); !ok || !suspended || h != testHash {
		t.Errorf("LookupPassword(frozen) = %q, %v, %v", h, suspended, ok)
	}
	if _, _, ok := c.LookupPassword("nobody@example.org"); ok {
		t.Errorf("LookupPassword(nobody) found an account")
	}
	for domain, want := range map[string]bool{
		"example.test": true, "EXAMPLE.Test": true, "bücher.example": true, "xn--bcher-kva.example": true,
		"example.net": false, "": false, "exa mple.test": false,
	} {
		if got := c.IsLocalDomain(domain); got != want {
			t.Errorf("IsLocalDomain(%q) = %v, want %v", domain, got, want)
		}
	}
	alice, _ := c.LookupMailbox("alice@example.test")
	bob, _ := c.LookupMailbox("bob@example.test")
	dave, _ := c.LookupMailbox("dave@example.org")
	for name, tc := range map[string]struct {
		m    *Mailbox
		want int64
	}{
		"the domain's default applies":   {alice, 1000},
		"the mailbox's own quota wins":   {bob, 5},
		"no quota anywhere is unlimited": {dave, 0},
	} {
		if got := c.QuotaBytes(tc.m); got != tc.want {
			t.Errorf("%s: QuotaBytes = %d, want %d", name, got, tc.want)
		}
	}
	for ip, want := range map[string]bool{
		"10.1.2.3": true, "::ffff:10.1.2.3": true, "2001:db8::5": true, "192.0.2.1": false, "2001:db9::1": false,
	} {
		if got := c.ProxyTrusted(netip.MustParseAddr(ip)); got != want {
			t.Errorf("ProxyTrusted(%s) = %v, want %v", ip, got, want)
		}
	}
}
