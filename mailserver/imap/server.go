package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kubemail/kubemail/internal/netserve"
)

// ErrServerClosed is returned by Serve and ServeTLS after Close or Shutdown.
var ErrServerClosed = errors.New("imap: server closed")

// shutdownPoll is how often Shutdown looks for sessions that finished
// their command and can be told BYE.
const shutdownPoll = 20 * time.Millisecond

// capabilities are what the library may advertise for us. The library
// adds SASL-IR, LITERAL-, STARTTLS/LOGINDISABLED/AUTH=PLAIN by state, and
// after login UNSELECT, ENABLE, IDLE, UTF8=ACCEPT and APPENDLIMIT=n.
func capabilities() imap.CapSet {
	return imap.CapSet{
		imap.CapIMAP4rev1:        {},
		imap.CapIMAP4rev2:        {},
		imap.CapNamespace:        {},
		imap.CapUIDPlus:          {},
		imap.CapESearch:          {},
		imap.CapSearchRes:        {},
		imap.CapListExtended:     {},
		imap.CapListStatus:       {},
		imap.CapMove:             {},
		imap.CapStatusSize:       {},
		imap.CapBinary:           {},
		imap.CapChildren:         {},
		imap.CapSpecialUse:       {},
		imap.CapCreateSpecialUse: {},
		imap.CapLiteralPlus:      {},
	}
}

// Server is an IMAP4rev2/IMAP4rev1 server on the mail store. Create it
// with New; it may serve several listeners at once.
type Server struct {
	opts    Options
	log     *slog.Logger
	obs     Observer
	lib     *imapserver.Server
	cache   *parseCache
	headers *headerCache
	// snapshots shares the selected folders' UID lists between sessions.
	snapshots *snapshots

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	nextID atomic.Uint64

	closing   atomic.Bool
	mu        sync.Mutex
	listeners netserve.Listeners
	sessions  map[*session]struct{}
	perIP     map[netip.Addr]int
	perUser   map[string]int
	libClosed bool
}

// New returns a Server with opts' zero values replaced by defaults.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("imap: Options.Store is required")
	}
	if opts.Authenticator == nil {
		return nil, errors.New("imap: Options.Authenticator is required")
	}
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	srv := &Server{
		opts:      opts,
		log:       opts.Logger.With("proto", "imap"),
		obs:       opts.Observer,
		cache:     newParseCache(opts.CacheBytes),
		headers:   newHeaderCache(opts.HeaderCacheBytes),
		snapshots: newSnapshots(),
		ctx:       ctx,
		cancel:    cancel,
		sessions:  make(map[*session]struct{}),
		perIP:     make(map[netip.Addr]int),
		perUser:   make(map[string]int),
	}
	srv.lib = imapserver.New(&imapserver.Options{
		NewSession:   srv.newSession,
		Caps:         capabilities(),
		Logger:       libLogger{log: srv.log, obs: srv.obs},
		TLSConfig:    opts.TLSConfig,
		InsecureAuth: opts.AllowInsecureAuth,
	})
	return srv, nil
}

// Serve accepts plain IMAP connections on l (port 143 style), offering
// STARTTLS when Options.TLSConfig is set; LOGIN and AUTHENTICATE need TLS
// unless Options.AllowInsecureAuth. It returns ErrServerClosed after Close
// or Shutdown, or the listener's error.
func (srv *Server) Serve(l net.Listener) error {
	return srv.serve(l, batchListener{l})
}

// serve runs the library on the listener wrapping l, which Close closes.
func (srv *Server) serve(l, wrapped net.Listener) error {
	if !srv.listeners.Track(l) {
		return ErrServerClosed
	}
	defer srv.listeners.Untrack(l)
	err := srv.lib.Serve(wrapped)
	if srv.closing.Load() || err == nil {
		return ErrServerClosed
	}
	return fmt.Errorf("serving IMAP: %w", err)
}

// ServeTLS accepts implicit-TLS IMAP connections on l (port 993 style,
// RFC 8314 §3) using Options.TLSConfig.
func (srv *Server) ServeTLS(l net.Listener) error {
	if srv.opts.TLSConfig == nil {
		return errors.New("imap: ServeTLS needs Options.TLSConfig")
	}
	return srv.serve(l, tlsListener{Listener: batchListener{l}, config: srv.opts.TLSConfig})
}

// tlsListener wraps accepted connections in TLS; the handshake runs in the
// session's goroutine (newSession), bounded by HandshakeTimeout.
type tlsListener struct {
	net.Listener
	config *tls.Config
}

// Accept implements net.Listener.
func (l tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(c, l.config), nil
}

// Shutdown stops accepting connections and tells every session "* BYE" as
// soon as it is not in the middle of a command (IDLE counts as waiting), so
// no command is cut short. If ctx ends first, the remaining connections are
// closed as by Close and ctx's error is returned.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.closing.Store(true)
	srv.listeners.Close()
	tick := time.NewTicker(shutdownPoll)
	defer tick.Stop()
	for {
		if srv.byeIdleSessions() == 0 {
			return srv.Close()
		}
		select {
		case <-ctx.Done():
			_ = srv.Close()
			return fmt.Errorf("shutting down IMAP server: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// byeIdleSessions says BYE to every session not busy with a command and
// returns how many sessions are still open.
func (srv *Server) byeIdleSessions() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for s := range srv.sessions {
		if !s.busy.Load() && s.byeSent.CompareAndSwap(false, true) {
			go func() {
				_ = s.conn.Bye(srv.opts.Hostname + " is shutting down")
			}()
		}
	}
	return len(srv.sessions)
}

// Close stops accepting connections and closes every connection at once,
// canceling store calls in progress.
func (srv *Server) Close() error {
	srv.closing.Store(true)
	srv.cancel()
	srv.listeners.Close()
	srv.mu.Lock()
	first := !srv.libClosed
	srv.libClosed = true
	srv.mu.Unlock()
	if first {
		// Closes the library's listeners and connections; its only error
		// is "already closed".
		_ = srv.lib.Close()
	}
	return nil
}

// admit registers a new session unless the server is closing or the
// client address is over its limit; it returns a refusal reason.
func (srv *Server) admit(s *session) string {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closing.Load() {
		return "shutdown"
	}
	if limit := srv.opts.MaxConnsPerIP; limit > 0 && s.ip.IsValid() && srv.perIP[s.ip] >= limit {
		return "too_many_connections_from_ip"
	}
	if s.ip.IsValid() {
		srv.perIP[s.ip]++
	}
	srv.sessions[s] = struct{}{}
	return ""
}

func (srv *Server) release(s *session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	delete(srv.sessions, s)
	if s.ip.IsValid() {
		if srv.perIP[s.ip]--; srv.perIP[s.ip] <= 0 {
			delete(srv.perIP, s.ip)
		}
	}
	srv.releaseUserLocked(s.account)
}

// releaseUser undoes acquireUser.
func (srv *Server) releaseUser(account string) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.releaseUserLocked(account)
}

func (srv *Server) releaseUserLocked(account string) {
	if account == "" {
		return
	}
	if srv.perUser[account]--; srv.perUser[account] <= 0 {
		delete(srv.perUser, account)
	}
}

// acquireUser counts a login of account; it reports false at the limit.
func (srv *Server) acquireUser(account string) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if limit := srv.opts.MaxConnsPerUser; limit > 0 && srv.perUser[account] >= limit {
		return false
	}
	srv.perUser[account]++
	return true
}

func (srv *Server) newConnID() string {
	return strconv.FormatUint(srv.nextID.Add(1), 10)
}

// remoteIP is the address the per-IP limit and the authenticator see.
func remoteIP(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// libLogger receives the go-imap library's messages: recovered panics are
// errors and are counted; read failures (timeouts, resets) are debug noise.
type libLogger struct {
	log *slog.Logger
	obs Observer
}

// Printf implements imapserver.Logger.
func (l libLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	switch {
	case strings.HasPrefix(format, "panic"):
		l.log.Error("IMAP library recovered a panic", "panic", msg)
		l.obs.Panicked(ConnInfo{}, msg)
	case strings.HasPrefix(format, "failed to"):
		l.log.Debug("IMAP connection ended", "detail", msg)
	default:
		l.log.Warn("IMAP library message", "detail", msg)
	}
}
