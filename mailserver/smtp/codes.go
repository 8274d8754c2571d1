package smtp

import (
	gosmtp "github.com/emersion/go-smtp"
)

// Basic reply codes (RFC 5321 §4.2.2 and §4.2.3, plus the AUTH codes of
// RFC 4954 §6). Only the codes this package sends itself are listed; go-smtp
// sends the protocol-level ones (502, 503 sequencing, 354, ...).
const (
	c250Completed          = 250 // RFC 5321 §4.2.2
	c421ServiceClosing     = 421 // RFC 5321 §3.8: service not available, closing transmission channel
	c450MailboxUnavailable = 450 // RFC 5321 §4.2.3: requested mail action not taken (temporary)
	c451LocalError         = 451 // RFC 5321 §4.2.3: requested action aborted: local error in processing
	c452InsufficientSpace  = 452 // RFC 5321 §4.2.3: insufficient system storage
	c454TempAuthFailure    = 454 // RFC 4954 §6: temporary authentication failure
	c500LineTooLong        = 500 // RFC 5321 §4.5.3.1.9: "500 Line too long"
	c501SyntaxArgs         = 501 // RFC 5321 §4.2.3: syntax error in parameters or arguments
	c502NotImplemented     = 502 // RFC 5321 §4.2.3: command not implemented
	c503BadSequence        = 503 // RFC 5321 §4.2.3: bad sequence of commands
	c504ParamNotImpl       = 504 // RFC 5321 §4.2.3; RFC 4954 §4 for unknown mechanisms
	c530AccessDenied       = 530 // RFC 3207 §4 (STARTTLS first) and RFC 4954 §6 (authentication required)
	c535AuthInvalid        = 535 // RFC 4954 §6: authentication credentials invalid
	c538EncryptionRequired = 538 // RFC 4954 §6: encryption required for requested mechanism
	c550MailboxUnavailable = 550 // RFC 5321 §4.2.3
	c552ExceededStorage    = 552 // RFC 5321 §4.2.3; RFC 1870 §6.1 for size
	c553MailboxNameInvalid = 553 // RFC 5321 §4.2.3
	c554TransactionFailed  = 554 // RFC 5321 §4.2.3
)

// Enhanced status codes (RFC 3463, registry updated by RFC 5248).
var (
	es200Success          = gosmtp.EnhancedCode{2, 0, 0}  // RFC 3463 §3.1
	es422MailboxFull      = gosmtp.EnhancedCode{4, 2, 2}  // RFC 3463 §3.3
	es430SystemOther      = gosmtp.EnhancedCode{4, 3, 0}  // RFC 3463 §3.4
	es442BadConnection    = gosmtp.EnhancedCode{4, 4, 2}  // RFC 3463 §3.5
	es470SecurityTemp     = gosmtp.EnhancedCode{4, 7, 0}  // RFC 4954 §6
	es511BadMailbox       = gosmtp.EnhancedCode{5, 1, 1}  // RFC 3463 §3.2: bad destination mailbox address
	es513BadRcptSyntax    = gosmtp.EnhancedCode{5, 1, 3}  // RFC 3463 §3.2: bad destination mailbox address syntax
	es517BadSenderSyntax  = gosmtp.EnhancedCode{5, 1, 7}  // RFC 3463 §3.2: bad sender's mailbox address syntax
	es522MailboxFull      = gosmtp.EnhancedCode{5, 2, 2}  // RFC 3463 §3.3
	es534MessageTooBig    = gosmtp.EnhancedCode{5, 3, 4}  // RFC 3463 §3.4
	es551InvalidCommand   = gosmtp.EnhancedCode{5, 5, 1}  // RFC 3463 §3.6
	es552SyntaxError      = gosmtp.EnhancedCode{5, 5, 2}  // RFC 3463 §3.6
	es554InvalidParams    = gosmtp.EnhancedCode{5, 5, 4}  // RFC 3463 §3.6
	es560MediaOther       = gosmtp.EnhancedCode{5, 6, 0}  // RFC 3463 §3.7
	es567NonASCIIAddress  = gosmtp.EnhancedCode{5, 6, 7}  // RFC 6531 §3.5, RFC 5248
	es570SecurityOther    = gosmtp.EnhancedCode{5, 7, 0}  // RFC 3463 §3.8; RFC 3207 §4; RFC 4954 §6
	es571NotAuthorized    = gosmtp.EnhancedCode{5, 7, 1}  // RFC 3463 §3.8: delivery not authorized
	es578BadCredentials   = gosmtp.EnhancedCode{5, 7, 8}  // RFC 4954 §6
	es5711EncryptRequired = gosmtp.EnhancedCode{5, 7, 11} // RFC 4954 §6
	es5710EncryptNeeded   = gosmtp.EnhancedCode{5, 7, 10} // RFC 5248: encryption needed
	es471NotAuthorized    = gosmtp.EnhancedCode{4, 7, 1}  // RFC 3463 §3.8, temporary
)

// Replies this package sends. Every error a session method returns to
// go-smtp is one of these (or replyAccepted), never a wrapped or plain error:
// go-smtp echoes a plain error's text to the peer.
var (
	// RFC 5321 §3.6.2 / §7.1: no relaying for unauthenticated clients.
	replyRelayDenied = &gosmtp.SMTPError{Code: c554TransactionFailed, EnhancedCode: es571NotAuthorized,
		Message: "Relay access denied"}
	replyUnknownRecipient = &gosmtp.SMTPError{Code: c550MailboxUnavailable, EnhancedCode: es511BadMailbox,
		Message: "No such user here"}
	replyOutboundDisabled = &gosmtp.SMTPError{Code: c550MailboxUnavailable, EnhancedCode: es571NotAuthorized,
		Message: "Outbound delivery is not enabled on this server; only local recipients are accepted"}
	replyForwardingDisabled = &gosmtp.SMTPError{Code: c550MailboxUnavailable, EnhancedCode: es571NotAuthorized,
		Message: "This address forwards to external recipients, which is not enabled on this server"}
	replyRateLimited = &gosmtp.SMTPError{Code: c450MailboxUnavailable, EnhancedCode: es471NotAuthorized,
		Message: "Sender rate limit reached, try again later"}
	// RFC 7489 §6.6.4 (a 5xx during the SMTP transaction).
	replyDMARCReject = &gosmtp.SMTPError{Code: c550MailboxUnavailable, EnhancedCode: es571NotAuthorized,
		Message: "Message rejected by the DMARC policy of the sender's domain"}
	// RFC 8689 §4.1: REQUIRETLS belongs to a TLS session only.
	replyRequireTLSPlain = &gosmtp.SMTPError{Code: c530AccessDenied, EnhancedCode: es5710EncryptNeeded,
		Message: "REQUIRETLS needs a TLS session: issue STARTTLS first"}
	replySenderNotAllowed = &gosmtp.SMTPError{Code: c553MailboxNameInvalid, EnhancedCode: es571NotAuthorized,
		Message: "Sender address not owned by the authenticated user"}
	replyNullSenderNotAllowed = &gosmtp.SMTPError{Code: c553MailboxNameInvalid, EnhancedCode: es571NotAuthorized,
		Message: "The null sender is not allowed on submission"}
	// RFC 3207 §4.
	replyStartTLSFirst = &gosmtp.SMTPError{Code: c530AccessDenied, EnhancedCode: es570SecurityOther,
		Message: "Must issue a STARTTLS command first"}
	// RFC 4954 §6.
	replyAuthRequired = &gosmtp.SMTPError{Code: c530AccessDenied, EnhancedCode: es570SecurityOther,
		Message: "Authentication required"}
	// RFC 4954 §4 and §6.
	replyEncryptionRequired = &gosmtp.SMTPError{Code: c538EncryptionRequired, EnhancedCode: es5711EncryptRequired,
		Message: "Encryption required for requested authentication mechanism"}
	replyAuthNotAvailable = &gosmtp.SMTPError{Code: c502NotImplemented, EnhancedCode: es551InvalidCommand,
		Message: "AUTH is not available on this port"}
	// RFC 4954 §4.
	replyAuthMechanism = &gosmtp.SMTPError{Code: c504ParamNotImpl, EnhancedCode: es554InvalidParams,
		Message: "Unrecognized authentication type"}
	// RFC 4954 §4: a malformed client response is rejected with 501.
	replyAuthMalformed = &gosmtp.SMTPError{Code: c501SyntaxArgs, EnhancedCode: es552SyntaxError,
		Message: "Malformed authentication response"}
	// RFC 4954 §6.
	replyAuthInvalid = &gosmtp.SMTPError{Code: c535AuthInvalid, EnhancedCode: es578BadCredentials,
		Message: "Authentication credentials invalid"}
	replyAuthThrottled = &gosmtp.SMTPError{Code: c454TempAuthFailure, EnhancedCode: es470SecurityTemp,
		Message: "Too many failed authentication attempts, try again later"}
	replyAuthTempFailure = &gosmtp.SMTPError{Code: c454TempAuthFailure, EnhancedCode: es470SecurityTemp,
		Message: "Temporary authentication failure"}
	// RFC 5321 §4.1.4: MAIL must not be sent inside a transaction.
	replyNestedMail = &gosmtp.SMTPError{Code: c503BadSequence, EnhancedCode: es551InvalidCommand,
		Message: "Nested MAIL command"}
	replyNeedMail = &gosmtp.SMTPError{Code: c503BadSequence, EnhancedCode: es551InvalidCommand,
		Message: "Need MAIL command first"}
	replyBadSenderSyntax = &gosmtp.SMTPError{Code: c501SyntaxArgs, EnhancedCode: es517BadSenderSyntax,
		Message: "Bad sender address syntax"}
	replyBadRecipientSyntax = &gosmtp.SMTPError{Code: c501SyntaxArgs, EnhancedCode: es513BadRcptSyntax,
		Message: "Bad recipient address syntax"}
	// RFC 6531 §3.5.
	replyNonASCIIAddress = &gosmtp.SMTPError{Code: c553MailboxNameInvalid, EnhancedCode: es567NonASCIIAddress,
		Message: "Non-ASCII address requires the SMTPUTF8 parameter"}
	replyQuotaTemporary = &gosmtp.SMTPError{Code: c452InsufficientSpace, EnhancedCode: es422MailboxFull,
		Message: "Mailbox full, try again later"}
	replyQuotaPermanent = &gosmtp.SMTPError{Code: c552ExceededStorage, EnhancedCode: es522MailboxFull,
		Message: "Mailbox full"}
	// RFC 1870 §6.1, RFC 3463 X.3.4.
	replyMessageTooBig = &gosmtp.SMTPError{Code: c552ExceededStorage, EnhancedCode: es534MessageTooBig,
		Message: "Message size exceeds fixed maximum message size"}
	// RFC 5321 §4.5.3.1.6 and §4.5.3.1.9.
	replyLineTooLong = &gosmtp.SMTPError{Code: c500LineTooLong, EnhancedCode: es552SyntaxError,
		Message: "Line too long"}
	// A line beyond go-smtp's transport limit: its reader cannot resume,
	// so the connection is closed after this reply.
	replyLineTooLongClosing = &gosmtp.SMTPError{Code: c500LineTooLong, EnhancedCode: es552SyntaxError,
		Message: "Line too long, closing connection"}
	// RFC 5321 §2.3.8 and §4.1.1.4: CR and LF only as the CRLF pair. A message
	// with bare CR or LF is refused (SMTP smuggling, CVE-2023-51764 family).
	replyBareLineEnding = &gosmtp.SMTPError{Code: c554TransactionFailed, EnhancedCode: es560MediaOther,
		Message: "Message contains a bare CR or LF; lines must end with CRLF"}
	// RFC 5321 §4.5.3.2.7; the connection is closed after this reply.
	replyDataTimeout = &gosmtp.SMTPError{Code: c421ServiceClosing, EnhancedCode: es442BadConnection,
		Message: "Timeout waiting for message data, closing connection"}
	// RFC 5321 §4.2.3; every failure that is not understood is temporary.
	replyLocalError = &gosmtp.SMTPError{Code: c451LocalError, EnhancedCode: es430SystemOther,
		Message: "Local error in processing, try again later"}
)

// replyAccepted is the final reply to DATA/BDAT once the message is durably
// stored. It is returned from Data as an *SMTPError with a 2xx code because
// that is the only way go-smtp lets a backend choose the text of its success
// reply (conn.go dataErrorToStatus); the default text, "OK: queued", would
// hide the message id.
func replyAccepted(id string) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: c250Completed, EnhancedCode: es200Success,
		Message: "Message accepted, id " + id}
}
