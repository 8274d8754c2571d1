package delivery

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
	"github.com/kubemail/kubemail/mailserver/store/sqlite"
)

// testHash is a recognised password hash of "Hello world!" (SHA512-CRYPT).
const testHash = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"

// fixture is an Intake over a fresh store holding the accounts of a small
// configuration: alice, bob (1000-byte quota), carol (suspended) and the
// alias team@ for alice and bob.
type fixture struct {
	st      *sqlite.Store
	in      *Intake
	commits atomic.Int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cfg, err := config.New(config.Config{
		APIVersion: config.APIVersion,
		Kind:       config.Kind,
		Hostname:   "mx.example.test",
		Storage:    config.Storage{Path: "data"},
		Domains:    []config.Domain{{Name: "example.test"}},
		Mailboxes: []config.Mailbox{
			{Address: "alice@example.test", PasswordHash: testHash},
			{Address: "bob@example.test", PasswordHash: testHash, QuotaBytes: 1000},
			{Address: "carol@example.test", PasswordHash: testHash, Suspended: true},
		},
		Aliases: []config.Alias{{Address: "team@example.test", Targets: []string{"alice@example.test", "bob@example.test"}}},
	})
	if err != nil {
		t.Fatalf("building the test configuration: %v", err)
	}
	st, err := sqlite.Open(t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for _, m := range cfg.Mailboxes {
		if _, err := st.EnsureAccount(t.Context(), m.Address); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{st: st}
	f.in, err = New(Options{Store: st, Config: config.NewHolder(cfg), ObserveCommit: func(time.Duration) { f.commits.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// envelope resolves rcpts the way the SMTP server does.
func (f *fixture) envelope(t *testing.T, rcpts ...string) mail.Envelope {
	t.Helper()
	env := mail.Envelope{ID: "TESTID", From: "sender@remote.test", ReceivedAt: time.Now()}
	for _, r := range rcpts {
		rcpt, err := f.in.Resolve(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		env.Recipients = append(env.Recipients, rcpt)
	}
	return env
}

// inbox returns the bodies in an account's INBOX.
func (f *fixture) inbox(t *testing.T, account string) []string {
	t.Helper()
	ref := store.FolderRef{Account: account, Folder: store.Inbox}
	list, err := f.st.ListMessages(context.Background(), ref, store.ListOptions{UIDs: store.AllUIDs()})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range list.Messages {
		b, err := f.st.Body(context.Background(), ref, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	return bodies
}

func message(size int) []byte {
	head := "Subject: test\r\n\r\n"
	return []byte(head + strings.Repeat("x", size-len(head)-2) + "\r\n")
}

func TestDeliverStoresOnceForEveryAccount(t *testing.T) {
	f := newFixture(t)
	body := message(100)
	// team@ expands to alice and bob; alice is also named directly.
	if err := f.in.Deliver(context.Background(), f.envelope(t, "team@example.test", "Alice@Example.Test"), body); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice@example.test", "bob@example.test"} {
		if got := f.inbox(t, a); !slices.Equal(got, []string{string(body)}) {
			t.Errorf("%s holds %d messages, want the one delivered once", a, len(got))
		}
	}
	if n := f.commits.Load(); n != 1 {
		t.Errorf("commit latency observed %d times, want 1", n)
	}
}

func TestDeliverOverQuotaKeepsNothing(t *testing.T) {
	tests := map[string]struct {
		size      int
		permanent bool
	}{
		"a message that would fill the quota is refused for now":    {size: 600, permanent: false},
		"a message larger than the whole quota is refused for good": {size: 1500, permanent: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			// bob's quota is 1000 bytes; fill 600 of them.
			if err := f.in.Deliver(context.Background(), f.envelope(t, "bob@example.test"), message(600)); err != nil {
				t.Fatal(err)
			}
			err := f.in.Deliver(context.Background(), f.envelope(t, "team@example.test"), message(tc.size))
			var oq *mail.OverQuotaError
			if !errors.As(err, &oq) {
				t.Fatalf("Deliver: %v, want an *mail.OverQuotaError", err)
			}
			if oq.Account != "bob@example.test" || oq.Permanent != tc.permanent {
				t.Errorf("over quota: %+v, want bob@example.test, permanent %v", oq, tc.permanent)
			}
			if got := f.inbox(t, "alice@example.test"); len(got) != 0 {
				t.Errorf("alice kept %d copies of a refused delivery", len(got))
			}
			if got := f.inbox(t, "bob@example.test"); len(got) != 1 {
				t.Errorf("bob holds %d messages, want the first one only", len(got))
			}
		})
	}
}

func TestCheckQuota(t *testing.T) {
	f := newFixture(t)
	if err := f.in.Deliver(context.Background(), f.envelope(t, "bob@example.test"), message(900)); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		account   string
		size      int64
		wantErr   bool
		permanent bool
	}{
		"an account without quota takes anything":         {"alice@example.test", 1 << 30, false, false},
		"a message that fits is accepted":                 {"bob@example.test", 100, false, false},
		"a message beyond the free space is deferred":     {"bob@example.test", 101, true, false},
		"a message beyond the whole quota is refused":     {"bob@example.test", 1001, true, true},
		"an undeclared size passes while space remains":   {"bob@example.test", 0, false, false},
		"an account unknown to the configuration is left": {"nobody@example.test", 10, false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := f.in.CheckQuota(context.Background(), tc.account, tc.size)
			var oq *mail.OverQuotaError
			if tc.wantErr != errors.As(err, &oq) || (err != nil && !tc.wantErr) {
				t.Fatalf("CheckQuota: %v, want over quota %v", err, tc.wantErr)
			}
			if tc.wantErr && oq.Permanent != tc.permanent {
				t.Errorf("permanent %v, want %v", oq.Permanent, tc.permanent)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	tests := map[string]struct {
		rcpt     string
		local    bool
		accounts []string
		unknown  bool
	}{
		"a mailbox in any case resolves to its account": {"ALICE@example.TEST", true, []string{"alice@example.test"}, false},
		"an alias resolves to its targets":              {"team@example.test", true, []string{"alice@example.test", "bob@example.test"}, false},
		"an unknown local user is unknown":              {"nobody@example.test", false, nil, true},
		"another domain is not local":                   {"someone@remote.test", false, nil, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := f.in.Resolve(context.Background(), tc.rcpt)
			if tc.unknown {
				if !errors.Is(err, mail.ErrUnknownRecipient) {
					t.Fatalf("Resolve: %v, want mail.ErrUnknownRecipient", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Local != tc.local || !slices.Equal(r.Accounts, tc.accounts) || r.Address != tc.rcpt {
				t.Errorf("Resolve = %+v, want local %v accounts %v", r, tc.local, tc.accounts)
			}
		})
	}
	if !f.in.SenderAllowed("alice@example.test", "team@example.test") || f.in.SenderAllowed("bob@example.test", "alice@example.test") {
		t.Error("SenderAllowed does not follow the configuration")
	}
}

func TestOutboundEntryKeepsTheOriginalRecipient(t *testing.T) {
	env := mail.Envelope{ID: "ID", From: "x@c.test", Return: "HDRS", EnvelopeID: "E", RequireTLS: true, Recipients: []mail.Recipient{
		{Address: "dave@a.test", Local: true, Accounts: []string{"dave@a.test"}, External: []string{"bob@b.test"}, Notify: []string{"SUCCESS", "FAILURE"}},
		{Address: "carol@b.test", ORCPT: "rfc822;c@b.test", Notify: []string{"NEVER"}},
	}}
	out := outbound(env, env.Remote(), t0)
	want := []store.OutboundRecipient{
		{Address: "bob@b.test", ORCPT: "rfc822;dave@a.test", Notify: store.NotifySuccess | store.NotifyFailure},
		{Address: "carol@b.test", ORCPT: "rfc822;c@b.test", Notify: store.NotifyNever},
	}
	if len(out.Recipients) != len(want) {
		t.Fatalf("recipients %+v", out.Recipients)
	}
	for i := range want {
		if out.Recipients[i] != want[i] {
			t.Errorf("recipient %d = %+v, want %+v", i, out.Recipients[i], want[i])
		}
	}
	m := out.Message
	if m.ID != "ID" || m.Sender != "x@c.test" || m.Return != "HDRS" || m.EnvelopeID != "E" || !m.RequireTLS || !m.Created.Equal(t0) {
		t.Fatalf("message %+v", m)
	}
}
