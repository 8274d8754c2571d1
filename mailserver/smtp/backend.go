package smtp

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
