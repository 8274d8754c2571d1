package smtp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Directory answers address questions for the SMTP server. It is written by
// the caller on top of the configuration; implementations must be safe for
// concurrent use.
type Directory interface {
	// Resolve tells what an envelope recipient expands to. For an address in
	// a domain this server does not serve it returns Recipient{Local: false}
	// and no error; for an unknown user in a local domain it returns an error
	// matching ErrUnknownRecipient. Any other error is treated as a temporary
	// failure.
	Resolve(ctx context.Context, rcpt string) (Recipient, error)

	// SenderAllowed reports whether the authenticated account may use from
	// as its envelope sender (its own address or one of its aliases).
	SenderAllowed(account, from string) bool
}

// QuotaChecker is an optional interface a Directory may implement. When it
// does, every account a recipient resolves to is checked at RCPT time.
type QuotaChecker interface {
	// CheckQuota returns nil when account can take a message of size octets
	// (0 when the client declared no SIZE), an *OverQuotaError when it
	// cannot, and any other error for a temporary failure.
	CheckQuota(ctx context.Context, account string, size int64) error
}

// Authenticator verifies credentials presented with AUTH. Implementations
// throttle failures per client and must be safe for concurrent use.
type Authenticator interface {
	// Authenticate returns the account that username and password log into.
	// Errors matching ErrInvalidCredentials or ErrThrottled are answered as
	// such; any other error is a temporary failure.
	Authenticate(ctx context.Context, ip netip.Addr, username, password string) (account string, err error)
}

// Deliverer stores accepted messages.
type Deliverer interface {
	// Deliver stores body for every account of env.Accounts(), all or
	// nothing, and returns only once the message is on stable storage: a nil
	// error is turned into the 250 reply. Nothing may become visible to
	// readers before Deliver returns nil. An *OverQuotaError is answered with
	// the quota reply; any other error is a temporary failure and nothing is
	// kept. A Deliverer that also implements Relayer must, in the same
	// durable step, queue the message for every address of env.Remote().
	Deliver(ctx context.Context, env Envelope, body []byte) error
}

// Relayer is an optional interface of a Deliverer that queues mail for
// other servers. Without it the server accepts local recipients only:
// remote recipients and local recipients that forward elsewhere are
// refused. With it:
//
//   - submission accepts remote recipients from authenticated clients
//     (every submission client is authenticated before MAIL);
//   - the MX listener accepts remote recipients only from clients for
//     which RelayAllowed is true: never an open relay;
//   - local recipients that forward to remote targets are accepted on
//     every listener;
//   - DSN (RFC 3461) and REQUIRETLS (RFC 8689) are advertised, since the
//     queue honours them.
type Relayer interface {
	// RelayAllowed reports whether an unauthenticated client at ip may
	// relay through the MX listener.
	RelayAllowed(ip netip.Addr) bool
	// AllowRelay is asked before a remote recipient is accepted, with the
	// sender it counts against (the authenticated account, else the
	// envelope sender). It returns an error matching ErrRateLimited when
	// the sender has reached its limit; any other error is a temporary
	// failure.
	AllowRelay(ctx context.Context, sender string) error
}

// MessageChecker is an optional Options.Checker that authenticates
// messages arriving on the MX listener (SPF, DKIM, DMARC). Messages from
// authenticated clients and from clients allowed to relay are not checked.
type MessageChecker interface {
	// CheckMessage checks the message content (without this server's
	// Received field). It has no error: a check that cannot be completed
	// says so in its result header.
	CheckMessage(ctx context.Context, env Envelope, content []byte) CheckResult
}

// CheckResult is a MessageChecker's verdict.
type CheckResult struct {
	// Header is prepended to the message after the Received field, for
	// example an Authentication-Results field; it ends with CRLF.
	Header []byte
	// Content, when not nil, replaces the message content (for example
	// without forged Authentication-Results fields).
	Content []byte
	// Reject refuses the message (550 5.7.1): for example DMARC failed
	// under the sender domain's p=reject policy.
	Reject bool
	// Reason says why, for the log.
	Reason string
}

// Recipient is what one RCPT TO address resolves to.
type Recipient struct {
	// Address is the address as the client gave it in RCPT TO.
	Address string
	// Local is true when the address is in a domain served here.
	Local bool
	// Accounts are the local accounts the address delivers to (the mailbox
	// itself, or the local targets of an alias).
	Accounts []string
	// External are targets outside this server (alias forwarding). They
	// are accepted only when the Deliverer is a Relayer; otherwise such a
	// recipient is refused rather than delivered in part.
	External []string
	// Notify is the RCPT NOTIFY parameter (RFC 3461 §4.1): some of
	// "NEVER", "SUCCESS", "FAILURE", "DELAY"; empty when not given.
	Notify []string
	// ORCPT is the RCPT ORCPT parameter (RFC 3461 §4.2), decoded, as
	// "addr-type;address"; empty when not given.
	ORCPT string
}

// Remote is one address a message is queued for.
type Remote struct {
	// Address is the remote forward-path.
	Address string
	// Recipient is the RCPT it comes from: the address itself, or a local
	// recipient that forwards to it.
	Recipient Recipient
}

// Envelope describes one accepted message for the Deliverer.
type Envelope struct {
	// ID is the message id used in the Received header, the 250 reply and
	// the logs.
	ID string
	// From is the reverse-path; empty for the null sender.
	From string
	// Recipients are the accepted recipients in RCPT order.
	Recipients []Recipient
	// HELO is the name the client gave in EHLO/HELO.
	HELO string
	// RemoteIP is the client address (already the real client when the
	// listener speaks the PROXY protocol).
	RemoteIP netip.Addr
	// Account is the authenticated account, empty when none.
	Account string
	// TLS is true when the message arrived over TLS.
	TLS bool
	// UTF8 is true when the client used the SMTPUTF8 parameter (RFC 6531).
	UTF8 bool
	// ReceivedAt is when the message data was complete.
	ReceivedAt time.Time
	// EnvelopeID is the MAIL ENVID parameter (RFC 3461 §4.4), decoded.
	EnvelopeID string
	// Return is the MAIL RET parameter (RFC 3461 §4.3), "FULL", "HDRS" or "".
	Return string
	// RequireTLS is the MAIL REQUIRETLS parameter (RFC 8689 §4.1).
	RequireTLS bool
	// Relayed is true when an unauthenticated client was allowed to relay
	// (Relayer.RelayAllowed).
	Relayed bool
}

// Remote returns the addresses to queue, each once, in RCPT order: every
// remote recipient, and the remote targets of local recipients.
func (e Envelope) Remote() []Remote {
	seen := make(map[string]bool)
	var out []Remote
	add := func(addr string, r Recipient) {
		if key := strings.ToLower(addr); !seen[key] {
			seen[key] = true
			out = append(out, Remote{Address: addr, Recipient: r})
		}
	}
	for _, r := range e.Recipients {
		if !r.Local {
			add(r.Address, r)
			continue
		}
		for _, x := range r.External {
			add(x, r)
		}
	}
	return out
}

// Accounts returns the accounts to deliver to, each once, in first-seen
// order.
func (e Envelope) Accounts() []string {
	seen := make(map[string]bool)
	var out []string
	for _, r := range e.Recipients {
		for _, a := range r.Accounts {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// Errors a Directory or Authenticator returns (possibly wrapped).
var (
	// ErrUnknownRecipient: no such user in a local domain (550 5.1.1).
	ErrUnknownRecipient = errors.New("unknown recipient")
	// ErrInvalidCredentials: wrong user name or password (535 5.7.8).
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrThrottled: too many failures from this client (454 4.7.0).
	ErrThrottled = errors.New("authentication throttled")
	// ErrRateLimited: the sender has reached its relay limit (450 4.7.1).
	ErrRateLimited = errors.New("sender rate limit reached")
)

// OverQuotaError reports that an account cannot take more mail.
type OverQuotaError struct {
	// Account is the account that is full.
	Account string
	// Permanent is true when retrying cannot help (for example the message
	// is larger than the whole quota): 552 5.2.2 instead of 452 4.2.2.
	Permanent bool
}

// Error implements error.
func (e *OverQuotaError) Error() string {
	kind := "temporarily"
	if e.Permanent {
		kind = "permanently"
	}
	return fmt.Sprintf("account %s is %s over quota", e.Account, kind)
}

// Reason labels a refusal or failure for metrics. The set is fixed, so it is
// safe to use as a label value.
type Reason string

// Reasons passed to Observer.MessageRejected and Observer.AuthFailed.
const (
	ReasonRelayDenied        Reason = "relay_denied"
	ReasonUnknownRecipient   Reason = "unknown_recipient"
	ReasonOutboundDisabled   Reason = "outbound_disabled"
	ReasonForwardingDisabled Reason = "forwarding_disabled"
	ReasonSenderNotAllowed   Reason = "sender_not_allowed"
	ReasonTLSRequired        Reason = "tls_required"
	ReasonAuthRequired       Reason = "auth_required"
	ReasonBadAddress         Reason = "bad_address"
	ReasonProtocol           Reason = "protocol"
	ReasonOverQuota          Reason = "over_quota"
	ReasonMessageTooBig      Reason = "message_too_big"
	ReasonLineTooLong        Reason = "line_too_long"
	ReasonBareLineEnding     Reason = "bare_line_ending"
	ReasonTimeout            Reason = "timeout"
	ReasonAborted            Reason = "aborted"
	ReasonInternal           Reason = "internal_error"
	ReasonInvalidCredentials Reason = "invalid_credentials"
	ReasonThrottled          Reason = "throttled"
	ReasonMalformed          Reason = "malformed"
	ReasonRateLimited        Reason = "rate_limited"
	ReasonDMARCReject        Reason = "dmarc_reject"
)

// Observer receives events for metrics. Methods are called synchronously
// from connection goroutines and must not block.
type Observer interface {
	// ConnectionOpened is called when a connection is accepted.
	ConnectionOpened(mode Mode)
	// ConnectionClosed is called once when that connection is closed.
	ConnectionClosed(mode Mode)
	// MessageAccepted is called after a message is stored.
	MessageAccepted(mode Mode, size int64, recipients int)
	// MessageRejected is called when MAIL, RCPT or the message data is
	// refused by this package's policy or fails.
	MessageRejected(mode Mode, reason Reason)
	// AuthFailed is called for every failed AUTH exchange.
	AuthFailed(mode Mode, reason Reason)
	// Panicked is called for every panic recovered while serving a
	// connection.
	Panicked(mode Mode)
}

// NopObserver ignores every event; embed it to implement only some methods.
type NopObserver struct{}

// ConnectionOpened implements Observer.
func (NopObserver) ConnectionOpened(Mode) {}

// ConnectionClosed implements Observer.
func (NopObserver) ConnectionClosed(Mode) {}

// MessageAccepted implements Observer.
func (NopObserver) MessageAccepted(Mode, int64, int) {}

// MessageRejected implements Observer.
func (NopObserver) MessageRejected(Mode, Reason) {}

// AuthFailed implements Observer.
func (NopObserver) AuthFailed(Mode, Reason) {}

// Panicked implements Observer.
func (NopObserver) Panicked(Mode) {}
