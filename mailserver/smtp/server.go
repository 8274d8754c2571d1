package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/kubemail/kubemail/internal/netserve"
	"github.com/kubemail/kubemail/mailserver/mail"
)

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("smtp server closed")

// Server is an SMTP server for one listener role. Create it with NewServer.
type Server struct {
	opts    Options
	dir     mail.Directory
	quota   mail.QuotaChecker // dir's optional quota check, or nil
	auth    mail.Authenticator
	deliver mail.Deliverer
	relay   mail.Relayer // deliver's optional relay side, or nil
	log     *slog.Logger
	obs     Observer
	smtp    *gosmtp.Server

	ctx    context.Context // cancelled by Close and at the end of Shutdown
	cancel context.CancelFunc
	nextID atomic.Uint64

	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{}
}

// NewServer returns a server for opts.Mode. auth may be nil in ModeMX.
func NewServer(opts Options, dir mail.Directory, auth mail.Authenticator, deliverer mail.Deliverer) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if dir == nil || deliverer == nil {
		return nil, errors.New("smtp server: a Directory and a Deliverer are required")
	}
	if opts.Mode != ModeMX && auth == nil {
		return nil, fmt.Errorf("smtp server: mode %s requires an Authenticator", opts.Mode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:    opts,
		dir:     dir,
		auth:    auth,
		deliver: deliverer,
		log:     opts.Logger.With("mode", opts.Mode.String()),
		obs:     opts.Observer,
		ctx:     ctx,
		cancel:  cancel,
		conns:   make(map[*trackedConn]struct{}),
	}
	s.quota, _ = dir.(mail.QuotaChecker)
	s.relay, _ = deliverer.(mail.Relayer)

	gs := gosmtp.NewServer(gosmtp.BackendFunc(s.newSession))
	gs.Domain = opts.Hostname
	if opts.Mode != ModeSubmissions {
		// Offers STARTTLS; for implicit TLS the listener does the TLS.
		gs.TLSConfig = opts.TLSConfig
	}
	gs.MaxMessageBytes = opts.MaxMessageBytes
	gs.MaxRecipients = opts.MaxRecipients
	gs.MaxLineLength = opts.transportLineLimit()
	gs.ReadTimeout = opts.CommandTimeout
	gs.WriteTimeout = opts.WriteTimeout
	gs.EnableSMTPUTF8 = true
	if s.relay != nil {
		// The queue honours RET, ENVID, NOTIFY and ORCPT (RFC 3461) and
		// REQUIRETLS (RFC 8689; go-smtp advertises it under TLS only).
		gs.EnableDSN = true
		gs.EnableREQUIRETLS = true
	}
	// go-smtp would answer AUTH before TLS with a non-standard "523 5.7.10"
	// and advertise AUTH only under TLS. The session enforces both rules
	// itself (538 5.7.11, RFC 4954 §4), so go-smtp's check is switched off.
	gs.AllowInsecureAuth = true
	gs.ErrorLog = errorLog{s}
	s.smtp = gs
	return s, nil
}

// Serve accepts connections on l until Close or Shutdown. In
// ModeSubmissions l is a plain listener (possibly speaking the PROXY
// protocol) and Serve wraps each connection in TLS itself.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	err := s.smtp.Serve(&listener{Listener: l, srv: s})
	s.mu.Lock()
	closed = s.closed
	s.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	return err
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.markClosed()
	s.cancel()
	err := s.smtp.Close()
	s.closeConns()
	return listenerCloseError(err)
}

// Shutdown closes the listeners and waits for the connections to end (an
// in-flight message is finished and stored). When ctx ends first, the
// remaining connections are closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.markClosed()
	err := s.smtp.Shutdown(ctx)
	if ctx.Err() != nil {
		s.closeConns()
		s.cancel()
		return ctx.Err()
	}
	s.cancel()
	return listenerCloseError(err)
}

// listenerCloseError drops the errors go-smtp reports for listeners that
// were already closed (by a previous Close or Shutdown, or by the caller).
func listenerCloseError(err error) error {
	if errors.Is(err, gosmtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (s *Server) markClosed() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func (s *Server) closeConns() {
	s.mu.Lock()
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// newSession is go-smtp's Backend: called at EHLO/HELO, and again after
// STARTTLS (go-smtp ends the old session then).
func (s *Server) newSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	tc := trackedOf(c.Conn())
	if tc == nil {
		// Not accepted through Serve (cannot happen); track it anyway.
		tc = s.track(c.Conn())
	}
	sess := &session{srv: s, conn: c, tc: tc, log: tc.logger(), ip: tc.remoteIP(), helo: c.Hostname()}
	if state, ok := c.TLSConnectionState(); ok {
		sess.tls = &state
	}
	return sess, nil
}

// errTLSListener stops Serve when given a TLS listener: the server does TLS
// itself (STARTTLS, or implicit TLS in ModeSubmissions) and must see the raw
// connection to track it.
var errTLSListener = errors.New("smtp server: Serve needs a plain (or PROXY-protocol) listener, not a TLS one; the server does TLS itself")

// listener tracks accepted connections and, for implicit TLS, wraps them.
type listener struct {
	net.Listener
	srv *Server
}

// Accept implements net.Listener.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, ok := c.(*tls.Conn); ok {
		_ = c.Close()
		return nil, errTLSListener
	}
	tc := l.srv.track(c)
	if l.srv.opts.Mode == ModeSubmissions {
		// go-smtp performs the handshake with its read/write timeouts.
		return tls.Server(tc, l.srv.opts.TLSConfig), nil
	}
	return tc, nil
}

// track registers a new connection and reports it to the observer. It does
// not touch RemoteAddr: behind a PROXY-protocol listener that blocks until
// the header arrives, which must not happen in the accept loop.
func (s *Server) track(c net.Conn) *trackedConn {
	tc := &trackedConn{Conn: c, srv: s, id: s.nextID.Add(1), opened: time.Now()}
	s.mu.Lock()
	s.conns[tc] = struct{}{}
	s.mu.Unlock()
	s.obs.ConnectionOpened(s.opts.Mode)
	return tc
}

// trackedConn is the raw connection (below TLS) with its id and logger.
type trackedConn struct {
	net.Conn
	srv    *Server
	id     uint64
	opened time.Time

	logOnce   sync.Once
	log       atomic.Pointer[slog.Logger]
	ip        netip.Addr
	closeOnce sync.Once
	// hangUp makes the next write (the pending reply) the last one.
	hangUp atomic.Bool
}

// Read implements net.Conn. After a read timeout the stream cannot be
// trusted to be in step: the client may be in the middle of message data
// that go-smtp would go on to read as commands (the BDAT and DATA paths do
// not close on their own). So the connection is closed right after the
// reply to the timeout is written.
func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.hangUp.Store(true)
	}
	return n, err
}

// Write implements net.Conn. A reply is written in one call (one TLS
// record under TLS), so closing after it loses nothing.
func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.hangUp.Load() {
		_ = c.Close()
	}
	return n, err
}

// logger returns the per-connection logger, built on first use from the
// remote address (the real client's when a PROXY-protocol listener set it).
func (c *trackedConn) logger() *slog.Logger {
	c.logOnce.Do(func() {
		addr := c.Conn.RemoteAddr()
		c.ip = netserve.IPOf(addr)
		remote := ""
		if addr != nil {
			remote = addr.String()
		}
		log := c.srv.log.With("conn", c.id, "remote", remote)
		log.Debug("SMTP connection opened")
		c.log.Store(log)
	})
	return c.log.Load()
}

func (c *trackedConn) remoteIP() netip.Addr {
	c.logger()
	return c.ip
}

// Close implements net.Conn; the first call reports the end of the
// connection.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.srv.mu.Lock()
		delete(c.srv.conns, c)
		c.srv.mu.Unlock()
		c.srv.obs.ConnectionClosed(c.srv.opts.Mode)
		if log := c.log.Load(); log != nil {
			log.Debug("SMTP connection closed", "duration", time.Since(c.opened).Round(time.Millisecond))
		}
	})
	return err
}

// trackedOf finds the trackedConn under c (which may be a *tls.Conn).
func trackedOf(c net.Conn) *trackedConn {
	for c != nil {
		switch v := c.(type) {
		case *trackedConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// errorLog adapts go-smtp's ErrorLog to slog. go-smtp reports panics it
// recovered ("panic serving ...") here; those that did not pass through a
// session method's recovery are counted here, the others were counted and
// logged with their connection already.
type errorLog struct{ srv *Server }

// Printf implements gosmtp.Logger.
func (l errorLog) Printf(format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	switch {
	case strings.HasPrefix(format, "panic serving"):
		if len(v) >= 2 {
			if _, ok := v[1].(reraisedPanic); ok {
				l.srv.log.Debug("go-smtp recovered a reported panic")
				return
			}
		}
		l.srv.obs.Panicked(l.srv.opts.Mode)
		l.srv.log.Error("Panic serving SMTP connection", "detail", msg)
	case strings.HasPrefix(format, "error handling"):
		// Typically a failed implicit-TLS handshake or a reset connection.
		l.srv.log.Debug("SMTP connection ended with an error", "detail", msg)
	default:
		l.srv.log.Warn("SMTP server error", "detail", msg)
	}
}

// Println implements gosmtp.Logger.
func (l errorLog) Println(v ...any) {
	l.srv.log.Warn("SMTP server error", "detail", strings.TrimSpace(fmt.Sprintln(v...)))
}
