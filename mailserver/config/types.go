package config

import "net/netip"

// APIVersion and Kind identify a server configuration document.
const (
	APIVersion = "server.kubemail.io/v1alpha1"
	Kind       = "ServerConfig"
)

// Config is the whole server configuration. Build one with [Parse], [Load]
// or [New]: they apply defaults, normalise names and addresses, validate,
// and compile the look-up tables used by [Config.Resolve] and friends. A
// Config built that way is read-only; share it freely between goroutines.
type Config struct {
	// APIVersion must be APIVersion.
	APIVersion string `json:"apiVersion"`
	// Kind must be Kind.
	Kind string `json:"kind"`
	// Hostname is the server's own name: SMTP greeting and EHLO, Received
	// headers, the self-signed certificate. Required.
	Hostname string `json:"hostname"`
	// Listeners says which protocols listen where.
	Listeners Listeners `json:"listeners"`
	// ProxyProtocol lists the peers whose PROXY protocol headers are honoured.
	ProxyProtocol ProxyProtocol `json:"proxyProtocol"`
	// TLS names the certificate files; empty means a self-signed certificate.
	TLS TLS `json:"tls"`
	// Storage is where mail is kept. Required.
	Storage Storage `json:"storage"`
	// Limits bounds resource use; absent values take production defaults.
	Limits Limits `json:"limits"`
	// Domains are the mail domains served locally.
	Domains []Domain `json:"domains,omitempty"`
	// Mailboxes are the accounts.
	Mailboxes []Mailbox `json:"mailboxes,omitempty"`
	// Aliases are addresses that deliver to other addresses.
	Aliases []Alias `json:"aliases,omitempty"`
	// Outbound configures delivery to other servers (outbound.go).
	Outbound Outbound `json:"outbound,omitzero"`
	// Relay routes outbound mail and says who may relay (outbound.go).
	Relay Relay `json:"relay,omitzero"`

	idx  *index // compiled look-up tables; nil unless built by New/Parse/Load
	hash string // content hash, set with idx
	// canonical is the encoding hash was computed from, kept by New and
	// Build (the operator's path, which Splits it next) and not by the
	// server's Parse, Load and Join.
	canonical []byte
}

// Listeners holds one [Listener] per protocol. A listener with no address
// is disabled.
type Listeners struct {
	// SMTP is inbound mail from other servers (MX, port 25 in production).
	SMTP Listener `json:"smtp"`
	// Submission is mail from users' clients with STARTTLS (port 587, RFC 6409).
	Submission Listener `json:"submission"`
	// Submissions is submission over implicit TLS (port 465, RFC 8314).
	Submissions Listener `json:"submissions"`
	// IMAP is IMAP with STARTTLS (port 143).
	IMAP Listener `json:"imap"`
	// IMAPS is IMAP over implicit TLS (port 993).
	IMAPS Listener `json:"imaps"`
	// POP3 is POP3 with STLS (port 110).
	POP3 Listener `json:"pop3"`
	// POP3S is POP3 over implicit TLS (port 995).
	POP3S Listener `json:"pop3s"`
	// Ops serves health checks and metrics over HTTP.
	Ops Listener `json:"ops"`
	// Admin serves the outbound queue's admin API over HTTP (kubemail
	// queue); it has no authentication, so it must be a loopback address.
	// Disabled by default.
	Admin Listener `json:"admin,omitzero"`
}

// Listener is one listening socket.
type Listener struct {
	// Address is host:port, e.g. "127.0.0.1:2525" or ":25" (every address);
	// port 0 picks a free port (for tests). Empty disables the listener.
	Address string `json:"address,omitempty"`
	// ProxyProtocol expects a PROXY protocol (v1 or v2) header on each
	// connection, honoured only from ProxyProtocol.TrustedCIDRs.
	ProxyProtocol bool `json:"proxyProtocol,omitempty"`
}

// Enabled reports whether the listener has an address.
func (l Listener) Enabled() bool { return l.Address != "" }

// ProxyProtocol configures which peers may send PROXY protocol headers.
type ProxyProtocol struct {
	// TrustedCIDRs are the networks (CIDR notation) whose PROXY headers are
	// honoured, typically the load balancer's. Required when any listener
	// sets proxyProtocol.
	TrustedCIDRs []string `json:"trustedCIDRs,omitempty"`
}

// TLS names the PEM certificate chain and private key files. Both empty
// means the server generates a self-signed certificate at start.
type TLS struct {
	// CertFile is the certificate chain, leaf first.
	CertFile string `json:"certFile,omitempty"`
	// KeyFile is the private key.
	KeyFile string `json:"keyFile,omitempty"`
}

// SelfSigned reports whether no certificate files are configured.
func (t TLS) SelfSigned() bool { return t.CertFile == "" && t.KeyFile == "" }

// Storage drivers.
const (
	// DriverSQLite is the embedded store (one replica).
	DriverSQLite = "sqlite"
	// DriverPostgres is reserved for the scale-out store; not supported yet.
	DriverPostgres = "postgres"
)

// Storage selects the mail store.
type Storage struct {
	// Driver is "sqlite" (the default); "postgres" is reserved.
	Driver string `json:"driver"`
	// Path is the store's directory. A relative path is relative to the
	// server process's working directory. Required.
	Path string `json:"path"`
}

// Limits bounds resource use. Zero or absent values take the defaults in
// defaults.go; negative values are invalid.
type Limits struct {
	// MaxMessageBytes is the largest message accepted (SMTP SIZE, RFC 1870).
	MaxMessageBytes int64 `json:"maxMessageBytes"`
	// MaxRecipients is the most RCPT TO per message (RFC 5321 §4.5.3.1.8: at least 100).
	MaxRecipients int `json:"maxRecipients"`
	// MaxLineLength is the longest command or message line, in bytes,
	// including CRLF (RFC 5321 §4.5.3.1.6: at least 1000).
	MaxLineLength int `json:"maxLineLength"`
	// CommandTimeout is how long the server waits for the next command or
	// data chunk (RFC 5321 §4.5.3.2.7: 5 minutes).
	CommandTimeout Duration `json:"commandTimeout"`
	// IdleTimeout closes a connection idle between commands (SMTP, POP3;
	// RFC 1939 §3: at least 10 minutes for POP3).
	IdleTimeout Duration `json:"idleTimeout"`
	// IMAPIdleTimeout is the IMAP autologout timer, which also bounds IDLE
	// (RFC 9051 §5.4: at least 30 minutes).
	IMAPIdleTimeout Duration `json:"imapIdleTimeout"`
	// MaxConnections is the most connections open at once, all protocols.
	MaxConnections int `json:"maxConnections"`
	// MaxConnectionsPerIP is the most connections from one client address.
	MaxConnectionsPerIP int `json:"maxConnectionsPerIP"`
	// AuthFailureDelay is the first delay imposed after repeated
	// authentication failures; it doubles with each further failure.
	AuthFailureDelay Duration `json:"authFailureDelay"`
	// AuthFailureMaxDelay caps AuthFailureDelay's growth.
	AuthFailureMaxDelay Duration `json:"authFailureMaxDelay"`
	// MaxIMAPConnectionsPerUser is the most IMAP sessions one account may hold.
	MaxIMAPConnectionsPerUser int `json:"maxIMAPConnectionsPerUser"`
	// MaxPOP3ConnectionsPerUser is the most POP3 sessions one account may hold.
	MaxPOP3ConnectionsPerUser int `json:"maxPOP3ConnectionsPerUser"`
}

// Domain is a mail domain served locally.
type Domain struct {
	// Name is the domain; internationalised names are stored as lower-case
	// A-labels (xn--…).
	Name string `json:"name"`
	// CatchAll receives mail for unknown local parts of this domain: one
	// address, or a list; empty means such mail is refused. Its addresses
	// may be local or external.
	CatchAll Targets `json:"catchAll,omitempty"`
	// DKIM signs outgoing mail of this domain, when set.
	DKIM *DKIM `json:"dkim,omitempty"`
	// QuotaBytes is the default quota of the domain's mailboxes; 0 is unlimited.
	QuotaBytes int64 `json:"quotaBytes,omitempty"`
}

// DKIM is a domain's signing key (RFC 6376).
type DKIM struct {
	// Selector is the DNS label under _domainkey.
	Selector string `json:"selector"`
	// KeyFile is the PEM private key.
	KeyFile string `json:"keyFile"`
}

// Mailbox is one account.
type Mailbox struct {
	// Address is the account's address and login name.
	Address string `json:"address"`
	// PasswordHash is the password hash in a format auth.Recognized accepts.
	PasswordHash string `json:"passwordHash"`
	// QuotaBytes is the storage quota; 0 means the domain's default (and
	// 0 there means unlimited).
	QuotaBytes int64 `json:"quotaBytes,omitempty"`
	// Aliases are further addresses, in local domains, delivering to this
	// account; the account may also send as them.
	Aliases []string `json:"aliases,omitempty"`
	// Suspended refuses logins. Mail is still delivered, so nothing is lost
	// while the suspension lasts.
	Suspended bool `json:"suspended,omitempty"`
	// ForwardTo redirects incoming mail to these addresses.
	ForwardTo []string `json:"forwardTo,omitempty"`
	// KeepCopy also delivers to this mailbox when ForwardTo is set.
	KeepCopy bool `json:"keepCopy,omitempty"`
}

// Alias delivers mail for one address to one or more targets.
type Alias struct {
	// Address is a full address in a local domain. Catch-alls ("@domain")
	// are configured on the domain instead.
	Address string `json:"address"`
	// Targets are local or external addresses; local ones may be aliases
	// themselves.
	Targets []string `json:"targets"`
}

// index holds the compiled look-up tables.
type index struct {
	domains   map[string]*Domain
	mailboxes map[string]*Mailbox // by address
	boxAlias  map[string]*Mailbox // by each of Mailbox.Aliases
	aliases   map[string]*Alias
	senders   map[string]map[string]bool // account → aliases it may send as
	trusted   []netip.Prefix
	out       *outboundIndex
}
