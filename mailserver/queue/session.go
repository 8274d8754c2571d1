package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/store"
)

// session is one SMTP conversation delivering a group to one address.
type session struct {
	q     *Queue
	cfg   *config.Config
	t     target
	msg   store.OutboundMessage
	body  []byte
	rcpts []store.QueuedRecipient
	plain bool // opportunistic TLS failed on this host: do not try it again
	log   *slog.Logger
}

// run delivers over one connection. next: the server could not be used
// (try the next one); retryPlain: opportunistic TLS failed, try this
// address again without it.
func (s *session) run(ctx context.Context, addr string) (statuses []rcptStatus, next, retryPlain bool) {
	n := len(s.rcpts)
	tempAll := func(r Reply, remote string) ([]rcptStatus, bool, bool) { return all(n, temp(r, remote)), true, false }
	conn, err := s.q.opts.Dial(ctx, "tcp", addr)
	if err != nil {
		return tempAll(localReply(451, "4.4.1", "connecting to %s (%s): %v", s.t.host, addr, err), "")
	}
	if s.t.tls == tlsImplicit {
		tc := tls.Client(conn, s.t.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return tempAll(localReply(451, "4.7.5", "TLS with %s: %v", s.t.host, err), "")
		}
		conn = tc
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() }) // cancel blocked I/O
	defer stop()
	c, err := newClient(conn, s.t.host)
	if err != nil {
		_ = conn.Close()
		return tempAll(failureReply(err, "greeting"), s.t.host)
	}
	defer c.close()
	if err := c.ehlo(s.q.hostname(s.cfg)); err != nil {
		return tempAll(failureReply(err, "EHLO"), s.t.host)
	}
	switch {
	case s.t.tls == tlsVerified && !c.has("STARTTLS"):
		return tempAll(localReply(451, "4.7.5", "%s does not offer STARTTLS, which is required", s.t.host), s.t.host)
	case s.t.tls == tlsVerified || (s.t.tls == tlsOpportunistic && !s.plain && c.has("STARTTLS")):
		if err := c.startTLS(ctx, s.t.tlsConfig(), s.q.hostname(s.cfg)); err != nil {
			var te *tlsError
			if errors.As(err, &te) && s.t.tls == tlsOpportunistic {
				st, _, _ := tempAll(localReply(451, "4.7.5", "TLS with %s: %v", s.t.host, err), s.t.host)
				return st, true, true
			}
			return tempAll(failureReply(err, "STARTTLS"), s.t.host)
		}
	}
	if st := s.checkServer(c); st != nil {
		return all(n, *st), true, false // another server may do
	}
	if s.t.creds != "" {
		if !c.tls {
			return tempAll(localReply(451, "4.7.0", "not sending credentials to %s without TLS", s.t.host), s.t.host)
		}
		user, pass, err := readCredentials(s.t.creds)
		if err != nil {
			return tempAll(localReply(451, "4.7.0", "reading the smarthost credentials: %v", err), "")
		}
		if err := c.auth(user, pass); err != nil {
			// A configuration problem: retried, not bounced, so fixing the
			// credentials delivers the mail.
			return tempAll(failureReply(err, "AUTH"), s.t.host)
		}
	}
	statuses = s.transaction(c)
	c.quit()
	return statuses, false, false
}

// checkServer refuses a server that cannot take this message: without
// REQUIRETLS for a REQUIRETLS message (RFC 8689 §4.2.1), without SMTPUTF8
// for an internationalised one (RFC 6531 §3.2), or with a SIZE limit the
// message exceeds (RFC 1870 §6).
func (s *session) checkServer(c *client) *rcptStatus {
	if s.msg.RequireTLS && (!c.tls || !c.has("REQUIRETLS")) {
		st := perm(localReply(550, "5.7.30", "REQUIRETLS support required, but %s does not offer it", s.t.host), s.t.host)
		return &st
	}
	if s.msg.UTF8 && !c.has("SMTPUTF8") {
		st := perm(localReply(553, "5.6.7", "%s does not support SMTPUTF8, which this message needs", s.t.host), s.t.host)
		return &st
	}
	if limit, err := strconv.ParseInt(c.ext["SIZE"], 10, 64); err == nil && limit > 0 && int64(len(s.body)) > limit {
		st := perm(localReply(552, "5.3.4", "the message is larger than the %d bytes %s accepts", limit, s.t.host), s.t.host)
		return &st
	}
	return nil
}

// transaction runs MAIL, RCPT and DATA and classifies each recipient
// (RFC 5321 §4.1.1.2–4, §3.3).
func (s *session) transaction(c *client) []rcptStatus {
	n := len(s.rcpts)
	remote := s.t.host
	dsn := c.has("DSN")
	mail := "MAIL FROM:<" + s.msg.Sender + ">"
	if c.has("SIZE") {
		mail += " SIZE=" + strconv.Itoa(len(s.body))
	}
	if c.has("8BITMIME") {
		mail += " BODY=8BITMIME"
	}
	if s.msg.UTF8 {
		mail += " SMTPUTF8"
	}
	if s.msg.RequireTLS {
		mail += " REQUIRETLS"
	}
	if dsn {
		if s.msg.Return != "" {
			mail += " RET=" + s.msg.Return
		}
		if s.msg.EnvelopeID != "" {
			mail += " ENVID=" + xtext(s.msg.EnvelopeID)
		}
	}
	r, err := c.cmd(commandTimeout, "%s", mail)
	if err != nil {
		return all(n, temp(failureReply(err, "MAIL"), remote))
	}
	if r.Code/100 != 2 {
		return all(n, classify(r, remote))
	}
	statuses := make([]rcptStatus, n)
	accepted := 0
	for i, rc := range s.rcpts {
		line := "RCPT TO:<" + rc.Address + ">"
		if dsn {
			line += notifyParam(rc.Notify)
			if typ, addr, ok := strings.Cut(rc.ORCPT, ";"); ok && isASCII(addr) {
				line += " ORCPT=" + typ + ";" + xtext(addr)
			}
		}
		r, err := c.cmd(commandTimeout, "%s", line)
		if err != nil {
			for j := i; j < n; j++ {
				statuses[j] = temp(failureReply(err, "RCPT"), remote)
			}
			return statuses
		}
		statuses[i] = classify(r, remote)
		if statuses[i].outcome == outDelivered {
			accepted++
			statuses[i].outcome = outTemporary // until the data is accepted
		}
	}
	if accepted == 0 {
		return statuses
	}
	r, err = c.data(s.body)
	for i := range statuses {
		if statuses[i].reply.Code/100 != 2 {
			continue // refused at RCPT
		}
		switch {
		case err != nil:
			statuses[i] = temp(failureReply(err, "DATA"), remote)
		default:
			statuses[i] = classify(r, remote)
			statuses[i].relayed = statuses[i].outcome == outDelivered && !dsn
		}
	}
	return statuses
}

// notifyParam renders NOTIFY (RFC 3461 §4.1), "" when none was given.
func notifyParam(n store.Notify) string {
	if n == 0 {
		return ""
	}
	if n&store.NotifyNever != 0 {
		return " NOTIFY=NEVER"
	}
	var v []string
	for _, x := range []struct {
		bit  store.Notify
		name string
	}{{store.NotifySuccess, "SUCCESS"}, {store.NotifyFailure, "FAILURE"}, {store.NotifyDelay, "DELAY"}} {
		if n&x.bit != 0 {
			v = append(v, x.name)
		}
	}
	return " NOTIFY=" + strings.Join(v, ",")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// failureReply turns a failed step into a reply: the server's own when
// it answered, else a made-up temporary one naming the step (RFC 3463
// X.4.2 "bad connection").
func failureReply(err error, step string) Reply {
	var r Reply
	if errors.As(err, &r) {
		return r
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return localReply(451, "4.4.2", "timeout during %s", step)
	}
	return localReply(451, "4.4.2", "%s failed: %v", step, err)
}

// hostname is the name this server gives in EHLO and reports.
func (q *Queue) hostname(cfg *config.Config) string {
	return cfg.Hostname
}
