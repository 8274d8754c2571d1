package smtp

import (
	"crypto/tls"
	"net/netip"
	"strings"
	"time"
)

// receivedDateLayout is an RFC 5322 §3.3 date-time.
const receivedDateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

// receivedInfo is what goes into the trace header.
type receivedInfo struct {
	HELO     string
	RemoteIP netip.Addr
	Hostname string
	TLS      *tls.ConnectionState // nil without TLS
	Auth     bool
	UTF8     bool
	ID       string
	// Rcpt is named in the "for" clause only when the message has exactly
	// one recipient, so a copy never reveals the other (Bcc) recipients.
	Rcpt string
	At   time.Time
}

// header renders the Received header (RFC 5321 §4.4), folded, ending in
// CRLF:
//
//	Received: from client.example ([192.0.2.1])
//		(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256)
//		by mx.example.com with ESMTPS id 5QXK3M7ZJ2B4F6HA
//		for <alice@example.com>; Fri, 02 Jan 2026 03:04:05 +0000
//
// Without a single recipient the date follows the "by" line after ";".
//
// The client's HELO name is used only when it is a syntactically valid
// domain or address literal; otherwise the address literal takes its place
// and the name is quoted, sanitized, in a comment.
func (ri receivedInfo) header() []byte {
	var b strings.Builder
	b.WriteString("Received: from ")
	literal := ""
	if ri.RemoteIP.IsValid() {
		literal = addressLiteral(ri.RemoteIP)
	}
	validHELO := validDomain(ri.HELO, ri.UTF8) || validAddressLiteral(ri.HELO)
	switch {
	case validHELO:
		b.WriteString(ri.HELO)
	case literal != "":
		b.WriteString(literal)
	default:
		b.WriteString("unknown")
	}
	if literal != "" {
		b.WriteString(" (" + literal + ")")
	}
	if !validHELO && ri.HELO != "" {
		b.WriteString("\r\n\t(HELO " + commentSafe(ri.HELO) + ")")
	}
	if ri.TLS != nil {
		b.WriteString("\r\n\t(using " + tlsVersionName(ri.TLS.Version) +
			" with cipher " + tls.CipherSuiteName(ri.TLS.CipherSuite) + ")")
	}
	b.WriteString("\r\n\tby " + ri.Hostname + " with " + ri.protocol() + " id " + ri.ID)
	if ri.Rcpt != "" {
		b.WriteString("\r\n\tfor <" + formatMailbox(ri.Rcpt) + ">; ")
	} else {
		b.WriteString(";\r\n\t")
	}
	b.WriteString(ri.At.Format(receivedDateLayout) + "\r\n")
	return []byte(b.String())
}

// protocol is the "with" protocol type: RFC 3848 (ESMTP, ESMTPS, ESMTPA,
// ESMTPSA) and RFC 6531 §3.7.3 (UTF8SMTP...). HELO sessions cannot be told
// apart from EHLO ones through go-smtp, so ESMTP is always assumed.
func (ri receivedInfo) protocol() string {
	p := "ESMTP"
	if ri.UTF8 {
		p = "UTF8SMTP"
	}
	if ri.TLS != nil {
		p += "S"
	}
	if ri.Auth {
		p += "A"
	}
	return p
}

// commentSafe makes s safe inside an RFC 5322 comment: printable ASCII
// other than parentheses and backslash, at most 64 octets.
func commentSafe(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	out := []byte(s)
	for i, c := range out {
		if c < 0x21 || c > 0x7e || c == '(' || c == ')' || c == '\\' {
			out[i] = '?'
		}
	}
	return string(out)
}

// tlsVersionName names a TLS version the way Postfix's Received headers do
// ("TLSv1.3"), which log and header parsers expect.
func tlsVersionName(v uint16) string {
	return strings.Replace(tls.VersionName(v), "TLS 1", "TLSv1", 1)
}
