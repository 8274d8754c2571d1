package auth

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/mail"
)

type testAccount struct {
	hash      string
	suspended bool
}

// authFixture is an Authenticator over a fixed account table, a fake clock
// and a recording sleep.
type authFixture struct {
	auth    *Authenticator
	clock   *fakeClock
	cache   *VerifyCache
	slept   []time.Duration
	lookups []string
}

func newAuthFixture(t *testing.T, opts ...func(*AuthenticatorOptions)) *authFixture {
	t.Helper()
	accounts := map[string]testAccount{
		"hello@example.test":     {hash: testSHA512},
		"suspended@example.test": {hash: testSHA512, suspended: true},
		"broken@example.test":    {hash: "$6$nothing"},
	}
	f := &authFixture{clock: newFakeClock()}
	f.cache = newTestCache(t, 100, time.Hour, f.clock)
	o := AuthenticatorOptions{
		Lookup: func(username string) (string, bool, bool) {
			f.lookups = append(f.lookups, username)
			a, ok := accounts[username]
			return a.hash, a.suspended, ok
		},
		Throttle: NewThrottle(ThrottleOptions{FreeFailures: 2, BaseDelay: time.Second, MaxDelay: 8 * time.Second, Now: f.clock.Now}),
		Cache:    f.cache,
		MaxWait:  4 * time.Second,
		Sleep: func(ctx context.Context, d time.Duration) error {
			f.slept = append(f.slept, d)
			return ctx.Err()
		},
	}
	for _, opt := range opts {
		opt(&o)
	}
	a, err := NewAuthenticator(o)
	if err != nil {
		t.Fatal(err)
	}
	f.auth = a
	return f
}

var clientIP = netip.MustParseAddr("192.0.2.10")

func TestAuthenticate(t *testing.T) {
	cases := map[string]struct {
		username, password string
		wantAccount        string
		wantErr            error
		notErr             error
	}{
		"the right password logs in with the canonical account name": {
			username: " Hello@Example.TEST", password: "Hello world!", wantAccount: "hello@example.test",
		},
		"a wrong password is invalid credentials": {
			username: "hello@example.test", password: "hello world!", wantErr: mail.ErrInvalidCredentials, notErr: mail.ErrSuspended,
		},
		"an unknown user is invalid credentials": {
			username: "nobody@example.test", password: "Hello world!", wantErr: mail.ErrInvalidCredentials, notErr: mail.ErrSuspended,
		},
		"a suspended account with the right password is suspended": {
			username: "suspended@example.test", password: "Hello world!", wantErr: mail.ErrSuspended,
		},
		"a suspended account looks like invalid credentials to the client": {
			username: "suspended@example.test", password: "Hello world!", wantErr: mail.ErrInvalidCredentials,
		},
		"a suspended account with a wrong password is only invalid credentials": {
			username: "suspended@example.test", password: "nope", wantErr: mail.ErrInvalidCredentials, notErr: mail.ErrSuspended,
		},
		"an empty password is invalid credentials": {
			username: "hello@example.test", password: "", wantErr: mail.ErrInvalidCredentials,
		},
		"an empty username is invalid credentials": {
			username: "  ", password: "Hello world!", wantErr: mail.ErrInvalidCredentials,
		},
		"an overlong username is invalid credentials": {
			username: strings.Repeat("a", 400) + "@example.test", password: "x", wantErr: mail.ErrInvalidCredentials,
		},
		"an unusable stored hash is a server fault, not invalid credentials": {
			username: "broken@example.test", password: "x", wantErr: ErrMalformedHash, notErr: mail.ErrInvalidCredentials,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newAuthFixture(t)
			account, err := f.auth.Authenticate(context.Background(), clientIP, tc.username, tc.password)
			if account != tc.wantAccount {
				t.Errorf("account = %q, want %q", account, tc.wantAccount)
			}
			if tc.wantErr == nil && err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.notErr != nil && errors.Is(err, tc.notErr) {
				t.Fatalf("err = %v, must not be %v", err, tc.notErr)
			}
		})
	}
}

func TestAuthenticateVerifiesADummyHashForUnknownUsers(t *testing.T) {
	f := newAuthFixture(t)
	if _, err := f.auth.Authenticate(context.Background(), clientIP, "nobody@example.test", "guess"); !errors.Is(err, mail.ErrInvalidCredentials) {
		t.Fatalf("err = %v", err)
	}
	// The verification happened (its result is now cached) and was against
	// the dummy argon2id hash.
	if f.cache.Len() != 1 {
		t.Fatalf("cache holds %d entries, want 1: the dummy verification", f.cache.Len())
	}
	if _, hit := f.cache.get(f.cache.keyOf(f.auth.dummy, "guess")); !hit {
		t.Fatal("no cached verification against the dummy hash")
	}
	if !strings.HasPrefix(f.auth.dummy, "$argon2id$") {
		t.Fatalf("dummy hash %q is not argon2id", f.auth.dummy)
	}
}

func TestAuthenticateThrottlesRepeatedFailures(t *testing.T) {
	f := newAuthFixture(t)
	ctx := context.Background()
	// Two free failures, then 1s, 2s, 4s of sleep before each attempt.
	for range 5 {
		if _, err := f.auth.Authenticate(ctx, clientIP, "hello@example.test", "wrong"); !errors.Is(err, mail.ErrInvalidCredentials) {
			t.Fatalf("err = %v", err)
		}
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	if len(f.slept) != len(want) {
		t.Fatalf("slept %v, want %v", f.slept, want)
	}
	for i := range want {
		if f.slept[i] != want[i] {
			t.Fatalf("slept %v, want %v", f.slept, want)
		}
	}
	// The next delay (8s) exceeds MaxWait (4s): refused at once, the
	// password is not even looked at, nothing is slept.
	lookups := len(f.lookups)
	_, err := f.auth.Authenticate(ctx, clientIP, "hello@example.test", "Hello world!")
	var te *ThrottledError
	if !errors.As(err, &te) || te.Delay != 8*time.Second || !errors.Is(err, mail.ErrThrottled) {
		t.Fatalf("err = %v, want *ThrottledError{8s}", err)
	}
	if len(f.lookups) != lookups || len(f.slept) != 3 {
		t.Fatal("a throttled attempt looked up the account or slept")
	}
	// After the throttle forgets, the right password logs in and resets the
	// account's counter.
	f.clock.Advance(DefaultForget)
	if account, err := f.auth.Authenticate(ctx, clientIP, "hello@example.test", "Hello world!"); err != nil || account != "hello@example.test" {
		t.Fatalf("Authenticate = %q, %v", account, err)
	}
	if d := f.auth.opts.Throttle.Delay(netip.MustParseAddr("198.51.100.1"), "hello@example.test"); d != 0 {
		t.Fatalf("account delay after success = %v, want 0", d)
	}
}

func TestAuthenticateUnknownUsersAreThrottledToo(t *testing.T) {
	f := newAuthFixture(t)
	for range 3 {
		_, _ = f.auth.Authenticate(context.Background(), clientIP, "nobody@example.test", "x")
	}
	if len(f.slept) != 1 || f.slept[0] != time.Second {
		t.Fatalf("slept %v, want [1s]", f.slept)
	}
}

func TestAuthenticateHonoursContextWhileWaiting(t *testing.T) {
	f := newAuthFixture(t)
	for range 2 {
		_, _ = f.auth.Authenticate(context.Background(), clientIP, "hello@example.test", "wrong")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	lookups := len(f.lookups)
	_, err := f.auth.Authenticate(ctx, clientIP, "hello@example.test", "Hello world!")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(f.lookups) != lookups {
		t.Fatal("the account was looked up after the context ended")
	}
}

func TestSleepCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleepCtx on a cancelled context = %v", err)
	}
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("sleepCtx = %v", err)
	}
}

func TestAuthenticateUsesCanonicalOption(t *testing.T) {
	f := newAuthFixture(t, func(o *AuthenticatorOptions) {
		o.Canonical = func(u string) string { return strings.ToLower(u) + "@example.test" }
	})
	account, err := f.auth.Authenticate(context.Background(), clientIP, "HELLO", "Hello world!")
	if err != nil || account != "hello@example.test" {
		t.Fatalf("Authenticate = %q, %v", account, err)
	}
}

func TestNewAuthenticatorRequiresLookup(t *testing.T) {
	if _, err := NewAuthenticator(AuthenticatorOptions{}); err == nil {
		t.Fatal("NewAuthenticator without Lookup succeeded")
	}
}
