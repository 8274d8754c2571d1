package pop3

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
)

// Backend authenticates users and opens their maildrops.
type Backend interface {
	// Login checks username and password and returns the user's maildrop.
	// It returns an error matching ErrInvalidCredentials for a wrong user
	// name or password, ErrInUse when the backend itself knows the maildrop
	// is locked, an *Error of kind ErrorPermanent for an account that cannot
	// log in (suspended, disabled) and anything else for a temporary
	// failure. Error text is logged, never sent to the client.
	Login(ctx context.Context, c ConnInfo, username, password string) (Maildrop, error)
}

// Maildrop is one user's mailbox for the length of a POP3 session.
//
// The server calls List once, after taking the maildrop lock, and uses that
// snapshot for the whole session (RFC 1939 §4, §5: message numbers stay stable
// until the session ends). Close is always called exactly once, whether or
// not Commit was.
type Maildrop interface {
	// Name identifies the maildrop for the server's exclusive-access lock
	// (RFC 1939 §4, RFC 2449 §8.1.2 IN-USE): two sessions whose maildrops
	// have the same name never run at the same time. Usually the account
	// address, in canonical form (so aliases and case variants of a login
	// name lock the same maildrop).
	Name() string
	// List returns the messages in the maildrop, oldest first. Size is the
	// size in octets of the message as it will be sent, with CRLF line
	// endings (RFC 1939 §5 LIST); UID is the unique-id listing
	// (RFC 1939 §7 UIDL: 1 to 70 characters in the range 0x21 to 0x7E).
	List(ctx context.Context) ([]MessageInfo, error)
	// Open returns the full message (header and body) at index, a 0-based
	// position in the slice List returned. ctx bounds the call to Open;
	// reading the returned body is bounded by the server's write timeout,
	// and the server closes the body when it is done with it.
	Open(ctx context.Context, index int) (io.ReadCloser, error)
	// Commit is called in the UPDATE state, when the client sent QUIT in the
	// TRANSACTION state (RFC 1939 §6), with the UIDs of the messages marked
	// deleted (possibly none). Removing them must be atomic: all or none.
	Commit(ctx context.Context, deleteUIDs []string) error
	// Close releases the maildrop's resources.
	Close() error
}

// MessageInfo describes one message of a maildrop snapshot.
type MessageInfo struct {
	// UID is the message's unique id, stable across sessions (RFC 1939 §7).
	UID string
	// Size is the message size in octets with CRLF line endings.
	Size int64
}

// ConnInfo describes the client connection of a session.
type ConnInfo struct {
	// ID identifies the connection in logs.
	ID string
	// RemoteAddr is the client's address: conn.RemoteAddr(), which a
	// PROXY-protocol listener has already replaced by the real client's.
	RemoteAddr net.Addr
	// LocalAddr is the address the client connected to.
	LocalAddr net.Addr
	// TLS is the TLS state once TLS is established (implicit TLS or STLS),
	// nil before.
	TLS *tls.ConnectionState
}

// ErrorKind classifies a backend error; each kind maps to one response code.
type ErrorKind int

// The kinds of backend errors. The zero value is ErrorTemporary, so an
// *Error built without a kind is a temporary failure.
const (
	// ErrorTemporary is a failure worth retrying later: "-ERR [SYS/TEMP]"
	// (RFC 3206 §4).
	ErrorTemporary ErrorKind = iota
	// ErrorPermanent is a failure that will not go away without an
	// administrator, such as a suspended account: "-ERR [SYS/PERM]"
	// (RFC 3206 §4).
	ErrorPermanent
	// ErrorInvalidCredentials is a wrong user name or password:
	// "-ERR [AUTH]" (RFC 3206 §5).
	ErrorInvalidCredentials
	// ErrorInUse means the maildrop is locked by another session:
	// "-ERR [IN-USE]" (RFC 2449 §8.1.2).
	ErrorInUse
)

// Error is a backend error with its kind; Err is the cause, logged but never
// sent to the client.
type Error struct {
	Kind ErrorKind
	Err  error
}

// Error returns the kind and the cause, for logs.
func (e *Error) Error() string {
	var kind string
	switch e.Kind {
	case ErrorPermanent:
		kind = "permanent failure"
	case ErrorInvalidCredentials:
		kind = "invalid credentials"
	case ErrorInUse:
		kind = "maildrop in use"
	default:
		kind = "temporary failure"
	}
	if e.Err == nil {
		return "pop3: " + kind
	}
	return "pop3: " + kind + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error of the same kind with no cause, so
// errors.Is(err, ErrInvalidCredentials) holds for any invalid-credentials
// error, wrapped or not.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Err == nil && t.Kind == e.Kind
}

// Sentinel errors for Backend implementations; wrap them with fmt.Errorf
// and %w to add detail for the log.
var (
	// ErrInvalidCredentials reports a wrong user name or password.
	ErrInvalidCredentials error = &Error{Kind: ErrorInvalidCredentials}
	// ErrInUse reports that the maildrop is locked by another session.
	ErrInUse error = &Error{Kind: ErrorInUse}
)

// TemporaryError marks err as a temporary failure ("-ERR [SYS/TEMP]").
func TemporaryError(err error) error { return &Error{Kind: ErrorTemporary, Err: err} }

// PermanentError marks err as a permanent failure ("-ERR [SYS/PERM]").
func PermanentError(err error) error { return &Error{Kind: ErrorPermanent, Err: err} }

// ResponseCode is an RFC 2449 §8 extended response code, sent in brackets
// after "-ERR".
type ResponseCode string

// Response codes this server sends.
const (
	// CodeNone is a plain "-ERR" without a response code.
	CodeNone ResponseCode = ""
	// CodeAuth: the credentials are wrong or authentication is not allowed
	// as attempted (RFC 3206 §5).
	CodeAuth ResponseCode = "AUTH"
	// CodeSysTemp: a temporary system failure (RFC 3206 §4).
	CodeSysTemp ResponseCode = "SYS/TEMP"
	// CodeSysPerm: a permanent system failure (RFC 3206 §4).
	CodeSysPerm ResponseCode = "SYS/PERM"
	// CodeInUse: the maildrop is locked by another session
	// (RFC 2449 §8.1.2).
	CodeInUse ResponseCode = "IN-USE"
)

// errorResponse maps a backend error, once, to the response code and the
// client-facing text; unknown errors are temporary (docs/errors.md).
func errorResponse(err error) (ResponseCode, string) {
	kind := ErrorTemporary
	var e *Error
	if errors.As(err, &e) {
		kind = e.Kind
	}
	switch kind {
	case ErrorInvalidCredentials:
		return CodeAuth, "authentication failed"
	case ErrorInUse:
		return CodeInUse, "maildrop already locked by another session"
	case ErrorPermanent:
		return CodeSysPerm, "account unavailable"
	default:
		return CodeSysTemp, "temporary failure, try again later"
	}
}
