package auth

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// Defaults of [CacheOptions].
const (
	DefaultCacheSize = 10_000
	DefaultCacheTTL  = 10 * time.Minute
)

// CacheOptions configures a [VerifyCache].
type CacheOptions struct {
	// Size is the most results kept; the least recently used goes first.
	// Zero means DefaultCacheSize.
	Size int
	// TTL is how long a result is trusted. Zero means DefaultCacheTTL.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// VerifyCache remembers the results of [Verify] for recent (hash, password)
// pairs, like Dovecot's auth cache, so that mail clients that log in every
// few minutes do not pay for argon2 every time.
//
// Entries are keyed by HMAC-SHA256, under a random per-process key, of the
// hash and the password: neither is stored. Changing a password changes the
// hash, so a cached result never outlives the hash it was computed for.
// Failed verifications are cached too (Dovecot's negative cache); a guesser
// gains nothing from that, since each guess is a different key, and the
// [Throttle] still applies. Errors (unrecognised hashes) are not cached.
//
// The trade-off, as with Dovecot: someone who can read the process memory can
// test password guesses against cached entries at HMAC speed instead of
// argon2 speed, for at most TTL.
type VerifyCache struct {
	key  [32]byte
	size int
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	lru     *list.List // of *cacheEntry, most recently used at the front
	entries map[[32]byte]*list.Element
}

type cacheEntry struct {
	key     [32]byte
	ok      bool
	expires time.Time
}

// NewVerifyCache returns an empty cache with a fresh random key.
func NewVerifyCache(opts CacheOptions) (*VerifyCache, error) {
	c := &VerifyCache{
		size:    opts.Size,
		ttl:     opts.TTL,
		now:     opts.Now,
		lru:     list.New(),
		entries: make(map[[32]byte]*list.Element),
	}
	if c.size <= 0 {
		c.size = DefaultCacheSize
	}
	if c.ttl <= 0 {
		c.ttl = DefaultCacheTTL
	}
	if c.now == nil {
		c.now = time.Now
	}
	if _, err := rand.Read(c.key[:]); err != nil {
		return nil, fmt.Errorf("creating verification cache key: %w", err)
	}
	return c, nil
}

// Verify is [Verify] with the cache in front of it.
func (c *VerifyCache) Verify(hash, password string) (bool, error) {
	k := c.keyOf(hash, password)
	if ok, hit := c.get(k); hit {
		return ok, nil
	}
	ok, err := Verify(hash, password)
	if err != nil {
		return false, err
	}
	c.put(k, ok)
	return ok, nil
}

// Len returns the number of entries held, expired ones included until they
// are looked up or pushed out.
func (c *VerifyCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (c *VerifyCache) keyOf(hash, password string) [32]byte {
	m := hmac.New(sha256.New, c.key[:])
	var n [binary.MaxVarintLen64]byte
	m.Write(n[:binary.PutUvarint(n[:], uint64(len(hash)))])
	m.Write([]byte(hash))
	m.Write([]byte(password))
	var k [32]byte
	m.Sum(k[:0])
	return k
}

func (c *VerifyCache) get(k [32]byte) (ok, hit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.entries[k]
	if !found {
		return false, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.lru.Remove(el)
		delete(c.entries, k)
		return false, false
	}
	c.lru.MoveToFront(el)
	return e.ok, true
}

func (c *VerifyCache) put(k [32]byte, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	expires := c.now().Add(c.ttl)
	if el, found := c.entries[k]; found {
		e := el.Value.(*cacheEntry)
		e.ok, e.expires = ok, expires
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.size {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
	c.entries[k] = c.lru.PushFront(&cacheEntry{key: k, ok: ok, expires: expires})
}
