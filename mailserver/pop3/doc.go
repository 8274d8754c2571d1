// Package pop3 is a POP3 protocol server: RFC 1939 (the base protocol),
// RFC 2449 (CAPA, response codes, PIPELINING), RFC 2595 (STLS), RFC 3206
// (the SYS and AUTH response codes) and RFC 5034 (SASL AUTH, mechanism PLAIN
// per RFC 4616).
//
// The package knows nothing about where mail is stored or how passwords are
// checked: a [Backend] authenticates a user and hands back a [Maildrop], and
// the server drives the protocol around it.
//
// # Session state machine (RFC 1939 §3)
//
//	    greeting
//	       │
//	       ▼
//	AUTHORIZATION ── CAPA, STLS (plain listener, once), USER → PASS, AUTH, QUIT
//	       │  Backend.Login succeeds, the maildrop lock (by Maildrop.Name)
//	       │  is taken and Maildrop.List snapshots the messages
//	       ▼
//	 TRANSACTION ── STAT, LIST, RETR, DELE, NOOP, RSET, TOP, UIDL, CAPA
//	       │  QUIT
//	       ▼
//	    UPDATE ── Maildrop.Commit(UIDs marked deleted), "+OK", close
//
// A session that ends any other way (the client disconnects, the idle timer
// expires, too many bad commands, server shutdown, a panic) never enters
// UPDATE and deletes nothing (RFC 1939 §6); the maildrop is closed and its
// lock released in every case.
//
// # Security
//
// On a plain listener USER, PASS and AUTH are refused with
// "-ERR [AUTH] ..." until STLS completes (RFC 2595 §2.3, §4), unless
// [Options.AllowInsecureAuth] is set; CAPA only advertises USER and SASL
// when they can be used. Bytes a client pipelined after STLS are discarded
// before the TLS handshake, so nothing sent in clear text is executed inside
// the TLS session (the CVE-2011-0411 class of STARTTLS command injection).
// Command lines are limited to 255 octets (RFC 2449 §4) and longer lines
// are discarded without being buffered. Passwords, SASL responses and
// message data are never logged. Backend error text never reaches the
// client: errors are mapped once to an RFC 2449/3206 response code.
package pop3
