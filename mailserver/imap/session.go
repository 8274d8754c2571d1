package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
)

// Compile-time checks of the optional interfaces the library discovers.
var (
	_ imapserver.SessionIMAP4rev2         = (*session)(nil)
	_ imapserver.SessionAppendLimit       = (*session)(nil)
	_ imapserver.SessionNamespace         = (*session)(nil)
	_ imapserver.SessionMove              = (*session)(nil)
	_ imapserver.Session                  = (*session)(nil)
	_ interface{ Printf(string, ...any) } = libLogger{}
)

// session is one IMAP connection. The library calls its methods from the
// connection's goroutine, one command at a time, and Idle from a second
// goroutine while the first waits for DONE — but when the connection fails
// during IDLE, the library goes on (Poll, Close) without waiting for Idle to
// return. mu therefore serialises every method; busy and byeSent are read
// by Shutdown.
type session struct {
	srv  *Server
	conn *imapserver.Conn
	out  *batchConn // under the library's connection; nil-safe
	info ConnInfo
	log  *slog.Logger
	ip   netip.Addr

	busy    atomic.Bool // inside a command other than IDLE
	byeSent atomic.Bool

	mu     sync.Mutex
	cancel context.CancelFunc // of the command in progress

	account string   // set by a successful login
	sel     *mailbox // the selected folder, or nil
}

// newSession is the library's NewSession hook: it finishes the implicit-TLS
// handshake, applies the per-address limit and registers the session.
func (srv *Server) newSession(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	nc := conn.NetConn()
	s := &session{
		srv:  srv,
		conn: conn,
		out:  batchConnOf(nc),
		info: ConnInfo{ID: srv.newConnID(), RemoteAddr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr()},
		ip:   remoteIP(nc.RemoteAddr()),
	}
	s.log = srv.log.With("conn", s.info.ID, "remote", nc.RemoteAddr().String())
	if tc, ok := nc.(*tls.Conn); ok {
		if err := s.handshake(tc); err != nil {
			s.log.Debug("IMAP TLS handshake failed", "err", err)
			srv.obs.SessionRefused(s.info, "tls_handshake_failed")
			return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "TLS handshake failed"}
		}
	}
	if reason := srv.admit(s); reason != "" {
		s.log.Info("IMAP connection refused", "reason", reason)
		srv.obs.SessionRefused(s.info, reason)
		text := "Too many connections from your address"
		if reason == "shutdown" {
			text = srv.opts.Hostname + " is shutting down"
		}
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Code: imap.ResponseCodeUnavailable, Text: text}
	}
	s.log.Debug("IMAP session started")
	srv.obs.SessionStarted(s.info)
	return s, nil, nil
}

// handshake runs the implicit-TLS handshake before the greeting, so a
// client that never speaks cannot hold the connection forever.
func (s *session) handshake(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(s.srv.ctx, s.srv.opts.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	return nil
}

// begin locks the session, marks it busy and returns the command's
// context; end undoes it.
func (s *session) begin() context.Context {
	s.mu.Lock()
	s.busy.Store(true)
	ctx, cancel := context.WithTimeout(s.srv.ctx, s.srv.opts.CommandTimeout)
	s.cancel = cancel
	return ctx
}

// end must be deferred directly after begin (or s.mu.Lock): it recovers a
// panic, converts every error into an *imap.Error (internal failures become
// NO [SERVERBUG] with the cause only in the log), reports failures to the
// Observer, clears the busy mark and unlocks the session.
func (s *session) end(command string, errp *error) {
	defer s.mu.Unlock()
	if v := recover(); v != nil {
		s.log.Error("IMAP command panicked", "command", command, "panic", v, "stack", string(debug.Stack()))
		s.srv.obs.Panicked(s.info, v)
		*errp = errServerBug
	}
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
	s.busy.Store(false)
	if *errp == nil {
		return
	}
	var ie *imap.Error
	if !errors.As(*errp, &ie) {
		ie = storeError(*errp)
		switch ie {
		case errServerBug:
			s.log.Error("IMAP command failed", "command", command, "err", *errp)
		case errUnavailable:
			s.log.Warn("IMAP command failed temporarily", "command", command, "err", *errp)
		default:
			s.log.Debug("IMAP command refused", "command", command, "err", *errp)
		}
	}
	*errp = ie
	s.srv.obs.CommandFailed(s.info, command, string(ie.Code))
}

// Close implements imapserver.Session: the connection is gone.
func (s *session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unselect()
	s.srv.release(s)
	s.srv.obs.SessionEnded(s.info)
	s.log.Debug("IMAP session ended")
	return nil
}

// Login implements imapserver.Session; AUTHENTICATE PLAIN also ends here.
// The library refuses both before TLS with NO [PRIVACYREQUIRED].
func (s *session) Login(username, password string) (err error) {
	ctx := s.begin()
	defer s.end("LOGIN", &err)
	account, err := s.srv.opts.Authenticator.Authenticate(ctx, s.ip, username, password)
	switch {
	case errors.Is(err, mail.ErrThrottled):
		s.log.Info("IMAP login throttled")
		s.srv.obs.AuthFailed(s.info, AuthThrottled)
		return errThrottled
	case errors.Is(err, mail.ErrInvalidCredentials):
		// Suspended accounts get the same answer; the log tells them apart.
		s.log.Info("IMAP login failed", "suspended", errors.Is(err, mail.ErrSuspended))
		s.srv.obs.AuthFailed(s.info, AuthInvalid)
		return imapserver.ErrAuthFailed
	case err != nil:
		s.log.Error("IMAP authentication error", "err", err)
		s.srv.obs.AuthFailed(s.info, AuthError)
		return errAuthUnavailable
	}
	account = mail.Fold(account)
	if !s.srv.acquireUser(account) {
		s.log.Info("IMAP login refused: too many sessions", "user", account)
		s.srv.obs.AuthFailed(s.info, AuthTooManySessions)
		return errTooManySessions
	}
	// The wiring creates accounts from the configuration too; doing it here
	// makes an account usable from its first login (RFC 6154 folders).
	if err := s.ensureAccount(ctx, account); err != nil {
		s.srv.releaseUser(account)
		s.srv.obs.AuthFailed(s.info, AuthError)
		return err
	}
	s.account = account
	s.log = s.log.With("user", account)
	s.log.Info("IMAP login")
	s.srv.obs.LoggedIn(s.info)
	return nil
}

// ensureAccount creates the account with its default folders unless it
// exists; the check is a read, so a login does not queue for the writer.
func (s *session) ensureAccount(ctx context.Context, account string) error {
	_, err := s.srv.opts.Store.Usage(ctx, account)
	if errors.Is(err, store.ErrAccountNotFound) {
		_, err = s.srv.opts.Store.EnsureAccount(ctx, account)
	}
	if err != nil {
		return fmt.Errorf("ensuring account %s: %w", account, err)
	}
	return nil
}

// Namespace implements imapserver.SessionNamespace (RFC 2342): one personal
// namespace with the "/" delimiter.
func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delimiter}},
	}, nil
}

// AppendLimit implements imapserver.SessionAppendLimit (RFC 7889).
func (s *session) AppendLimit() uint32 {
	return num32(s.srv.opts.MaxAppendBytes)
}

// quota returns the account's quota in bytes, 0 for unlimited.
func (s *session) quota() int64 {
	if s.srv.opts.Quota == nil {
		return 0
	}
	return s.srv.opts.Quota.QuotaBytes(s.account)
}

// storeCtx is the context of store calls made outside a command (IDLE).
func (s *session) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.srv.ctx, s.srv.opts.CommandTimeout)
}
