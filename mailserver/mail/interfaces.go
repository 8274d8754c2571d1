package mail

import (
	"context"
	"net/netip"
)

// Directory answers address questions for the protocol servers. It is written by
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
