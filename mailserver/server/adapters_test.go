package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/auth"
	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/pop3"
	"github.com/kubemail/kubemail/mailserver/store"
)

// adapterFixture is the adapters over a fresh store and baseConfig.
type adapterFixture struct {
	st      store.Store
	dir     *directory
	auth    authenticator
	backend pop3Backend
	metrics *metrics
}

func newAdapters(t *testing.T) *adapterFixture {
	t.Helper()
	cfg := compile(t, baseConfig())
	st := newStore(t)
	withAccounts(t, st, cfg)
	holder := config.NewHolder(cfg)
	a, err := auth.NewAuthenticator(auth.AuthenticatorOptions{Lookup: holder.LookupPassword, Canonical: canonical})
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics()
	f := &adapterFixture{
		st:      st,
		dir:     &directory{holder: holder, store: st, metrics: m, log: slog.New(slog.DiscardHandler)},
		auth:    authenticator{auth: a, log: slog.New(slog.DiscardHandler)},
		metrics: m,
	}
	f.backend = pop3Backend{auth: f.auth, store: st}
	return f
}

// envelope resolves rcpts the way the SMTP server does.
func (f *adapterFixture) envelope(t *testing.T, rcpts ...string) mail.Envelope {
	t.Helper()
	env := mail.Envelope{ID: "TESTID", From: "sender@remote.test", ReceivedAt: time.Now()}
	for _, r := range rcpts {
		rcpt, err := f.dir.Resolve(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		env.Recipients = append(env.Recipients, rcpt)
	}
	return env
}

// inbox returns the bodies in an account's INBOX.
func (f *adapterFixture) inbox(t *testing.T, account string) []string {
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
	f := newAdapters(t)
	body := message(100)
	// team@ expands to alice and bob; alice is also named directly.
	if err := f.dir.Deliver(context.Background(), f.envelope(t, "team@example.test", "Alice@Example.Test"), body); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice@example.test", "bob@example.test"} {
		if got := f.inbox(t, a); !slices.Equal(got, []string{string(body)}) {
			t.Errorf("%s holds %d messages, want the one delivered once", a, len(got))
		}
	}
	if n := testutilCount(f.metrics); n != 1 {
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
			f := newAdapters(t)
			// bob's quota is 1000 bytes; fill 600 of them.
			if err := f.dir.Deliver(context.Background(), f.envelope(t, "bob@example.test"), message(600)); err != nil {
				t.Fatal(err)
			}
			err := f.dir.Deliver(context.Background(), f.envelope(t, "team@example.test"), message(tc.size))
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
	f := newAdapters(t)
	if err := f.dir.Deliver(context.Background(), f.envelope(t, "bob@example.test"), message(900)); err != nil {
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
			err := f.dir.CheckQuota(context.Background(), tc.account, tc.size)
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

func TestDirectoryResolve(t *testing.T) {
	f := newAdapters(t)
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
			r, err := f.dir.Resolve(context.Background(), tc.rcpt)
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
	if !f.dir.SenderAllowed("alice@example.test", "team@example.test") || f.dir.SenderAllowed("bob@example.test", "alice@example.test") {
		t.Error("SenderAllowed does not follow the configuration")
	}
}

func TestAuthenticatorMapsErrorsForBothProtocols(t *testing.T) {
	f := newAdapters(t)
	ip := net.TCPAddrFromAddrPort(mustAddrPort("192.0.2.9:1234"))
	tests := map[string]struct {
		user, password string
		account        string
		smtpErr        error
		pop3Err        error
	}{
		"a good password logs into the canonical account": {"Alice@EXAMPLE.test", testPassword, "alice@example.test", nil, nil},
		"a wrong password is invalid credentials":         {"alice@example.test", "nope", "", mail.ErrInvalidCredentials, pop3.ErrInvalidCredentials},
		"an unknown user is invalid credentials":          {"nobody@example.test", testPassword, "", mail.ErrInvalidCredentials, pop3.ErrInvalidCredentials},
		"a suspended account looks like a wrong password": {"carol@example.test", testPassword, "", mail.ErrInvalidCredentials, pop3.ErrInvalidCredentials},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			account, err := f.auth.Authenticate(context.Background(), ipOf(ip), tc.user, tc.password)
			if account != tc.account || !errors.Is(err, tc.smtpErr) || (tc.smtpErr == nil) != (err == nil) {
				t.Errorf("SMTP: (%q, %v), want (%q, %v)", account, err, tc.account, tc.smtpErr)
			}
			md, err := f.backend.Login(context.Background(), pop3.ConnInfo{RemoteAddr: ip}, tc.user, tc.password)
			if !errors.Is(err, tc.pop3Err) || (tc.pop3Err == nil) != (err == nil) {
				t.Errorf("POP3: %v, want %v", err, tc.pop3Err)
			}
			if err == nil && md.Name() != tc.account {
				t.Errorf("POP3 maildrop %q, want %q", md.Name(), tc.account)
			}
		})
	}
}

func TestMaildrop(t *testing.T) {
	f := newAdapters(t)
	var bodies []string
	for i := range 3 {
		b := fmt.Sprintf("Subject: %d\r\n\r\n.leading dot\r\nline %d\r\n", i, i)
		bodies = append(bodies, b)
		if err := f.dir.Deliver(context.Background(), f.envelope(t, "alice@example.test"), []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	login := func() (pop3.Maildrop, []pop3.MessageInfo) {
		t.Helper()
		md, err := f.backend.Login(context.Background(), pop3.ConnInfo{}, "alice@example.test", testPassword)
		if err != nil {
			t.Fatal(err)
		}
		list, err := md.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return md, list
	}

	md, list := login()
	if len(list) != 3 {
		t.Fatalf("listed %d messages, want 3", len(list))
	}
	validity, _, ok := parseUIDL(list[0].UID)
	if !ok {
		t.Fatalf("unique id %q is not <uidvalidity>.<uid>", list[0].UID)
	}
	for i, m := range list {
		if want := uidl(validity, store.UID(i+1)); m.UID != want {
			t.Errorf("message %d: unique id %q, want %q", i+1, m.UID, want)
		}
		if m.Size != int64(len(bodies[i])) {
			t.Errorf("message %d: size %d, want %d", i+1, m.Size, len(bodies[i]))
		}
		rc, err := md.Open(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		_ = rc.Close()
		if string(got) != bodies[i] {
			t.Errorf("message %d: body %q, want %q", i+1, got, bodies[i])
		}
	}
	if err := md.Commit(context.Background(), []string{"999.2"}); err == nil {
		t.Error("an id of another UIDVALIDITY was committed")
	}
	if err := md.Commit(context.Background(), []string{list[1].UID}); err != nil {
		t.Fatal(err)
	}
	_ = md.Close()

	_, after := login()
	if got := []string{after[0].UID, after[1].UID}; len(after) != 2 || !slices.Equal(got, []string{list[0].UID, list[2].UID}) {
		t.Errorf("after deleting message 2 the ids are %v, want %v and %v unchanged", after, list[0].UID, list[2].UID)
	}
}

func TestParseUIDL(t *testing.T) {
	tests := map[string]struct {
		in       string
		validity uint32
		uid      store.UID
		ok       bool
	}{
		"an id made by uidl":       {uidl(7, 42), 7, 42, true},
		"the largest values":       {"4294967295.4294967295", 4294967295, 4294967295, true},
		"no dot":                   {"742", 0, 0, false},
		"UID zero":                 {"7.0", 0, 0, false},
		"an overflowing UID":       {"7.4294967296", 0, 0, false},
		"something else entirely":  {"abc.def", 0, 0, false},
		"a sign is not a number":   {"+7.1", 0, 0, false},
		"an empty validity is bad": {".1", 0, 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, u, ok := parseUIDL(tc.in)
			if ok != tc.ok || (ok && (v != tc.validity || u != tc.uid)) {
				t.Errorf("parseUIDL(%q) = %d, %d, %v; want %d, %d, %v", tc.in, v, u, ok, tc.validity, tc.uid, tc.ok)
			}
		})
	}
}
