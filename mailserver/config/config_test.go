package config

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// testHash is a recognised password hash ("Hello world!", SHA512-CRYPT).
const testHash = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"

// validConfig is a small valid configuration that test cases modify.
func validConfig() Config {
	return Config{
		APIVersion: APIVersion,
		Kind:       Kind,
		Hostname:   "mx.example.test",
		Listeners: Listeners{
			SMTP: Listener{Address: "127.0.0.1:2525"},
			IMAP: Listener{Address: "127.0.0.1:1143"},
		},
		Storage: Storage{Path: "data"},
		Domains: []Domain{{Name: "example.test"}, {Name: "example.org"}},
		Mailboxes: []Mailbox{
			{Address: "alice@example.test", PasswordHash: testHash},
			{Address: "bob@example.test", PasswordHash: testHash},
		},
		Aliases: []Alias{{Address: "team@example.test", Targets: []string{"alice@example.test"}}},
	}
}

func TestNewRefusesInvalidConfigurations(t *testing.T) {
	cases := map[string]struct {
		mutate func(c *Config)
		want   []string
	}{
		"a wrong apiVersion": {func(c *Config) { c.APIVersion = "v1" },
			[]string{`apiVersion: must be "server.kubemail.io/v1alpha1", not "v1"`}},
		"a wrong kind": {func(c *Config) { c.Kind = "Config" },
			[]string{`kind: must be "ServerConfig", not "Config"`}},
		"a missing hostname": {func(c *Config) { c.Hostname = "" },
			[]string{`hostname: required`}},
		"an invalid hostname": {func(c *Config) { c.Hostname = "mx_1.example.test" },
			[]string{`hostname: "mx_1.example.test" is not a valid host name: invalid character '_'`}},
		"a listener without a port": {func(c *Config) { c.Listeners.SMTP.Address = "127.0.0.1" },
			[]string{`listeners.smtp.address: "127.0.0.1" is not a valid host:port: missing or misplaced port`}},
		"a listener port out of range": {func(c *Config) { c.Listeners.IMAP.Address = "127.0.0.1:70000" },
			[]string{`listeners.imap.address: "127.0.0.1:70000" is not a valid host:port: port "70000" is not a number`}},
		"a listener on a bad host": {func(c *Config) { c.Listeners.POP3.Address = "bad host:110" },
			[]string{`listeners.pop3.address: "bad host:110" is not a valid host:port: host "bad host" is neither`}},
		"two listeners on one address": {func(c *Config) { c.Listeners.Submission.Address = "127.0.0.1:2525" },
			[]string{`listeners.submission.address: "127.0.0.1:2525" is already the address of listeners.smtp`}},
		"PROXY protocol without trusted networks": {func(c *Config) { c.Listeners.SMTP.ProxyProtocol = true },
			[]string{`listeners.smtp.proxyProtocol: requires proxyProtocol.trustedCIDRs`}},
		"a trusted network that is not a CIDR": {func(c *Config) { c.ProxyProtocol.TrustedCIDRs = []string{"10.0.0.0/8", "10.0.0.1"} },
			[]string{`proxyProtocol.trustedCIDRs[1]: "10.0.0.1" is not a CIDR such as 10.0.0.0/8`}},
		"a certificate without a key": {func(c *Config) { c.TLS.CertFile = "tls.crt" },
			[]string{`tls.keyFile: required when tls.certFile is set`}},
		"a key without a certificate": {func(c *Config) { c.TLS.KeyFile = "tls.key" },
			[]string{`tls.certFile: required when tls.keyFile is set`}},
		"postgres storage": {func(c *Config) { c.Storage.Driver = "postgres" },
			[]string{`storage.driver: "postgres" is not supported yet; use "sqlite"`}},
		"an unknown storage driver": {func(c *Config) { c.Storage.Driver = "mysql" },
			[]string{`storage.driver: "mysql" is unknown; use "sqlite"`}},
		"a missing storage path": {func(c *Config) { c.Storage.Path = "" },
			[]string{`storage.path: required`}},
		"a negative limit": {func(c *Config) { c.Limits.MaxRecipients = -1 },
			[]string{`limits.maxRecipients: must be positive, not -1`}},
		"a negative message size": {func(c *Config) { c.Limits.MaxMessageBytes = -5 },
			[]string{`limits.maxMessageBytes: must be positive, not -5`}},
		"a line length below RFC 5321's": {func(c *Config) { c.Limits.MaxLineLength = 512 },
			[]string{`limits.maxLineLength: must be at least 1000 (RFC 5321 §4.5.3.1.6), not 512`}},
		"an IMAP idle timeout below RFC 9051's": {func(c *Config) { c.Limits.IMAPIdleTimeout = Dur(5 * time.Minute) },
			[]string{`limits.imapIdleTimeout: must be at least 30m0s (RFC 9051 §5.4), not 5m0s`}},
		"a negative duration": {func(c *Config) { c.Limits.CommandTimeout = Dur(-time.Second) },
			[]string{`limits.commandTimeout: must be positive, not -1s`}},
		"an auth max delay below the first delay": {func(c *Config) {
			c.Limits.AuthFailureDelay, c.Limits.AuthFailureMaxDelay = Dur(time.Minute), Dur(time.Second)
		}, []string{`limits.authFailureMaxDelay: must not be less than limits.authFailureDelay (1m0s)`}},
		"a duplicate domain in another case": {func(c *Config) { c.Domains = append(c.Domains, Domain{Name: "Example.TEST"}) },
			[]string{`domains[2].name: duplicate domain "example.test"`}},
		"an invalid domain": {func(c *Config) { c.Domains[1].Name = "exa mple.org" },
			[]string{`domains[1].name: "exa mple.org" is not a valid domain name: invalid character ' '`}},
		"an all-numeric domain": {func(c *Config) { c.Domains[1].Name = "192.0.2.1" },
			[]string{`domains[1].name: "192.0.2.1" is not a valid domain name: the last label must not be all digits`}},
		"a missing domain name": {func(c *Config) { c.Domains[1].Name = "" },
			[]string{`domains[1].name: required`}},
		"a negative domain quota": {func(c *Config) { c.Domains[0].QuotaBytes = -1 },
			[]string{`domains[0].quotaBytes: must not be negative, not -1`}},
		"DKIM without selector or key file": {func(c *Config) { c.Domains[0].DKIM = &DKIM{} },
			[]string{`domains[0].dkim.selector: required`, `domains[0].dkim.keyFile: required`}},
		"an invalid DKIM selector": {func(c *Config) { c.Domains[0].DKIM = &DKIM{Selector: "sel_1", KeyFile: "k.pem"} },
			[]string{`domains[0].dkim.selector: "sel_1" is not a valid selector`}},
		"a mailbox address without a domain": {func(c *Config) { c.Mailboxes[1].Address = "bob@" },
			[]string{`mailboxes[1].address: "bob@" is not a valid email address: domain: empty`}},
		"a mailbox address without @": {func(c *Config) { c.Mailboxes[1].Address = "bob" },
			[]string{`mailboxes[1].address: "bob" is not a valid email address: missing @`}},
		"a mailbox outside the configured domains": {func(c *Config) { c.Mailboxes[0].Address = "alice@elsewhere.test" },
			[]string{`mailboxes[0].address: domain "elsewhere.test" of "alice@elsewhere.test" is not in domains`}},
		"a mailbox defined twice in different case": {func(c *Config) { c.Mailboxes[1].Address = "ALICE@example.test" },
			[]string{`mailboxes[1].address: "alice@example.test" is already defined at mailboxes[0].address`}},
		"an address that is both a mailbox and an alias": {func(c *Config) { c.Aliases[0].Address = "bob@example.test" },
			[]string{`aliases[0].address: "bob@example.test" is already defined at mailboxes[1].address`}},
		"a mailbox alias that is another mailbox": {func(c *Config) { c.Mailboxes[1].Aliases = []string{"alice@example.test"} },
			[]string{`mailboxes[1].aliases[0]: "alice@example.test" is already defined at mailboxes[0].address`}},
		"a mailbox alias outside the configured domains": {func(c *Config) { c.Mailboxes[0].Aliases = []string{"a@other.test"} },
			[]string{`mailboxes[0].aliases[0]: domain "other.test" of "a@other.test" is not in domains`}},
		"an alias defined twice": {func(c *Config) {
			c.Aliases = append(c.Aliases, Alias{Address: "team@example.test", Targets: []string{"bob@example.test"}})
		},
			[]string{`aliases[1].address: "team@example.test" is already defined at aliases[0].address`}},
		"a missing password hash": {func(c *Config) { c.Mailboxes[0].PasswordHash = "" },
			[]string{`mailboxes[0].passwordHash: required`}},
		"an unrecognised password hash": {func(c *Config) { c.Mailboxes[0].PasswordHash = "{PLAIN}secret-password" },
			[]string{`mailboxes[0].passwordHash: not a recognised password hash (argon2id, bcrypt or SHA512-CRYPT`}},
		"a negative mailbox quota": {func(c *Config) { c.Mailboxes[0].QuotaBytes = -1 },
			[]string{`mailboxes[0].quotaBytes: must not be negative, not -1`}},
		"an invalid forward address": {func(c *Config) { c.Mailboxes[0].ForwardTo = []string{"nobody"} },
			[]string{`mailboxes[0].forwardTo[0]: "nobody" is not a valid email address: missing @`}},
		"a catch-all written as an alias": {func(c *Config) { c.Aliases[0].Address = "@example.test" },
			[]string{`aliases[0].address: catch-all "@example.test" belongs on the domain (domains[].catchAll)`}},
		"an alias without targets": {func(c *Config) { c.Aliases[0].Targets = nil },
			[]string{`aliases[0].targets: at least one target is required`}},
		"an invalid alias target": {func(c *Config) { c.Aliases[0].Targets = append(c.Aliases[0].Targets, "x@") },
			[]string{`aliases[0].targets[1]: "x@" is not a valid email address`}},
		"an invalid catch-all": {func(c *Config) { c.Domains[0].CatchAll = Targets{"not an address"} },
			[]string{`domains[0].catchAll: "not an address" is not a valid email address`}},
		"an invalid target of a catch-all with several": {func(c *Config) { c.Domains[0].CatchAll = Targets{"alice@example.test", "x@"} },
			[]string{`domains[0].catchAll[1]: "x@" is not a valid email address`}},
		"an alias loop": {func(c *Config) {
			c.Aliases = []Alias{
				{Address: "a@example.test", Targets: []string{"b@example.test"}},
				{Address: "b@example.test", Targets: []string{"alice@example.test", "a@example.test"}},
			}
		}, []string{`aliases[0].targets: alias loop: a@example.test → b@example.test → a@example.test`}},
		"a forwarding loop between mailboxes": {func(c *Config) {
			c.Mailboxes[0].ForwardTo = []string{"bob@example.test"}
			c.Mailboxes[1].ForwardTo = []string{"alice@example.test"}
		}, []string{`mailboxes[0].forwardTo: alias loop: alice@example.test → bob@example.test → alice@example.test`}},
		"a mailbox forwarding to its own alias": {func(c *Config) {
			c.Mailboxes[0].Aliases = []string{"al@example.test"}
			c.Mailboxes[0].ForwardTo = []string{"al@example.test"}
		}, []string{`mailboxes[0].forwardTo: alias loop: alice@example.test → al@example.test → alice@example.test`}},
		"a catch-all naming a missing address of its own domain": {func(c *Config) { c.Domains[0].CatchAll = Targets{"nobody@example.test"} },
			[]string{`domains[0].catchAll: alias loop: @example.test → nobody@example.test → nobody@example.test`}},
		"an alias chain deeper than the limit": {func(c *Config) {
			c.Aliases = nil
			for i := range MaxAliasDepth + 1 {
				c.Aliases = append(c.Aliases, Alias{Address: addrN(i), Targets: []string{addrN(i + 1)}})
			}
		}, []string{`aliases[0].targets: alias expansion limit exceeded: deeper than 20: chain@example.test → chainx@example.test → chainxx@example.test → … →`}},
		"several problems at once": {func(c *Config) {
			c.Hostname = ""
			c.Mailboxes[1].Address = "bob@"
			c.Domains = append(c.Domains, Domain{Name: "example.test"})
		}, []string{`hostname: required`, `mailboxes[1].address: "bob@" is not a valid email address`, `domains[2].name: duplicate domain "example.test"`}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			_, err := New(c)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("New = %v, want a *ValidationError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if len(ve.Errors) != len(tc.want) {
				t.Errorf("%d errors, want %d:\n%v", len(ve.Errors), len(tc.want), err)
			}
			if strings.Contains(err.Error(), "secret-password") {
				t.Errorf("error reveals a password hash: %v", err)
			}
		})
	}
}

func addrN(i int) string { return "chain" + strings.Repeat("x", i) + "@example.test" }

func TestParseRefusesBadDocuments(t *testing.T) {
	const head = "apiVersion: server.kubemail.io/v1alpha1\nkind: ServerConfig\nhostname: mx.example.test\nstorage: {path: data}\n"
	cases := map[string]struct {
		doc  string
		want []string
	}{
		"a misspelt field": {head + "listeners:\n  smtpp: {address: \"127.0.0.1:25\"}\n",
			[]string{`listeners.smtpp: unknown field`}},
		"a field in the wrong letter case": {head + "Limits: {}\n",
			[]string{`Limits: unknown field`}},
		"an unknown field inside a list element": {head + "domains: [{name: example.test}]\nmailboxes:\n- address: a@example.test\n  pasword: x\n",
			[]string{`mailboxes[0].pasword: unknown field`, `mailboxes[0].passwordHash: required`}},
		"a duplicate key": {head + "hostname: other.example.test\n",
			[]string{`parsing YAML`, `already set`}},
		"a duration that does not parse": {head + "limits: {idleTimeout: 10 minutes}\n",
			[]string{`limits.idleTimeout: "10 minutes" is not a duration like "30s" or "10m"`}},
		"a duration written as a bare number": {head + "limits: {commandTimeout: 30}\n",
			[]string{`limits.commandTimeout: 30 is not a duration string like "30s"`}},
		"a size written as a string": {head + "limits: {maxMessageBytes: 10MB}\n",
			[]string{`limits.maxMessageBytes: expected int64, got string`}},
		"a document that is a list": {"- a\n- b\n",
			[]string{`(document): must be a mapping`}},
		"an empty document": {"",
			[]string{`(document): must be a mapping`}},
		"YAML that does not parse": {"hostname: [unclosed\n",
			[]string{`parsing YAML`}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestParseNormalisesAndDefaults(t *testing.T) {
	doc := `apiVersion: server.kubemail.io/v1alpha1
kind: ServerConfig
hostname: MX.Example.TEST
listeners:
  smtp: {address: "127.0.0.1:0"}
  imap: {address: "127.0.0.1:0", proxyProtocol: true}
proxyProtocol: {trustedCIDRs: ["10.1.2.3/8", "2001:db8::1/32"]}
storage: {path: data}
limits: {commandTimeout: 90s}
domains:
- name: Example.TEST
  dkim: {selector: 2024, keyFile: dkim.pem}
  catchAll: Alice@Example.Test
- name: BÜCHER.example
  catchAll: [Jörg@bücher.example, Shop@Partner.NET]
mailboxes:
- address: Alice@EXAMPLE.test
  passwordHash: "` + testHash + `"
  aliases: [A.Smith@Example.Test]
  forwardTo: [Alice@Elsewhere.NET]
  keepCopy: true
- address: Jörg@bücher.example
  passwordHash: "` + testHash + `"
aliases:
- address: Team@Example.test
  targets: [ALICE@example.test]
`
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]struct{ got, want any }{
		"hostname is lower-cased":                   {c.Hostname, "mx.example.test"},
		"a domain is lower-cased":                   {c.Domains[0].Name, "example.test"},
		"an IDN domain becomes its A-label":         {c.Domains[1].Name, "xn--bcher-kva.example"},
		"a numeric DKIM selector is a string":       {c.Domains[0].DKIM.Selector, "2024"},
		"a mailbox address is lower-cased":          {c.Mailboxes[0].Address, "alice@example.test"},
		"a UTF-8 local part is lower-cased":         {c.Mailboxes[1].Address, "jörg@xn--bcher-kva.example"},
		"a mailbox alias is lower-cased":            {c.Mailboxes[0].Aliases[0], "a.smith@example.test"},
		"a forward target is lower-cased":           {c.Mailboxes[0].ForwardTo[0], "alice@elsewhere.net"},
		"an alias target is lower-cased":            {c.Aliases[0].Targets[0], "alice@example.test"},
		"a catch-all may be one address":            {strings.Join(c.Domains[0].CatchAll, " "), "alice@example.test"},
		"a catch-all may be a list":                 {strings.Join(c.Domains[1].CatchAll, " "), "jörg@xn--bcher-kva.example shop@partner.net"},
		"trusted CIDRs are masked":                  {c.ProxyProtocol.TrustedCIDRs[0], "10.0.0.0/8"},
		"IPv6 trusted CIDRs are masked":             {c.ProxyProtocol.TrustedCIDRs[1], "2001:db8::/32"},
		"the storage driver defaults to sqlite":     {c.Storage.Driver, DriverSQLite},
		"a set duration is kept":                    {c.Limits.CommandTimeout.Duration, 90 * time.Second},
		"an absent duration takes its default":      {c.Limits.IMAPIdleTimeout.Duration, DefaultIMAPIdleTimeout},
		"an absent size takes its default":          {c.Limits.MaxMessageBytes, int64(DefaultMaxMessageBytes)},
		"an absent count takes its default":         {c.Limits.MaxRecipients, DefaultMaxRecipients},
		"two listeners on port 0 do not conflict":   {c.Listeners.IMAP.Address, "127.0.0.1:0"},
		"TLS with no files is self-signed":          {c.TLS.SelfSigned(), true},
		"a listener with an address is enabled":     {c.Listeners.SMTP.Enabled(), true},
		"a listener without an address is disabled": {c.Listeners.POP3.Enabled(), false},
	}
	for name, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", name, ch.got, ch.want)
		}
	}
}

func TestNewCopiesItsInput(t *testing.T) {
	in := validConfig()
	in.Mailboxes[0].Address = "ALICE@example.test"
	c, err := New(in)
	if err != nil {
		t.Fatal(err)
	}
	if in.Mailboxes[0].Address != "ALICE@example.test" {
		t.Errorf("New modified its input")
	}
	if c.Mailboxes[0].Address != "alice@example.test" {
		t.Errorf("address not normalised: %q", c.Mailboxes[0].Address)
	}
}

func TestLookupsPanicOnUncompiledConfig(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	c := validConfig()
	c.LookupMailbox("alice@example.test")
}

func TestBuildIsNewWithoutTheCopy(t *testing.T) {
	for _, n := range []int{0, 1, 50} {
		c := bigConfig(t, n)
		in := *c
		in.Mailboxes = slices.Clone(c.Mailboxes)
		viaNew, err := New(in)
		if err != nil {
			t.Fatal(err)
		}
		fresh := *c
		fresh.Mailboxes = slices.Clone(c.Mailboxes)
		built, err := Build(&fresh)
		if err != nil {
			t.Fatal(err)
		}
		if built.Hash() != viaNew.Hash() {
			t.Fatalf("%d mailboxes: Build hashes %s, New %s", n, built.Hash(), viaNew.Hash())
		}
		a, err := Split(built, "x", 0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Split(viaNew, "x", 0)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%d mailboxes: the shards of Build and New differ", n)
		}
	}
}

func TestTargetsEncodeOneAddressAsAString(t *testing.T) {
	cases := map[string]struct {
		t    Targets
		want string
	}{
		"one address is a string, as before lists (hashes unchanged)": {Targets{"a@x.test"}, `"a@x.test"`},
		"several are a list": {Targets{"a@x.test", "b@x.test"}, `["a@x.test","b@x.test"]`},
		"none is left out":   {nil, `null`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := json.Marshal(tc.t)
			if err != nil || string(got) != tc.want {
				t.Fatalf("Marshal = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
	var got Targets
	if err := json.Unmarshal([]byte(`{"x": 1}`), &got); err == nil {
		t.Fatal("an object decoded as Targets")
	}
	if err := json.Unmarshal([]byte(`""`), &got); err != nil || got != nil {
		t.Fatalf(`"" decoded as %q, %v; want none`, got, err)
	}
}
