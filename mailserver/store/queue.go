package store

import (
	"context"
	"errors"
	"time"
)

// ErrQueueEntryNotFound means no queued message has the id.
var ErrQueueEntryNotFound = errors.New("queued message not found")

// Queue is the durable outbound queue, kept in the same database as the
// mailboxes so that one transaction (MessageStore.Submit) can store a
// message's local copies and queue it for its remote recipients. The store only persists: scheduling
// (when an attempt is due, what an outcome means) belongs to the caller
// (package mailserver/queue), which passes every time explicitly.
//
// A queued message has one row per remote recipient. A recipient is
// waiting (due at NextAttempt) or in flight (leased by a worker, whose
// attempt has been recorded); Settle removes it once it is delivered or has
// failed for good, and the message goes with its last recipient.
type Queue interface {
	// DueRecipients lists up to limit recipients whose NextAttempt is at
	// or before now, in flight or not, in the order of their DuePosition
	// and after the position after (the zero DuePosition: from the
	// earliest). It changes nothing.
	DueRecipients(ctx context.Context, now time.Time, after DuePosition, limit int) ([]QueuedRecipient, error)
	// Lease records an attempt for each recipient of ids that is still due
	// at now: Attempts+1, LastAttempt now, InFlight, and NextAttempt until
	// (when the recipient becomes due again if no outcome is ever
	// settled). It returns the recipients it leased, durably recorded.
	Lease(ctx context.Context, ids []int64, now, until time.Time) ([]QueuedRecipient, error)
	// QueuedMessage returns a queued message's envelope and body.
	QueuedMessage(ctx context.Context, id string) (OutboundMessage, []byte, error)
	// Settle records attempt outcomes and stores reports (delivery status
	// notifications) in one durable transaction. Outcomes for recipients
	// that are no longer queued are ignored. Reports are stored as
	// MessageStore.Submit stores them, always best effort (see
	// Submission.BestEffort): a local target that fails is skipped and
	// reported in the result.
	Settle(ctx context.Context, s Settlement) (SettleResult, error)
	// ListQueue returns every queued message with its recipients, oldest
	// first.
	ListQueue(ctx context.Context) ([]QueueEntry, error)
	// RescheduleQueued makes the waiting recipients of message id (every
	// message when id is "") due at at, and reports how many it changed.
	// In-flight recipients are left to their worker.
	RescheduleQueued(ctx context.Context, id string, at time.Time) (int, error)
	// DeleteQueued removes message id with all its recipients; it fails
	// with ErrQueueEntryNotFound when there is no such message.
	DeleteQueued(ctx context.Context, id string) error
	// ReleaseLeases makes every in-flight recipient due at now and reports
	// how many there were. Call it at start, before any worker runs: an
	// attempt in flight when the process died never settled.
	ReleaseLeases(ctx context.Context, now time.Time) (int, error)
}

// Notify is the set of NOTIFY values of a recipient (RFC 3461 §4.1).
type Notify uint8

// NOTIFY values. The zero value means the client gave none, which RFC 3461
// §4.1 lets the server treat as "FAILURE,DELAY".
const (
	NotifyNever Notify = 1 << iota
	NotifySuccess
	NotifyFailure
	NotifyDelay
)

// Wants reports whether a notification of kind (NotifySuccess,
// NotifyFailure or NotifyDelay) is to be sent.
func (n Notify) Wants(kind Notify) bool {
	switch {
	case n&NotifyNever != 0:
		return false
	case n == 0:
		return kind == NotifyFailure || kind == NotifyDelay
	}
	return n&kind != 0
}

// Return values of the RET parameter (RFC 3461 §4.3).
const (
	ReturnFull    = "FULL"
	ReturnHeaders = "HDRS"
)

// OutboundMessage is the envelope of a queued message.
type OutboundMessage struct {
	// ID identifies the message in the queue, the logs and the admin
	// interface; unique among queued messages.
	ID string
	// Sender is the reverse-path; "" is the null sender (a report, which
	// is never reported on in turn, RFC 5321 §4.5.5).
	Sender string
	// Account is the authenticated account that submitted it, if any.
	Account string
	// EnvelopeID is the ENVID parameter (RFC 3461 §4.4), "" when none.
	EnvelopeID string
	// Return is the RET parameter, ReturnFull, ReturnHeaders or "".
	Return string
	// RequireTLS is the REQUIRETLS parameter (RFC 8689 §4.1).
	RequireTLS bool
	// UTF8 is the SMTPUTF8 parameter (RFC 6531).
	UTF8 bool
	// Created is when the message was queued.
	Created time.Time
	// Size is the body's size in bytes (set by the store).
	Size int64
}

// OutboundRecipient is one remote recipient of a new queued message.
type OutboundRecipient struct {
	// Address is the forward-path.
	Address string
	// ORCPT is the original recipient (RFC 3461 §4.2) in the form
	// "rfc822;addr", "" when none.
	ORCPT string
	// Notify is the NOTIFY parameter.
	Notify Notify
}

// Outbound is the queue part of a Submission.
type Outbound struct {
	Message    OutboundMessage
	Recipients []OutboundRecipient
	// NextAttempt is when the first attempt is due.
	NextAttempt time.Time
}

// QueuedRecipient is one remote recipient as the queue holds it.
type QueuedRecipient struct {
	// ID identifies the recipient row.
	ID int64
	// MessageID is the OutboundMessage.ID it belongs to.
	MessageID string
	// Address is the forward-path and Domain its domain, lower case.
	Address string
	Domain  string
	ORCPT   string
	Notify  Notify
	// Attempts counts the attempts recorded by Lease.
	Attempts int
	// NextAttempt is when the recipient is due; for one in flight, when
	// its lease ends.
	NextAttempt time.Time
	// LastAttempt is when the last attempt started (zero before the first).
	LastAttempt time.Time
	// LastError is the last failure as the remote server (or the network)
	// reported it.
	LastError string
	// InFlight means a worker holds the recipient.
	InFlight bool
	// DelayNotified means a delay notification has been sent.
	DelayNotified bool
	// Queued is when its message was queued.
	Queued time.Time
}

// DuePosition is a recipient's place in the order DueRecipients lists
// them: by NextAttempt, then by ID. A scheduler reading the queue page by
// page passes the position of the last recipient it read.
type DuePosition struct {
	NextAttempt time.Time
	ID          int64
}

// Position returns r's DuePosition.
func (r QueuedRecipient) Position() DuePosition {
	return DuePosition{NextAttempt: r.NextAttempt, ID: r.ID}
}

// RecipientOutcome is the result of one attempt for one recipient.
type RecipientOutcome struct {
	ID int64
	// Done removes the recipient: delivered, or failed for good.
	Done bool
	// NextAttempt is when to try again, when not Done.
	NextAttempt time.Time
	// LastError is kept for the admin interface and reports.
	LastError string
	// DelayNotified records that a delay notification went out.
	DelayNotified bool
}

// Settlement is what Settle records.
type Settlement struct {
	Outcomes []RecipientOutcome
	// Reports are stored in the same transaction (delivery status
	// notifications to local or remote senders).
	Reports []Submission
}

// SettleResult reports the fate of each report's local targets, in the
// order of Settlement.Reports.
type SettleResult struct {
	Reports [][]DeliveryResult
}

// QueueEntry is a queued message with its remaining recipients.
type QueueEntry struct {
	Message    OutboundMessage
	Recipients []QueuedRecipient
}
