// Package smtp is kubemail's SMTP server: inbound MX (port 25) and message
// submission (587 with STARTTLS, 465 with implicit TLS), built on
// github.com/emersion/go-smtp.
//
// The package does not know the store, the configuration or the password
// hashes: it asks a Directory (where does an address go, may this account
// send as that address, is the mailbox full), an Authenticator (are these
// credentials good) and a Deliverer (store this message durably), all small
// interfaces the caller implements.
//
// # Policy
//
//   - MX: no AUTH. A recipient in a local domain is accepted when it exists
//     (550 5.1.1 otherwise); any other recipient is relaying and is refused
//     with 554 5.7.1, unless the Deliverer is a Relayer that allows the
//     client's address (Relayer.RelayAllowed: networks allowed to relay
//     without AUTH).
//   - Submission: TLS first (530 5.7.0 to MAIL, 538 5.7.11 to AUTH before
//     STARTTLS), then AUTH PLAIN or LOGIN (RFC 4954), then MAIL with a
//     sender the account owns (553 5.7.1 otherwise; the null sender is
//     refused). A non-local recipient is queued when the Deliverer is a
//     Relayer, and refused at RCPT with 550 5.7.1 otherwise.
//   - A recipient that forwards to external targets is accepted when the
//     Deliverer is a Relayer, and refused (550 5.7.1) otherwise rather than
//     delivered in part.
//   - Every remote recipient is counted against the sender's relay limit
//     (Relayer.AllowRelay): 450 4.7.1 once it is reached.
//   - With a Relayer, DSN (RFC 3461: RET, ENVID, NOTIFY, ORCPT, passed on
//     in the Envelope) and REQUIRETLS (RFC 8689) are advertised;
//     REQUIRETLS outside TLS gets 530 5.7.10.
//   - On the MX listener, Options.Checker (SPF, DKIM, DMARC) checks every
//     message from a client that may not relay; its header is added after
//     the Received field, and a DMARC p=reject failure is refused with
//     550 5.7.1.
//   - Quota is checked at RCPT when the Directory implements QuotaChecker
//     (452 4.2.2 temporary, 552 5.2.2 permanent), and a quota error from the
//     Deliverer gets the same replies.
//   - The 250 reply to DATA/BDAT is sent only after Deliverer.Deliver has
//     returned, that is once the message is on stable storage; the reply
//     names the message id.
//   - Message data with a bare CR or bare LF is refused with 554 5.6.0
//     (RFC 5321 §2.3.8, SMTP smuggling), a line longer than
//     Options.MaxLineLength with 500 5.5.2, a message larger than
//     Options.MaxMessageBytes with 552 5.3.4.
//   - Every error a session method hands to go-smtp is an *smtp.SMTPError
//     from codes.go. Internal errors are logged and answered 451 4.3.0; their
//     text never reaches the peer.
//
// A Received header (RFC 5321 §4.4) is prepended to every message.
//
// # What go-smtp v0.25.1 does, and what this package changes
//
// Extensions: go-smtp always advertises PIPELINING, 8BITMIME,
// ENHANCEDSTATUSCODES, CHUNKING (BDAT) and SIZE; this package enables
// SMTPUTF8 and sets the limits (SIZE n, LIMITS RCPTMAX=n); DSN and
// REQUIRETLS only with a Relayer. BINARYMIME stays off.
//
// DATA reader: go-smtp ends the data only at CRLF "." CRLF, so "\n.\n",
// "\r.\n" and "\n.\r\n" do not end it; they reach the backend as data, where
// the line checker refuses the message. One quirk: a line that starts with
// "." CR followed by something other than LF loses both octets in go-smtp's
// reader (its dot-unstuffing), so such a bare CR cannot be seen; what is
// stored is still free of bare line endings.
//
// STARTTLS: go-smtp builds a new reader after the handshake, so commands a
// client pipelines after STARTTLS in the same packet are dropped, not
// executed under TLS (CVE-2011-0411 family). A test guards this.
//
// Replies go-smtp sends itself and this package cannot change: a command
// line longer than the transport limit (max(MaxLineLength, 12290) + 64,
// room for RFC 4954's 12288-octet AUTH lines) gets "500 5.4.0 Too long
// line, closing connection"; an AUTH response that is not base64 gets
// "454 4.7.0 Invalid base64 data" (RFC 4954 §4 would have 501); SIZE= over
// the limit gets "552 5.3.4 Max message size exceeded"; the recipient limit
// "452 4.5.3 Maximum limit of N recipients reached". A syntactically valid
// AUTH response with bad content (no NULs, oversized fields, invalid UTF-8)
// gets 501 5.5.2 from this package. A BDAT chunk refused before it is read
// (over the size limit, or without RCPT) is discarded through go-smtp's
// line-limited reader, so such a chunk with a line over the transport limit
// closes the connection. A failed BDAT chunk read (a stalled client) is
// answered by go-smtp with "554 5.0.0 Error: transaction failed: " and the
// read error's text, which names only the socket addresses.
//
// Timeouts: go-smtp's read timeout (Options.CommandTimeout) is set before
// each command and is the idle timeout (421 4.4.2). During message data this
// package extends the deadline before every read (Options.DataTimeout) so a
// large message on a slow link is not cut off by the command timeout. After
// any read timeout the connection is closed right after the reply: go-smtp
// would otherwise go on reading the rest of the client's message data as
// commands. A message line beyond the transport limit likewise gets one
// reply (500 5.5.2) and the connection is closed.
//
// Panics: go-smtp recovers panics in command handlers and answers 421. Each
// session method also recovers, logs the panic with its connection and
// counts it (Observer.Panicked), then re-raises it so go-smtp still answers
// 421 and closes the connection; panics elsewhere in go-smtp are counted
// from its error log.
package smtp
