package imap

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// The library flushes its buffer after every response, so a FETCH of
// 10,000 messages costs 10,000 writes to the socket (and as many TLS
// records and reads by the client): a third of the command's CPU. Each
// connection therefore runs over a batchConn, below TLS, and a command that
// writes many responses (FETCH, STORE, EXPUNGE, MOVE, the updates after a
// command) gathers them into writes of up to batchBytes; everything
// buffered is written before the command returns, so before the library
// writes the tagged response.
const (
	batchBytes = 32 << 10
	// batchWriteTimeout bounds each write of a batch, as the library's own
	// per-response timeout does.
	batchWriteTimeout = 30 * time.Second
)

var batchBuffers = sync.Pool{New: func() any { return new([batchBytes]byte) }}

// batchConn is a connection that gathers writes while batching is on.
// Write deadlines the library sets around each response apply to data it
// hands over, not to when the batch is written: while batching they are
// recorded, each batch write gets batchWriteTimeout, and the last one
// recorded is applied when batching ends.
type batchConn struct {
	net.Conn

	mu       sync.Mutex
	batching bool
	buf      []byte // nil unless batching; its array comes from batchBuffers
	deadline time.Time
	err      error // a failed batch write: the connection is broken
}

// batchListener wraps every accepted connection in a batchConn.
type batchListener struct {
	net.Listener
}

// Accept implements net.Listener.
func (l batchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &batchConn{Conn: c}, nil
}

// batchConnOf finds the batchConn under the library's connection (under
// TLS for implicit TLS; STARTTLS puts TLS on top of it later); nil if there
// is none.
func batchConnOf(nc net.Conn) *batchConn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	bc, _ := nc.(*batchConn)
	return bc
}

// Write implements net.Conn.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if !c.batching {
		return c.Conn.Write(p)
	}
	if len(c.buf)+len(p) > cap(c.buf) {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= cap(c.buf) {
			return c.writeLocked(p)
		}
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// SetWriteDeadline implements net.Conn.
func (c *batchConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	if c.batching {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline implements net.Conn.
func (c *batchConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// start turns batching on. A nil *batchConn does nothing.
func (c *batchConn) start() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		c.batching = true
		c.buf = batchBuffers.Get().(*[batchBytes]byte)[:0]
	}
}

// stop writes what is buffered and turns batching off; its error is the
// first failed write since start.
func (c *batchConn) stop() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		return c.err
	}
	err := c.flushLocked()
	batchBuffers.Put((*[batchBytes]byte)(c.buf[:batchBytes]))
	c.buf, c.batching = nil, false
	if err == nil && c.err == nil {
		err = c.Conn.SetWriteDeadline(c.deadline)
	}
	return err
}

func (c *batchConn) flushLocked() error {
	if len(c.buf) == 0 || c.err != nil {
		return c.err
	}
	_, err := c.writeLocked(c.buf)
	c.buf = c.buf[:0]
	return err
}

// writeLocked writes p now, bounded by batchWriteTimeout.
func (c *batchConn) writeLocked(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(batchWriteTimeout)); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// batch turns on batching for the rest of a command; the returned function,
// deferred, writes the batch and reports a write failure in *errp unless
// the command already failed.
func (s *session) batch(errp *error) func() {
	s.out.start()
	return func() {
		if err := s.out.stop(); err != nil && *errp == nil {
			*errp = err
		}
	}
}
