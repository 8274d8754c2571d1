package smtp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kubemail/kubemail/mailserver/mail"
)

// Mode is the role of a listener.
type Mode int

// Listener roles (service names from RFC 8314 §7.3).
const (
	// ModeMX receives mail for local domains from anyone (port 25). No AUTH;
	// STARTTLS is offered when Options.TLSConfig is set.
	ModeMX Mode = iota + 1
	// ModeSubmission is message submission with STARTTLS (port 587,
	// RFC 6409): TLS and AUTH are required before MAIL.
	ModeSubmission
	// ModeSubmissions is message submission over implicit TLS (port 465,
	// RFC 8314 §3.3): the server wraps the listener in TLS itself.
	ModeSubmissions
)

// String returns the RFC 8314 service name, used in logs and metrics.
func (m Mode) String() string {
	switch m {
	case ModeMX:
		return "mx"
	case ModeSubmission:
		return "submission"
	case ModeSubmissions:
		return "submissions"
	default:
		return fmt.Sprintf("Mode(%d)", int(m))
	}
}

// Defaults for zero Options fields.
const (
	// DefaultMaxMessageBytes bounds one message (the whole message is held in
	// memory until it is stored).
	DefaultMaxMessageBytes = 32 << 20
	// DefaultMaxRecipients is the RFC 5321 §4.5.3.1.8 minimum buffer.
	DefaultMaxRecipients = 100
	// DefaultMaxLineLength bounds one line of message data including CRLF.
	// RFC 5321 §4.5.3.1.6 says 1000, but §4.5.3.1 asks implementations to
	// avoid limits where they can, and real mail (HTML without
	// quoted-printable) exceeds 1000; refusing it would bounce legitimate
	// mail for no safety gain.
	DefaultMaxLineLength = 4096
	// DefaultCommandTimeout is how long the server waits for the next
	// command, which is also the idle timeout (RFC 5321 §4.5.3.2.7).
	DefaultCommandTimeout = 5 * time.Minute
	// DefaultDataTimeout is how long the server waits for each read of
	// message data (at least the client's DATA block timeout, RFC 5321
	// §4.5.3.2.6).
	DefaultDataTimeout = 5 * time.Minute
	// DefaultWriteTimeout bounds writing one reply.
	DefaultWriteTimeout = time.Minute
)

// authLineLimit is the longest AUTH line a server must accept (RFC 4954 §4:
// 12288 octets), plus CRLF. Command lines (which share go-smtp's one line
// limit with message data) are allowed at least this long.
const authLineLimit = 12288 + 2

// Options configure a Server. Zero fields take the defaults above.
type Options struct {
	// Hostname is this server's name, used in the greeting and the Received
	// header. Required.
	Hostname string
	// Mode is the listener's role. Required.
	Mode Mode
	// TLSConfig is required for ModeSubmission (STARTTLS) and
	// ModeSubmissions (implicit TLS); with ModeMX it enables STARTTLS.
	TLSConfig *tls.Config
	// MaxMessageBytes bounds a message (advertised as SIZE, RFC 1870).
	MaxMessageBytes int64
	// MaxRecipients bounds RCPT commands per message (RFC 5321
	// §4.5.3.1.10: 452 4.5.3 beyond it).
	MaxRecipients int
	// MaxLineLength bounds a line of message data including CRLF.
	MaxLineLength int
	// CommandTimeout is the per-command read timeout and so the idle
	// timeout: a client silent for longer gets 421 and is disconnected.
	CommandTimeout time.Duration
	// DataTimeout is the timeout of each read while receiving message data.
	DataTimeout time.Duration
	// WriteTimeout bounds writing each reply.
	WriteTimeout time.Duration
	// Logger receives the server's logs; each connection logs through a
	// child with its id and remote address. Defaults to slog.Default().
	Logger *slog.Logger
	// Observer receives metric events. Defaults to NopObserver.
	Observer Observer
	// Now is the clock, for the Received header. Defaults to time.Now.
	Now func() time.Time
	// Checker, when set, authenticates messages on the MX listener
	// (ModeMX only; see MessageChecker).
	Checker mail.MessageChecker
}

// withDefaults fills zero fields and validates the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Hostname == "" {
		return o, errors.New("smtp options: Hostname is required")
	}
	if !validDomain(o.Hostname, false) {
		return o, fmt.Errorf("smtp options: Hostname %q is not a valid domain name", o.Hostname)
	}
	switch o.Mode {
	case ModeMX:
	case ModeSubmission, ModeSubmissions:
		if o.TLSConfig == nil {
			return o, fmt.Errorf("smtp options: mode %s requires TLSConfig", o.Mode)
		}
	default:
		return o, fmt.Errorf("smtp options: invalid mode %d", int(o.Mode))
	}
	if o.MaxMessageBytes < 0 || o.MaxRecipients < 0 || o.MaxLineLength < 0 {
		return o, errors.New("smtp options: limits must not be negative")
	}
	if o.MaxLineLength != 0 && o.MaxLineLength < 3 {
		return o, errors.New("smtp options: MaxLineLength must leave room for a character and CRLF")
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.MaxRecipients == 0 {
		o.MaxRecipients = DefaultMaxRecipients
	}
	if o.MaxLineLength == 0 {
		o.MaxLineLength = DefaultMaxLineLength
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	if o.DataTimeout == 0 {
		o.DataTimeout = DefaultDataTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// transportLineLimit is go-smtp's MaxLineLength: a backstop above both the
// longest AUTH line and the message line limit, so that overlong message
// lines are caught by this package's line checker (a clean 500 5.5.2 reply
// and a usable session) and only absurd lines hit go-smtp's limit, which
// closes the connection.
func (o Options) transportLineLimit() int {
	return max(o.MaxLineLength, authLineLimit) + 64
}
