package smtpclient

import (
	"context"
	"net"
	"sync"
	"time"
)

// Key is what a session was made with. Sessions are taken only for the
// same key; Destination groups them for the per-destination bound.
type Key interface {
	comparable
	Destination() string
}

// Session is an open SMTP session, ready for a transaction (greeted, TLS
// and AUTH done as its key says), that may carry several messages.
type Session[K Key] struct {
	Key    K
	Raw    net.Conn // the TCP connection, closed to cancel blocked I/O
	Client *Client
	Addr   string // the address connected to
	Uses   int    // transactions run

	idleSince time.Time        // when it joined the cache
	unwatch   func() (ok bool) // ends the current attempt's watch; false if it closed Raw
}

// Watch closes the connection when ctx ends, for the attempt using it.
func (sc *Session[K]) Watch(ctx context.Context) {
	sc.unwatch = context.AfterFunc(ctx, func() { _ = sc.Raw.Close() })
}

// Unwatch ends the watch of the attempt using the session; false when
// that attempt's end already closed the connection (or none watched).
func (sc *Session[K]) Unwatch() bool {
	if sc.unwatch == nil {
		return true
	}
	return sc.unwatch()
}

// Cache holds idle sessions for reuse, most recently used last.
// Sessions are bounded per destination and in total, closed with QUIT
// when idle longer than the timeout or when the cache closes. It is safe
// for concurrent use; a session in it belongs to no attempt.
type Cache[K Key] struct {
	now     func() time.Time
	timeout time.Duration

	mu     sync.Mutex
	idle   []*Session[K] // oldest first
	closed bool
	quits  sync.WaitGroup // sessions being ended
}

// NewCache returns an empty cache whose sessions end after timeout idle;
// now is its clock (nil: time.Now).
func NewCache[K Key](now func() time.Time, timeout time.Duration) *Cache[K] {
	if now == nil {
		now = time.Now
	}
	return &Cache[K]{now: now, timeout: timeout}
}

// Take removes and returns the most recently used live session with key,
// or nil.
func (c *Cache[K]) Take(key K) *Session[K] {
	c.mu.Lock()
	stale := c.expireLocked(c.now())
	var sc *Session[K]
	for i := len(c.idle) - 1; i >= 0; i-- {
		if c.idle[i].Key == key {
			sc = c.idle[i]
			c.idle = append(c.idle[:i], c.idle[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	c.end(stale)
	return sc
}

// Put keeps an idle session, making room by ending the oldest of its
// destination beyond perDest and the oldest of all beyond total.
func (c *Cache[K]) Put(sc *Session[K], perDest, total int) {
	perDest, total = max(perDest, 1), max(total, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		sc.Client.Quit(QuitTimeout)
		return
	}
	sc.idleSince = c.now()
	var ended []*Session[K]
	same := 0
	for _, x := range c.idle {
		if x.Key.Destination() == sc.Key.Destination() {
			same++
		}
	}
	for i := 0; same >= perDest && i < len(c.idle); {
		if c.idle[i].Key.Destination() == sc.Key.Destination() {
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

// Len is the number of idle sessions.
func (c *Cache[K]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

// Expire ends the sessions idle for the timeout or longer.
func (c *Cache[K]) Expire() {
	c.mu.Lock()
	stale := c.expireLocked(c.now())
	c.mu.Unlock()
	c.end(stale)
}

// expireLocked removes and returns the sessions idle for the timeout or
// longer; c.mu is held.
func (c *Cache[K]) expireLocked(now time.Time) []*Session[K] {
	var stale []*Session[K]
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
func (c *Cache[K]) end(list []*Session[K]) {
	for _, sc := range list {
		c.quits.Go(func() { sc.Client.Quit(QuitTimeout) })
	}
}

// Close ends every idle session and waits until all have been ended;
// sessions put afterwards are ended at once. Call it once nothing else
// uses the cache any more (the workers have returned).
func (c *Cache[K]) Close() {
	c.mu.Lock()
	c.closed = true
	list := c.idle
	c.idle = nil
	c.mu.Unlock()
	c.end(list)
	c.quits.Wait()
}
