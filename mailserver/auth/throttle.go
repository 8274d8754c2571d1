package auth

import (
	"container/list"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Defaults of [ThrottleOptions].
const (
	DefaultFreeFailures      = 3
	DefaultFreeFailuresPerIP = 10
	DefaultBaseDelay         = 2 * time.Second
	DefaultMaxDelay          = 30 * time.Second
	DefaultForget            = 15 * time.Minute
	DefaultMaxEntries        = 100_000
)

// ThrottleOptions configures a [Throttle].
type ThrottleOptions struct {
	// FreeFailures is how many failures an account may have before its
	// attempts are delayed. Zero means DefaultFreeFailures.
	FreeFailures int
	// FreeFailuresPerIP is the same for one client address (an IPv4 address
	// or an IPv6 /64). It is higher than the per-account value because many
	// users may share one address behind NAT. Zero means DefaultFreeFailuresPerIP.
	FreeFailuresPerIP int
	// BaseDelay is the delay after the free failures are used up; it doubles
	// with every further failure. Zero means DefaultBaseDelay.
	BaseDelay time.Duration
	// MaxDelay caps the delay. Zero means DefaultMaxDelay.
	MaxDelay time.Duration
	// Forget is how long after its last failure a counter is dropped. Zero
	// means DefaultForget.
	Forget time.Duration
	// MaxEntries bounds the number of counters (addresses plus accounts);
	// beyond it the counter touched longest ago is dropped. Zero means
	// DefaultMaxEntries.
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Throttle counts authentication failures per client address and per account
// and tells how long the next attempt has to wait: nothing for the first free
// failures, then BaseDelay doubling with each failure up to MaxDelay. The
// larger of the address's and the account's delay applies, so neither
// guessing many passwords for one account from many addresses nor many
// accounts from one address goes fast.
//
// A success resets the account's counter but not the address's: one valid
// login must not let a client wipe its record of guessing other accounts.
// Address counters decay by being forgotten Forget after the last failure.
//
// IPv6 clients are counted per /64, since a single host usually controls a
// whole /64. A Throttle is safe for concurrent use.
type Throttle struct {
	opts ThrottleOptions

	mu      sync.Mutex
	lru     *list.List // of *throttleEntry, most recently failed at the front
	entries map[string]*list.Element
}

type throttleEntry struct {
	key      string
	failures int
	last     time.Time
}

// NewThrottle returns a Throttle with the defaults filled in.
func NewThrottle(opts ThrottleOptions) *Throttle {
	if opts.FreeFailures <= 0 {
		opts.FreeFailures = DefaultFreeFailures
	}
	if opts.FreeFailuresPerIP <= 0 {
		opts.FreeFailuresPerIP = DefaultFreeFailuresPerIP
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = DefaultBaseDelay
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	opts.MaxDelay = max(opts.MaxDelay, opts.BaseDelay)
	if opts.Forget <= 0 {
		opts.Forget = DefaultForget
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Throttle{opts: opts, lru: list.New(), entries: make(map[string]*list.Element)}
}

// Delay returns how long an attempt from ip for account must wait before it
// is verified. An invalid ip (unknown client address) counts as no address.
func (t *Throttle) Delay(ip netip.Addr, account string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opts.Now()
	d := t.delay(t.failures(accountKey(account), now), t.opts.FreeFailures)
	if k, ok := ipKey(ip); ok {
		d = max(d, t.delay(t.failures(k, now), t.opts.FreeFailuresPerIP))
	}
	return d
}

// Failure records a failed attempt from ip for account.
func (t *Throttle) Failure(ip netip.Addr, account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opts.Now()
	t.bump(accountKey(account), now)
	if k, ok := ipKey(ip); ok {
		t.bump(k, now)
	}
}

// Success records a successful login for account, resetting its counter.
func (t *Throttle) Success(account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drop(accountKey(account))
}

// Len returns the number of counters held.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len()
}

// delay maps a failure count to a delay. Called with t.mu held.
func (t *Throttle) delay(failures, free int) time.Duration {
	if failures < free {
		return 0
	}
	d := t.opts.BaseDelay
	for range failures - free {
		d *= 2
		if d >= t.opts.MaxDelay {
			return t.opts.MaxDelay
		}
	}
	return d
}

// failures returns the live count for key, dropping it if forgotten.
// Called with t.mu held.
func (t *Throttle) failures(key string, now time.Time) int {
	el, ok := t.entries[key]
	if !ok {
		return 0
	}
	e := el.Value.(*throttleEntry)
	if now.Sub(e.last) >= t.opts.Forget {
		t.drop(key)
		return 0
	}
	return e.failures
}

// bump adds one failure to key. Called with t.mu held.
func (t *Throttle) bump(key string, now time.Time) {
	n := t.failures(key, now)
	if el, ok := t.entries[key]; ok {
		e := el.Value.(*throttleEntry)
		e.failures, e.last = n+1, now
		t.lru.MoveToFront(el)
		return
	}
	for t.lru.Len() >= t.opts.MaxEntries {
		t.drop(t.lru.Back().Value.(*throttleEntry).key)
	}
	t.entries[key] = t.lru.PushFront(&throttleEntry{key: key, failures: 1, last: now})
}

// drop removes key. Called with t.mu held.
func (t *Throttle) drop(key string) {
	if el, ok := t.entries[key]; ok {
		t.lru.Remove(el)
		delete(t.entries, key)
	}
}

// accountKey is the counter key of an account; accounts compare case-insensitively.
func accountKey(account string) string {
	return "user " + strings.ToLower(account)
}

// ipKey is the counter key of a client address: the IPv4 address, or the
// IPv6 /64 it belongs to.
func ipKey(ip netip.Addr) (string, bool) {
	if !ip.IsValid() {
		return "", false
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "ip " + p.String(), true
	}
	return "ip " + ip.String(), true
}
