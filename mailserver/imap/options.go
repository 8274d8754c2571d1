package imap

import (
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
)

// Defaults for the zero values of Options.
const (
	// DefaultMaxAppendBytes is the largest APPEND literal accepted
	// (advertised as APPENDLIMIT, RFC 7889).
	DefaultMaxAppendBytes = 50 << 20
	// DefaultMaxConnsPerIP is the most sessions one client address may hold.
	DefaultMaxConnsPerIP = 50
	// DefaultMaxConnsPerUser is the most sessions one account may hold.
	DefaultMaxConnsPerUser = 20
	// DefaultCommandTimeout bounds each store and authenticator call.
	DefaultCommandTimeout = time.Minute
	// DefaultHandshakeTimeout bounds the implicit-TLS handshake.
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultCacheBytes is the size of the parsed ENVELOPE/BODYSTRUCTURE
	// cache shared by all sessions.
	DefaultCacheBytes = 32 << 20
	// DefaultHeaderCacheBytes is the size of the header section cache
	// shared by all sessions.
	DefaultHeaderCacheBytes = 16 << 20
	// MaxSearchDepth bounds the nesting of NOT and OR in a SEARCH.
	MaxSearchDepth = 64
)

// Store is what the IMAP server needs from the mail store: store.Store
// without Close.
type Store interface {
	store.AccountStore
	store.FolderStore
	store.MessageStore
	store.Notifier
}

// Quota gives an account's storage quota in bytes; 0 means unlimited.
type Quota interface {
	QuotaBytes(account string) int64
}

// QuotaFunc adapts a function to Quota.
type QuotaFunc func(account string) int64

// QuotaBytes implements Quota.
func (f QuotaFunc) QuotaBytes(account string) int64 { return f(account) }

// Options configures a Server.
type Options struct {
	// Store holds the mail. Required.
	Store Store
	// Authenticator checks LOGIN and AUTHENTICATE PLAIN credentials. Required.
	Authenticator mail.Authenticator
	// Quota gives each account's quota; nil means unlimited.
	Quota Quota
	// TLSConfig enables STARTTLS on Serve listeners and is required by
	// ServeTLS. It is used as is, so GetCertificate can reload certificates.
	TLSConfig *tls.Config
	// AllowInsecureAuth allows LOGIN and AUTHENTICATE without TLS. Only for
	// tests and for listeners behind a TLS-terminating proxy.
	AllowInsecureAuth bool
	// Logger receives the server's logs; each connection logs with its
	// connection id and remote address. Defaults to slog.Default().
	Logger *slog.Logger
	// Hostname is named in the shutdown message. Defaults to "localhost".
	Hostname string
	// MaxAppendBytes is the largest message APPEND accepts, advertised as
	// APPENDLIMIT; a larger literal is refused with NO [TOOBIG] before the
	// server asks for its data. Capped at 4 GiB - 1. Defaults to
	// DefaultMaxAppendBytes.
	MaxAppendBytes int64
	// MaxConnsPerIP is the most sessions from one client address; negative
	// means unlimited. Defaults to DefaultMaxConnsPerIP.
	MaxConnsPerIP int
	// MaxConnsPerUser is the most sessions one account may hold; negative
	// means unlimited. Defaults to DefaultMaxConnsPerUser.
	MaxConnsPerUser int
	// CommandTimeout bounds each store and authenticator call. Defaults to
	// DefaultCommandTimeout.
	CommandTimeout time.Duration
	// HandshakeTimeout bounds the implicit-TLS handshake. Defaults to
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// CacheBytes sizes the cache of parsed envelopes and body structures
	// shared by all sessions; negative disables it. Defaults to
	// DefaultCacheBytes.
	CacheBytes int64
	// HeaderCacheBytes sizes the cache of header sections (of at most
	// 4 KiB each) that FETCH fills and SEARCH HEADER and header fetches
	// read, shared by all sessions; negative disables it. Defaults to
	// DefaultHeaderCacheBytes.
	HeaderCacheBytes int64
	// Observer receives hooks for metrics. Optional.
	Observer Observer
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.MaxAppendBytes <= 0 {
		o.MaxAppendBytes = DefaultMaxAppendBytes
	}
	o.MaxAppendBytes = min(o.MaxAppendBytes, 1<<32-1)
	if o.MaxConnsPerIP == 0 {
		o.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if o.MaxConnsPerUser == 0 {
		o.MaxConnsPerUser = DefaultMaxConnsPerUser
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.HeaderCacheBytes == 0 {
		o.HeaderCacheBytes = DefaultHeaderCacheBytes
	}
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
}

// ConnInfo identifies a connection to the Observer.
type ConnInfo struct {
	// ID is unique within the server's lifetime.
	ID         string
	RemoteAddr net.Addr
	LocalAddr  net.Addr
}

// AuthFailure says why a login failed, for metrics.
type AuthFailure string

// Reasons a login fails.
const (
	// AuthInvalid: wrong username or password.
	AuthInvalid AuthFailure = "invalid_credentials"
	// AuthThrottled: the authenticator refused because of earlier failures.
	AuthThrottled AuthFailure = "throttled"
	// AuthTooManySessions: the account has Options.MaxConnsPerUser sessions.
	AuthTooManySessions AuthFailure = "too_many_sessions"
	// AuthError: the authenticator or the store failed.
	AuthError AuthFailure = "error"
)

// Observer receives session events, typically to count them. Methods are
// called from session goroutines and must be safe for concurrent use and
// quick. Embed NopObserver to implement only some of them.
type Observer interface {
	// SessionStarted is called when a connection is accepted and admitted.
	SessionStarted(c ConnInfo)
	// SessionRefused is called when a connection is refused (per-address
	// limit, shutdown, failed TLS handshake); reason is a short constant.
	SessionRefused(c ConnInfo, reason string)
	// SessionEnded is called once when an admitted session is over.
	SessionEnded(c ConnInfo)
	// LoggedIn is called after a successful LOGIN or AUTHENTICATE.
	LoggedIn(c ConnInfo)
	// AuthFailed is called when LOGIN or AUTHENTICATE failed.
	AuthFailed(c ConnInfo, reason AuthFailure)
	// CommandFailed is called for every NO or BAD this package returns;
	// command is an upper-case IMAP keyword and code the response code
	// ("" for none): never raw client input, so both are safe metric labels.
	CommandFailed(c ConnInfo, command, code string)
	// Panicked is called when a session or the IMAP library panicked; the
	// panic was recovered and logged. c is zero for library panics.
	Panicked(c ConnInfo, v any)
}

// NopObserver is an Observer that does nothing, for embedding.
type NopObserver struct{}

// SessionStarted does nothing.
func (NopObserver) SessionStarted(ConnInfo) {}

// SessionRefused does nothing.
func (NopObserver) SessionRefused(ConnInfo, string) {}

// SessionEnded does nothing.
func (NopObserver) SessionEnded(ConnInfo) {}

// LoggedIn does nothing.
func (NopObserver) LoggedIn(ConnInfo) {}

// AuthFailed does nothing.
func (NopObserver) AuthFailed(ConnInfo, AuthFailure) {}

// CommandFailed does nothing.
func (NopObserver) CommandFailed(ConnInfo, string, string) {}

// Panicked does nothing.
func (NopObserver) Panicked(ConnInfo, any) {}
