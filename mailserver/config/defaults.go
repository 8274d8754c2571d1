package config

import (
	"time"

	"github.com/kubemail/kubemail/mailserver/auth"
)

// Production defaults of [Limits], applied to absent (zero) values.
const (
	DefaultMaxMessageBytes           = 25 << 20 // 25 MiB
	DefaultMaxRecipients             = 100      // RFC 5321 §4.5.3.1.8
	DefaultMaxLineLength             = 8192
	DefaultCommandTimeout            = 5 * time.Minute  // RFC 5321 §4.5.3.2.7
	DefaultIdleTimeout               = 10 * time.Minute // RFC 1939 §3
	DefaultIMAPIdleTimeout           = 30 * time.Minute // RFC 9051 §5.4
	DefaultMaxConnections            = 2000
	DefaultMaxConnectionsPerIP       = 50
	DefaultAuthFailureDelay          = auth.DefaultBaseDelay
	DefaultAuthFailureMaxDelay       = auth.DefaultMaxDelay
	DefaultMaxIMAPConnectionsPerUser = 20
	DefaultMaxPOP3ConnectionsPerUser = 3
)

// Protocol minimums enforced by validation.
const (
	// MinIMAPIdleTimeout is RFC 9051 §5.4's minimum autologout timer.
	MinIMAPIdleTimeout = 30 * time.Minute
	// MinLineLength is RFC 5321 §4.5.3.1.6's text line length (with CRLF).
	MinLineLength = 1000
)

// applyDefaults fills absent values. Invalid durations are left alone for
// validation to report.
func applyDefaults(c *Config) {
	if c.Storage.Driver == "" {
		c.Storage.Driver = DriverSQLite
	}
	l := &c.Limits
	defInt64(&l.MaxMessageBytes, DefaultMaxMessageBytes)
	defInt(&l.MaxRecipients, DefaultMaxRecipients)
	defInt(&l.MaxLineLength, DefaultMaxLineLength)
	defDur(&l.CommandTimeout, DefaultCommandTimeout)
	defDur(&l.IdleTimeout, DefaultIdleTimeout)
	defDur(&l.IMAPIdleTimeout, DefaultIMAPIdleTimeout)
	defInt(&l.MaxConnections, DefaultMaxConnections)
	defInt(&l.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP)
	defDur(&l.AuthFailureDelay, DefaultAuthFailureDelay)
	defDur(&l.AuthFailureMaxDelay, DefaultAuthFailureMaxDelay)
	defInt(&l.MaxIMAPConnectionsPerUser, DefaultMaxIMAPConnectionsPerUser)
	defInt(&l.MaxPOP3ConnectionsPerUser, DefaultMaxPOP3ConnectionsPerUser)
}

func defInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func defInt64(p *int64, v int64) {
	if *p == 0 {
		*p = v
	}
}

func defDur(p *Duration, v time.Duration) {
	if p.Duration == 0 && p.invalid == "" {
		p.Duration = v
	}
}
