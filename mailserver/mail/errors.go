package mail

import (
	"errors"
	"fmt"
)

// The error set every implementation of this package's interfaces
// returns (possibly wrapped), and every protocol maps to its replies in one
// boundary function. Any other error is a temporary failure: a server
// fault never reads as a permanent refusal.
var (
	// ErrUnknownRecipient: no such user in a local domain (SMTP 550 5.1.1).
	ErrUnknownRecipient = errors.New("unknown recipient")
	// ErrInvalidCredentials: wrong user name or password, or no such
	// account: the two are indistinguishable on purpose (SMTP 535 5.7.8,
	// IMAP NO [AUTHENTICATIONFAILED], POP3 -ERR [AUTH]).
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrThrottled: too many failures from this client (SMTP 454 4.7.0,
	// IMAP NO [UNAVAILABLE], POP3 -ERR [SYS/TEMP]).
	ErrThrottled = errors.New("too many failed authentication attempts")
	// ErrRateLimited: the sender has reached its relay limit (SMTP 450 4.7.1).
	ErrRateLimited = errors.New("sender rate limit reached")
)

// ErrSuspended means the password was right but the account is suspended.
// errors.Is(ErrSuspended, ErrInvalidCredentials) is true, so a protocol
// that maps ErrInvalidCredentials to its "authentication failed" reply
// gives a suspended account the very same answer; only the log tells the
// two apart (test ErrSuspended first).
var ErrSuspended error = suspendedError{}

type suspendedError struct{}

// Error implements error.
func (suspendedError) Error() string { return "account suspended" }

// Is makes errors.Is(ErrSuspended, ErrInvalidCredentials) true.
func (suspendedError) Is(target error) bool { return target == ErrInvalidCredentials }

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
