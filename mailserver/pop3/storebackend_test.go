package pop3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
	"github.com/kubemail/kubemail/mailserver/store/sqlite"
)

// testPassword is the password fakeAuth accepts.
const testPassword = "Hello world!"

// fakeAuth answers as mailserver/auth does: alice logs in (in any case),
// carol is suspended, throttled@ is throttled, broken@ is a server fault.
type fakeAuth struct {
	mu sync.Mutex
	ip netip.Addr
}

func (a *fakeAuth) Authenticate(_ context.Context, ip netip.Addr, username, password string) (string, error) {
	a.mu.Lock()
	a.ip = ip
	a.mu.Unlock()
	switch user := strings.ToLower(username); {
	case user == "throttled@example.test":
		return "", fmt.Errorf("checking %s: %w", user, mail.ErrThrottled)
	case user == "broken@example.test":
		return "", errors.New("the password database is down")
	case password != testPassword:
		return "", mail.ErrInvalidCredentials
	case user == "carol@example.test":
		return "", mail.ErrSuspended
	case user == "alice@example.test":
		return user, nil
	}
	return "", mail.ErrInvalidCredentials
}

// storeFixture is a StoreBackend over a fresh store with alice's account.
type storeFixture struct {
	st      *sqlite.Store
	auth    *fakeAuth
	backend StoreBackend
}

func newStoreFixture(t *testing.T) *storeFixture {
	t.Helper()
	st, err := sqlite.Open(t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.EnsureAccount(t.Context(), "alice@example.test"); err != nil {
		t.Fatal(err)
	}
	f := &storeFixture{st: st, auth: &fakeAuth{}}
	f.backend = StoreBackend{Auth: f.auth, Store: st}
	return f
}

// deliver stores body in account's INBOX.
func (f *storeFixture) deliver(t *testing.T, account, body string) {
	t.Helper()
	res, err := f.st.Submit(t.Context(), store.Submission{Body: []byte(body), Local: []store.DeliveryTarget{{Account: account}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("delivering: %v %v", err, res)
	}
}

func TestStoreBackendMapsMailErrors(t *testing.T) {
	f := newStoreFixture(t)
	ip := &net.TCPAddr{IP: net.ParseIP("192.0.2.9"), Port: 1234}
	tests := map[string]struct {
		user, password string
		account        string
		want           error
	}{
		"a good password opens the account's maildrop":    {"Alice@EXAMPLE.test", testPassword, "alice@example.test", nil},
		"a wrong password is invalid credentials":         {"alice@example.test", "nope", "", ErrInvalidCredentials},
		"a suspended account looks like a wrong password": {"carol@example.test", testPassword, "", ErrInvalidCredentials},
		"throttling is a temporary failure":               {"throttled@example.test", testPassword, "", &Error{Kind: ErrorTemporary}},
		"a server fault is a temporary failure":           {"broken@example.test", testPassword, "", &Error{Kind: ErrorTemporary}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			md, err := f.backend.Login(context.Background(), ConnInfo{RemoteAddr: ip}, tc.user, tc.password)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Login: %v, want %v", err, tc.want)
			}
			if err == nil && md.Name() != tc.account {
				t.Errorf("maildrop %q, want %q", md.Name(), tc.account)
			}
			if err == nil && f.auth.ip != netip.MustParseAddr("192.0.2.9") {
				t.Errorf("the authenticator was asked about %v, want the client's address", f.auth.ip)
			}
		})
	}
}

func TestMaildrop(t *testing.T) {
	f := newStoreFixture(t)
	var bodies []string
	for i := range 3 {
		b := fmt.Sprintf("Subject: %d\r\n\r\n.leading dot\r\nline %d\r\n", i, i)
		bodies = append(bodies, b)
		f.deliver(t, "alice@example.test", b)
	}
	login := func() (Maildrop, []MessageInfo) {
		t.Helper()
		md, err := f.backend.Login(context.Background(), ConnInfo{}, "alice@example.test", testPassword)
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
