package queue

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Defaults of the session cache (Options.SessionIdleTimeout and
// Options.MaxSessionMessages).
const (
	// DefaultSessionIdleTimeout is how long an idle session waits for the
	// next message to its destination (Postfix's
	// smtp_connection_cache_time_limit is 2 s; a queue that has just
	// delivered one message for a destination usually has the next one
	// within milliseconds).
	DefaultSessionIdleTimeout = 5 * time.Second
	// DefaultMaxSessionMessages is how many transactions one session
	// carries before it is ended, so a long run of mail does not stay on
	// one server of several, nor one connection for ever.
	DefaultMaxSessionMessages = 100
)

// sessionKey is what a session was made with: its destination, the
// server, and every guarantee the connection gives. A session is only
// taken for a message whose target requires exactly these — a session
// with opportunistic TLS never carries mail that needs a verified
// certificate, nor one authenticated with other credentials.
type sessionKey struct {
	dest  string  // route key: recipient domain or smarthost
	host  string  // the server's name, as connected to and verified
	port  int     //
	tls   tlsMode // how TLS was required
	roots string  // which roots verified the certificate (rootsID)
	creds string  // the credentials AUTH used (credentialsID), "" for none
	ehlo  string  // the name given in EHLO
}

// Destination implements smtpclient.Key: sessions are bounded per route.
func (k sessionKey) Destination() string { return k.dest }

// sessionKey is the key of sessions that fulfil t for destination dest,
// greeted with ehlo and authenticated with creds.
func (t target) sessionKey(dest, ehlo, creds string) sessionKey {
	return sessionKey{dest: dest, host: t.host, port: t.port, tls: t.tls, roots: t.rootsID, creds: creds, ehlo: ehlo}
}

// credentialsID identifies credentials without keeping the password.
func credentialsID(user, pass string) string {
	sum := sha256.Sum256([]byte(user + "\x00" + pass))
	return hex.EncodeToString(sum[:])
}
