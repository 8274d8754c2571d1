package mail

import (
	"net/netip"
	"strings"
	"time"
)

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
