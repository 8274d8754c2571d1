package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/kubemail/kubemail/mailserver/mail"
)

// DefaultMaxWait is the default of [AuthenticatorOptions].MaxWait.
const DefaultMaxWait = 10 * time.Second

// maxUsernameLength bounds usernames (an address is at most 254 octets, RFC 5321 §4.5.3.1.3).
const maxUsernameLength = 320

// ThrottledError is returned when the delay an attempt would have to wait
// exceeds [AuthenticatorOptions].MaxWait. errors.Is(err, ErrThrottled) is true.
type ThrottledError struct {
	// Delay is how long the client should wait before trying again.
	Delay time.Duration
}

// Error implements error.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v; retry in %v", mail.ErrThrottled, e.Delay)
}

// Is makes errors.Is(err, mail.ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == mail.ErrThrottled }

// LookupFunc finds an account's password hash and whether it is suspended;
// ok is false when there is no such account.
type LookupFunc func(username string) (hash string, suspended bool, ok bool)

// AuthenticatorOptions configures an [Authenticator].
type AuthenticatorOptions struct {
	// Lookup finds accounts. Required.
	Lookup LookupFunc
	// Canonical maps a username as typed by the client to the account name
	// returned on success and used for throttling. Nil means CanonicalLogin.
	Canonical func(username string) string
	// Logger receives a line for every login refused to a suspended
	// account (which the client is told is a wrong password); nil discards
	// them.
	Logger *slog.Logger
	// Throttle counts failures. Nil means NewThrottle(ThrottleOptions{}).
	Throttle *Throttle
	// Cache caches verifications. Nil means NewVerifyCache(CacheOptions{}).
	Cache *VerifyCache
	// MaxWait is the longest delay an attempt sleeps before being verified;
	// a longer required delay fails at once with *ThrottledError, so the
	// client is told to come back instead of hanging. Zero means DefaultMaxWait.
	MaxWait time.Duration
	// Sleep waits d or until ctx is done; nil means a timer. Tests inject it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Authenticator checks usernames and passwords for the protocol adapters.
// It is safe for concurrent use.
type Authenticator struct {
	opts  AuthenticatorOptions
	dummy string // a hash verified for unknown users, so they cost the same
}

var _ mail.Authenticator = (*Authenticator)(nil)

// NewAuthenticator builds an Authenticator with the defaults filled in.
func NewAuthenticator(opts AuthenticatorOptions) (*Authenticator, error) {
	if opts.Lookup == nil {
		return nil, errors.New("creating authenticator: Lookup is required")
	}
	if opts.Canonical == nil {
		opts.Canonical = CanonicalLogin
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Throttle == nil {
		opts.Throttle = NewThrottle(ThrottleOptions{})
	}
	if opts.Cache == nil {
		c, err := NewVerifyCache(CacheOptions{})
		if err != nil {
			return nil, fmt.Errorf("creating authenticator: %w", err)
		}
		opts.Cache = c
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepCtx
	}
	dummy, err := Hash(rand.Text())
	if err != nil {
		return nil, fmt.Errorf("creating authenticator: %w", err)
	}
	return &Authenticator{opts: opts, dummy: dummy}, nil
}

// Authenticate checks username and password for a client at ip and returns
// the canonical account name. It first waits the [Throttle]'s delay (or
// fails with *[ThrottledError] if that is longer than MaxWait, or with the
// context's error if ctx ends first). Errors: [mail.ErrInvalidCredentials],
// [mail.ErrSuspended], *[ThrottledError], a context error, or a wrapped error
// for an account whose stored hash is unusable (a server fault: report it
// as a temporary failure).
//
// An unknown user costs the same as a known one: the password is verified
// against a dummy argon2id hash made with [Hash]'s parameters (accounts with
// bcrypt or SHA512-CRYPT hashes cost what their hash costs).
func (a *Authenticator) Authenticate(ctx context.Context, ip netip.Addr, username, password string) (string, error) {
	account := a.opts.Canonical(strings.TrimSpace(username))
	if d := a.opts.Throttle.Delay(ip, account); d > 0 {
		if d > a.opts.MaxWait {
			return "", &ThrottledError{Delay: d}
		}
		if err := a.opts.Sleep(ctx, d); err != nil {
			return "", fmt.Errorf("waiting %v before verifying credentials: %w", d, err)
		}
	}
	if account == "" || len(account) > maxUsernameLength || password == "" {
		a.opts.Throttle.Failure(ip, account)
		return "", mail.ErrInvalidCredentials
	}
	hash, suspended, found := a.opts.Lookup(account)
	if !found {
		// Errors cannot happen: the dummy hash is ours and well-formed.
		_, _ = a.opts.Cache.Verify(a.dummy, password)
		a.opts.Throttle.Failure(ip, account)
		return "", mail.ErrInvalidCredentials
	}
	ok, err := a.opts.Cache.Verify(hash, password)
	if err != nil {
		return "", fmt.Errorf("verifying password of %s: %w", account, err)
	}
	if !ok {
		a.opts.Throttle.Failure(ip, account)
		return "", mail.ErrInvalidCredentials
	}
	if suspended {
		a.opts.Logger.Info("Login refused: the account is suspended", "user", account)
		return "", mail.ErrSuspended
	}
	a.opts.Throttle.Success(account)
	return account, nil
}

// CanonicalLogin is the account name a login name stands for: its
// canonical address (mail.CanonicalAddress), or the name folded
// (mail.Fold) when it is not an address — it then matches no account, and
// is throttled under that spelling.
func CanonicalLogin(username string) string {
	if c, err := mail.CanonicalAddress(username); err == nil {
		return c
	}
	return mail.Fold(username)
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
