package pop3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubemail/kubemail/internal/netserve"
)

// Defaults for the zero values of Options.
const (
	// DefaultIdleTimeout is RFC 1939 §3's minimum autologout timer.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultCommandTimeout bounds backend calls, the TLS handshake and a
	// write that makes no progress.
	DefaultCommandTimeout = time.Minute
	// DefaultMaxLineLength is RFC 2449 §4's limit on a command line,
	// including the terminating CRLF.
	DefaultMaxLineLength = 255
	// DefaultMaxBadCommands is how many failed commands a session may send
	// before it is disconnected.
	DefaultMaxBadCommands = 10
)

// ErrServerClosed is returned by Serve and ServeTLS after Close or Shutdown.
var ErrServerClosed = errors.New("pop3: server closed")

// Options configures a Server.
type Options struct {
	// Backend authenticates users and opens maildrops. Required.
	Backend Backend
	// TLSConfig enables STLS on Serve listeners and is required by
	// ServeTLS. It is used as is, so GetCertificate can reload certificates.
	TLSConfig *tls.Config
	// AllowInsecureAuth allows USER/PASS and AUTH without TLS. Only for
	// tests and for listeners behind a TLS-terminating proxy.
	AllowInsecureAuth bool
	// Logger receives the server's logs; each connection logs with its
	// connection id and remote address. Defaults to slog.Default().
	Logger *slog.Logger
	// Hostname is named in the greeting. Defaults to os.Hostname().
	Hostname string
	// IdleTimeout is the autologout timer: how long the server waits for
	// the next command (RFC 1939 §3 requires at least 10 minutes; shorter
	// values are for tests). Defaults to DefaultIdleTimeout.
	IdleTimeout time.Duration
	// CommandTimeout bounds each backend call, the TLS handshake and each
	// write to the client that makes no progress. Defaults to
	// DefaultCommandTimeout.
	CommandTimeout time.Duration
	// MaxLineLength is the longest command line accepted, CRLF included;
	// longer lines are discarded and answered with -ERR. Defaults to
	// DefaultMaxLineLength (RFC 2449 §4).
	MaxLineLength int
	// MaxBadCommands is how many failed commands (unknown, wrong state,
	// bad syntax, failed authentication) end the session. Defaults to
	// DefaultMaxBadCommands.
	MaxBadCommands int
	// Observer receives hooks for metrics. Optional.
	Observer Observer
}

// EndReason says why a session ended, for metrics and logs.
type EndReason string

// Reasons a session ends.
const (
	// EndQuit: the client sent QUIT.
	EndQuit EndReason = "quit"
	// EndClientClosed: the client closed the connection without QUIT.
	EndClientClosed EndReason = "client_closed"
	// EndIdleTimeout: the autologout timer expired (RFC 1939 §3).
	EndIdleTimeout EndReason = "idle_timeout"
	// EndTooManyErrors: the client reached Options.MaxBadCommands.
	EndTooManyErrors EndReason = "too_many_errors"
	// EndShutdown: the server is shutting down.
	EndShutdown EndReason = "shutdown"
	// EndNetworkError: reading from or writing to the client failed,
	// including a write that made no progress for Options.CommandTimeout.
	EndNetworkError EndReason = "network_error"
	// EndTLSHandshakeFailed: the implicit-TLS or STLS handshake failed.
	EndTLSHandshakeFailed EndReason = "tls_handshake_failed"
	// EndBackendError: a message could not be read after "+OK" was sent.
	EndBackendError EndReason = "backend_error"
	// EndPanic: the session panicked.
	EndPanic EndReason = "panic"
)

// Observer receives session events, typically to count them. Methods are
// called from session goroutines and must be safe for concurrent use and
// quick. Embed NopObserver to implement only some of them.
type Observer interface {
	// SessionStarted is called when a connection is accepted.
	SessionStarted(c ConnInfo)
	// SessionEnded is called once when the session is over, after its
	// maildrop lock was released.
	SessionEnded(c ConnInfo, reason EndReason)
	// AuthFailed is called when a login attempt reached the backend and
	// failed; code is the response code sent (AUTH, IN-USE, SYS/TEMP,
	// SYS/PERM).
	AuthFailed(c ConnInfo, code ResponseCode)
	// CommandFailed is called for every -ERR response. command is an
	// upper-case keyword this server knows, or "UNKNOWN" (never raw client
	// input, so it is safe as a metric label).
	CommandFailed(c ConnInfo, command string, code ResponseCode)
	// Panicked is called when a session panicked; the panic was recovered
	// and logged and the connection closed.
	Panicked(c ConnInfo, v any)
}

// NopObserver is an Observer that does nothing, for embedding.
type NopObserver struct{}

// SessionStarted does nothing.
func (NopObserver) SessionStarted(ConnInfo) {}

// SessionEnded does nothing.
func (NopObserver) SessionEnded(ConnInfo, EndReason) {}

// AuthFailed does nothing.
func (NopObserver) AuthFailed(ConnInfo, ResponseCode) {}

// CommandFailed does nothing.
func (NopObserver) CommandFailed(ConnInfo, string, ResponseCode) {}

// Panicked does nothing.
func (NopObserver) Panicked(ConnInfo, any) {}

// Server is a POP3 server. Create it with New; it may serve several
// listeners at once.
type Server struct {
	opts   Options
	log    *slog.Logger
	obs    Observer
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	nextID atomic.Uint64

	mu        sync.Mutex
	closing   atomic.Bool
	listeners netserve.Listeners
	conns     map[net.Conn]struct{}
	sessions  sync.WaitGroup
	locks     map[string]struct{} // maildrop names in use (RFC 1939 §4)
}

// New returns a Server with opts' zero values replaced by defaults.
func New(opts Options) (*Server, error) {
	if opts.Backend == nil {
		return nil, errors.New("pop3: Options.Backend is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		opts.Hostname = h
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = DefaultCommandTimeout
	}
	if opts.MaxLineLength <= 0 {
		opts.MaxLineLength = DefaultMaxLineLength
	}
	if opts.MaxBadCommands <= 0 {
		opts.MaxBadCommands = DefaultMaxBadCommands
	}
	if opts.Observer == nil {
		opts.Observer = NopObserver{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts:   opts,
		log:    opts.Logger.With("proto", "pop3"),
		obs:    opts.Observer,
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[net.Conn]struct{}),
		locks:  make(map[string]struct{}),
	}, nil
}

// Serve accepts plain POP3 connections on l (port 110 style), offering STLS
// when Options.TLSConfig is set. It returns ErrServerClosed after Close or
// Shutdown, or the listener's error.
func (srv *Server) Serve(l net.Listener) error {
	return srv.serve(l, false)
}

// ServeTLS accepts implicit-TLS POP3 connections on l (port 995 style,
// RFC 8314 §3) using Options.TLSConfig. It returns ErrServerClosed after
// Close or Shutdown, or the listener's error.
func (srv *Server) ServeTLS(l net.Listener) error {
	if srv.opts.TLSConfig == nil {
		return errors.New("pop3: ServeTLS needs Options.TLSConfig")
	}
	return srv.serve(l, true)
}

func (srv *Server) serve(l net.Listener, implicitTLS bool) error {
	if !srv.listeners.Track(l) {
		return ErrServerClosed
	}
	defer srv.listeners.Untrack(l)
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if srv.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Transient accept failure (like net/http): back off and retry.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				srv.log.Warn("Accepting POP3 connection failed, retrying", "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accepting POP3 connection: %w", err)
		}
		backoff = 0
		if !srv.trackConn(c) {
			_ = c.Close()
			return ErrServerClosed
		}
		go func() {
			defer srv.untrackConn(c)
			srv.serveConn(c, implicitTLS)
		}()
	}
}

// Shutdown stops accepting connections, ends idle sessions at once with
// "-ERR [SYS/TEMP]" and lets a command in progress finish before ending its
// session; no session enters the UPDATE state because of shutdown. If ctx
// ends first, the remaining connections are closed as by Close and ctx's
// error is returned.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.closing.Store(true)
	srv.listeners.Close()
	for c := range srv.conns {
		// Interrupts a session waiting for its next command; a session that
		// sets its own deadline afterwards sees closing first (readCommand).
		_ = c.SetReadDeadline(time.Now())
	}
	srv.mu.Unlock()

	done := make(chan struct{})
	go func() {
		srv.sessions.Wait()
		close(done)
	}()
	select {
	case <-done:
		srv.cancel()
		return nil
	case <-ctx.Done():
		_ = srv.Close()
		return fmt.Errorf("shutting down POP3 server: %w", ctx.Err())
	}
}

// Close stops accepting connections and closes every connection at once,
// canceling backend calls in progress. Sessions end without entering the
// UPDATE state. It does not wait for session goroutines; use Shutdown for
// that.
func (srv *Server) Close() error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.closing.Store(true)
	srv.cancel()
	srv.listeners.Close()
	for c := range srv.conns {
		_ = c.Close()
	}
	return nil
}

func (srv *Server) trackConn(c net.Conn) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closing.Load() {
		return false
	}
	srv.conns[c] = struct{}{}
	srv.sessions.Add(1)
	return true
}

func (srv *Server) untrackConn(c net.Conn) {
	srv.mu.Lock()
	delete(srv.conns, c)
	srv.mu.Unlock()
	srv.sessions.Done()
}

// lock takes the exclusive-access lock on a maildrop (RFC 1939 §4); it
// reports false when another session holds it.
func (srv *Server) lock(name string) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if _, held := srv.locks[name]; held {
		return false
	}
	srv.locks[name] = struct{}{}
	return true
}

func (srv *Server) unlock(name string) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	delete(srv.locks, name)
}

func (srv *Server) newConnID() string {
	return strconv.FormatUint(srv.nextID.Add(1), 10)
}
