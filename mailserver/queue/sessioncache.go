package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"sync"
	"time"
)

// Defaults of the session cache (Options.SessionIdleTimeout and
// Options.MaxSessionMessages).
const (
	// DefaultSessionIdleTimeout is how long an idle session waits for the
	// next message to its destination (Postfix's
	// smtp_connection_cache_time_limit is 2 s; a queue that has just
	// delivered one message for a destination usually has the next one
	// within milliseconds).
	DefaultSessionIdleTimeout = 5 * time.Second
	// DefaultMaxSessionMessages is how many transactions one session
	// carries before it is ended, so a long run of mail does not stay on
	// one server of several, nor one connection for ever.
	DefaultMaxSessionMessages = 100
)

// sessionKey is what a session was made with: its destination, the
// server, and every guarantee the connection gives. A session is only
// taken for a message whose target requires exactly these — a session
// with opportunistic TLS never carries mail that needs a verified
// certificate, nor one authenticated with other credentials.
type sessionKey struct {
	dest  string  // route key: recipient domain or smarthost
	host  string  // the server's name, as connected to and verified
	port  int     //
	tls   tlsMode // how TLS was required
	roots string  // which roots verified the certificate (rootsID)
	creds string  // the credentials AUTH used (credentialsID), "" for none
	ehlo  string  // the name given in EHLO
}

// sessionKey is the key of sessions that fulfil t for destination dest,
// greeted with ehlo and authenticated with creds.
func (t target) sessionKey(dest, ehlo, creds string) sessionKey {
	return sessionKey{dest: dest, host: t.host, port: t.port, tls: t.tls, roots: t.rootsID, creds: creds, ehlo: ehlo}
}

// credentialsID identifies credentials without keeping the password.
func credentialsID(user, pass string) string {
	sum := sha256.Sum256([]byte(user + "\x00" + pass))
	return hex.EncodeToString(sum[:])
}

// smtpConn is an open SMTP session, ready for a transaction (greeted,
// TLS and AUTH done as its key says), that may carry several messages.
type smtpConn struct {
	key       sessionKey
	raw       net.Conn // the TCP connection, closed to cancel blocked I/O
	c         *client
	addr      string           // the address connected to
	uses      int              // transactions run
	idleSince time.Time        // when it joined the cache
	unwatch   func() (ok bool) // ends the current attempt's watch; false if it closed raw
}

// watch closes the connection when ctx ends, for the attempt using it.
func (sc *smtpConn) watch(ctx context.Context) {
	sc.unwatch = context.AfterFunc(ctx, func() { _ = sc.raw.Close() })
}

// sessionCache holds idle sessions for reuse, most recently used last.
// Sessions are bounded per destination and in total, closed with QUIT
// when idle longer than the timeout or when the cache closes. It is safe
// for concurrent use; a session in it belongs to no attempt.
type sessionCache struct {
	clock   Clock
	timeout time.Duration

	mu     sync.Mutex
	idle   []*smtpConn // oldest first
	closed bool
	quits  sync.WaitGroup // sessions being ended
}

func newSessionCache(clock Clock, timeout time.Duration) *sessionCache {
	return &sessionCache{clock: clock, timeout: timeout}
}

// take removes and returns the most recently used live session with key,
// or nil.
func (c *sessionCache) take(key sessionKey) *smtpConn {
	c.mu.Lock()
	stale := c.expireLocked(c.clock.Now())
	var sc *smtpConn
	for i := len(c.idle) - 1; i >= 0; i-- {
		if c.idle[i].key == key {
			sc = c.idle[i]
			c.idle = append(c.idle[:i], c.idle[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	c.end(stale)
	return sc
}

// put keeps an idle session, making room by ending the oldest of its
// destination beyond perDest and the oldest of all beyond total.
func (c *sessionCache) put(sc *smtpConn, perDest, total int) {
	perDest, total = max(perDest, 1), max(total, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		sc.c.quit(quitTimeout)
		return
	}
	sc.idleSince = c.clock.Now()
	var ended []*smtpConn
	same := 0
	for _, x := range c.idle {
		if x.key.dest == sc.key.dest {
			same++
		}
	}
	for i := 0; same >= perDest && i < len(c.idle); {
		if c.idle[i].key.dest == sc.key.dest {
			ended = append(ended, c.idle[i])
			c.idle = append(c.idle[:i], c.idle[i+1:]...)
			same--
			continue
		}
		i++
	}
	for len(c.idle) >= total {
		ended = append(ended, c.idle[0])
		c.idle = c.idle[1:]
	}
	c.idle = append(c.idle, sc)
	c.mu.Unlock()
	c.end(ended)
}

// len is the number of idle sessions.
func (c *sessionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

// expire ends the sessions idle for the timeout or longer.
func (c *sessionCache) expire() {
	c.mu.Lock()
	stale := c.expireLocked(c.clock.Now())
	c.mu.Unlock()
	c.end(stale)
}

// expireLocked removes and returns the sessions idle for the timeout or
// longer; c.mu is held.
func (c *sessionCache) expireLocked(now time.Time) []*smtpConn {
	var stale []*smtpConn
	kept := c.idle[:0]
	for _, sc := range c.idle {
		if now.Sub(sc.idleSince) >= c.timeout {
			stale = append(stale, sc)
			continue
		}
		kept = append(kept, sc)
	}
	clear(c.idle[len(kept):])
	c.idle = kept
	return stale
}

// end sends QUIT on sessions in the background.
func (c *sessionCache) end(list []*smtpConn) {
	for _, sc := range list {
		c.quits.Go(func() { sc.c.quit(quitTimeout) })
	}
}

// close ends every idle session and waits until all have been ended;
// sessions put afterwards are ended at once. Call it once nothing else
// uses the cache any more (the workers have returned).
func (c *sessionCache) close() {
	c.mu.Lock()
	c.closed = true
	list := c.idle
	c.idle = nil
	c.mu.Unlock()
	c.end(list)
	c.quits.Wait()
}
