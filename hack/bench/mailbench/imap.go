package main

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// deadlineConn bounds every read and write on a connection by timeout, while timeout is positive, so a
// stalled server fails a benchmark instead of hanging it (imapclient has no command timeout of its own).
type deadlineConn struct {
	net.Conn
	timeout atomic.Int64 // nanoseconds; 0 disables
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if d := time.Duration(c.timeout.Load()); d > 0 {
		_ = c.SetReadDeadline(time.Now().Add(d))
	} else {
		_ = c.SetReadDeadline(time.Time{})
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if d := time.Duration(c.timeout.Load()); d > 0 {
		_ = c.SetWriteDeadline(time.Now().Add(d))
	}
	return c.Conn.Write(p)
}

// dialIMAP connects, upgrades with STARTTLS when useTLS (the caller has learnt that the server offers
// it) and logs in (RFC 9051 §6.2.3). Closing ctx closes the connection.
func dialIMAP(ctx context.Context, addr, user, pass string, timeout time.Duration, useTLS bool) (*imapclient.Client, *deadlineConn, error) {
	d := net.Dialer{Timeout: timeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dialing IMAP %s: %w", addr, err)
	}
	conn := &deadlineConn{Conn: raw}
	conn.timeout.Store(int64(timeout))
	var c *imapclient.Client
	if useTLS {
		if c, err = imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: benchTLS(addr)}); err != nil {
			_ = conn.Close()
			return nil, nil, fmt.Errorf("IMAP STARTTLS with %s: %w", addr, err)
		}
	} else {
		c = imapclient.New(conn, nil)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	go func() {
		<-c.Closed()
		stop()
	}()
	if err := c.WaitGreeting(); err != nil {
		_ = c.Close()
		return nil, nil, fmt.Errorf("reading IMAP greeting from %s: %w", addr, err)
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		_ = c.Close()
		return nil, nil, fmt.Errorf("IMAP LOGIN %s: %w", user, err)
	}
	return c, conn, nil
}

// imapTimings is one pass of the IMAP read benchmark over a mailbox.
type imapTimings struct {
	selectTime   time.Duration
	envelopeTime time.Duration // FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)
	searchTime   time.Duration // UID SEARCH HEADER Subject needle
	bodyTime     time.Duration // FETCH 1:* BODY.PEEK[]
	searchHits   int
	bodyBytes    int64
	tls          bool
}

// idleSession is one logged-in connection with INBOX selected and IDLE running.
type idleSession struct {
	c    *imapclient.Client
	idle *imapclient.IdleCommand
}

// openIdle logs in, selects INBOX and starts IDLE (RFC 2177); once idling, reads have no deadline.
func openIdle(ctx context.Context, addr, user, pass string, timeout time.Duration, useTLS bool) (*idleSession, error) {
	c, conn, err := dialIMAP(ctx, addr, user, pass, timeout, useTLS)
	if err != nil {
		return nil, err
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("IMAP SELECT INBOX: %w", err)
	}
	idle, err := c.Idle()
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("IMAP IDLE: %w", err)
	}
	conn.timeout.Store(0)
	return &idleSession{c: c, idle: idle}, nil
}

// close ends IDLE, logs out and closes the connection.
func (s *idleSession) close() error {
	err := s.idle.Close()
	if err == nil {
		err = s.idle.Wait()
	}
	if err == nil {
		err = s.c.Logout().Wait()
	}
	if cerr := s.c.Close(); err == nil {
		err = cerr
	}
	return err
}
