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
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/smtpclient"
	"github.com/kubemail/kubemail/mailserver/store"
)

// session is one group's delivery to one server: over a new connection
// (run) or over a cached one (reuse).
type session struct {
	q     *Queue
	cfg   *config.Config
	dest  string // the route key, the destination whose cache a connection joins
	t     target
	msg   store.OutboundMessage
	body  []byte
	rcpts []store.QueuedRecipient
	plain bool // opportunistic TLS failed on this host: do not try it again
	log   *slog.Logger
}

// tryResult is how delivering over one connection went.
type tryResult struct {
	statuses   []rcptStatus
	next       bool // the server could not be used: try the next one
	retryPlain bool // opportunistic TLS failed: try this address again without it
	dialed     bool // a connection was attempted
	reached    bool // a server answered (it is not unreachable)
}

// run delivers over a new connection to addr; afterwards the connection
// joins the session cache when it can carry more mail.
func (s *session) run(ctx context.Context, addr string) tryResult {
	n := len(s.rcpts)
	fail := func(r smtpclient.Reply, remote string) tryResult {
		return tryResult{statuses: all(n, temp(r, remote)), next: true, dialed: true, reached: true}
	}
	raw, err := s.q.opts.Dial(ctx, "tcp", addr)
	if err != nil {
		res := fail(localReply(451, "4.4.1", "connecting to %s (%s): %v", s.t.host, addr, err), "")
		res.reached = false
		return res
	}
	conn := raw
	if s.t.tls == tlsImplicit {
		tc := tls.Client(raw, s.t.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return fail(localReply(451, "4.7.5", "TLS with %s: %v", s.t.host, err), "")
		}
		conn = tc
	}
	sc := &smtpclient.Session[sessionKey]{Raw: raw, Addr: addr}
	sc.Watch(ctx) // cancel blocked I/O
	c, err := smtpclient.NewClient(conn, s.t.host)
	if err != nil {
		sc.Unwatch()
		_ = raw.Close()
		res := fail(failureReply(err, "greeting"), s.t.host)
		// Refused, dropped or silent before its greeting: unreachable.
		var r smtpclient.Reply
		res.reached = errors.As(err, &r)
		return res
	}
	sc.Client = c
	if res := s.open(ctx, sc); res != nil {
		sc.Client.Close()
		sc.Unwatch()
		return *res
	}
	return tryResult{statuses: s.deliverOver(sc), dialed: true, reached: true}
}

// open readies a new connection for mail: EHLO, STARTTLS as the target
// requires, the checks of this message, AUTH. A non-nil result is the
// failure, the connection then being of no further use.
func (s *session) open(ctx context.Context, sc *smtpclient.Session[sessionKey]) *tryResult {
	n := len(s.rcpts)
	c := sc.Client
	fail := func(r smtpclient.Reply, remote string) *tryResult {
		return &tryResult{statuses: all(n, temp(r, remote)), next: true, dialed: true, reached: true}
	}
	hostname := s.q.hostname(s.cfg)
	if err := c.Hello(hostname); err != nil {
		return fail(failureReply(err, "EHLO"), s.t.host)
	}
	switch {
	case s.t.tls == tlsVerified && !c.Has("STARTTLS"):
		return fail(localReply(451, "4.7.5", "%s does not offer STARTTLS, which is required", s.t.host), s.t.host)
	case s.t.tls == tlsVerified || (s.t.tls == tlsOpportunistic && !s.plain && c.Has("STARTTLS")):
		if err := c.StartTLS(ctx, s.t.tlsConfig(), hostname); err != nil {
			var te *smtpclient.TLSError
			if errors.As(err, &te) && s.t.tls == tlsOpportunistic {
				res := fail(localReply(451, "4.7.5", "TLS with %s: %v", s.t.host, err), s.t.host)
				res.retryPlain = true
				return res
			}
			return fail(failureReply(err, "STARTTLS"), s.t.host)
		}
	}
	if st := s.checkServer(c); st != nil {
		// Another server may do.
		return &tryResult{statuses: all(n, *st), next: true, dialed: true, reached: true}
	}
	creds := ""
	if s.t.creds != "" {
		if !c.TLS() {
			return fail(localReply(451, "4.7.0", "not sending credentials to %s without TLS", s.t.host), s.t.host)
		}
		user, pass, err := readCredentials(s.t.creds)
		if err != nil {
			return fail(localReply(451, "4.7.0", "reading the smarthost credentials: %v", err), "")
		}
		if err := c.Auth(user, pass); err != nil {
			// A configuration problem: retried, not bounced, so fixing the
			// credentials delivers the mail.
			return fail(failureReply(err, "AUTH"), s.t.host)
		}
		creds = credentialsID(user, pass)
	}
	// The key records what this connection was made with, so that it is
	// only ever reused where exactly that is required.
	sc.Key = s.t.sessionKey(s.dest, hostname, creds)
	return nil
}

// reuseOutcome is what came of offering a message to a cached session.
type reuseOutcome int

const (
	reuseDone       reuseOutcome = iota // the transaction ran
	reuseGone                           // the session was dead (now closed): try another
	reuseUnsuitable                     // the server cannot take this message: the session went back to the cache
)

// reuse delivers over a cached session once RSET shows it alive (RFC 5321
// §4.1.1.5). Unless the outcome is reuseDone, nothing was sent.
func (s *session) reuse(ctx context.Context, sc *smtpclient.Session[sessionKey]) ([]rcptStatus, reuseOutcome) {
	sc.Watch(ctx)
	if err := sc.Client.Reset(); err != nil {
		s.log.Debug("Cached session is gone; connecting anew", "host", s.t.host, "address", sc.Addr, "error", err)
		sc.Client.Close()
		sc.Unwatch()
		return nil, reuseGone
	}
	if st := s.checkServer(sc.Client); st != nil {
		s.release(sc)
		return nil, reuseUnsuitable
	}
	s.log.Debug("Reusing a session", "host", s.t.host, "address", sc.Addr, "transactions", sc.Uses)
	return s.deliverOver(sc), reuseDone
}

// deliverOver runs the transaction over a ready session and releases it.
func (s *session) deliverOver(sc *smtpclient.Session[sessionKey]) []rcptStatus {
	statuses := s.transaction(sc.Client)
	sc.Uses++
	s.release(sc)
	return statuses
}

// release puts a session that can carry more mail into the cache, and
// ends any other: politely when it is in step with the server, else by
// closing the connection.
func (s *session) release(sc *smtpclient.Session[sessionKey]) {
	watched := sc.Unwatch() // false: the attempt ended, which closed the connection
	switch {
	case !watched || sc.Client.Broken():
		sc.Client.Close()
	case sc.Uses >= s.q.opts.MaxSessionMessages:
		sc.Client.Quit(smtpclient.QuitTimeout)
	default:
		p := s.cfg.OutboundPolicy()
		s.q.sessions.Put(sc, p.MaxPerDestination, p.Workers)
	}
}

// checkServer refuses a server that cannot take this message: without
// REQUIRETLS for a REQUIRETLS message (RFC 8689 §4.2.1), without SMTPUTF8
// for an internationalised one (RFC 6531 §3.2), or with a SIZE limit the
// message exceeds (RFC 1870 §6).
func (s *session) checkServer(c *smtpclient.Client) *rcptStatus {
	if s.msg.RequireTLS && (!c.TLS() || !c.Has("REQUIRETLS")) {
		st := perm(localReply(550, "5.7.30", "REQUIRETLS support required, but %s does not offer it", s.t.host), s.t.host)
		return &st
	}
	if s.msg.UTF8 && !c.Has("SMTPUTF8") {
		st := perm(localReply(553, "5.6.7", "%s does not support SMTPUTF8, which this message needs", s.t.host), s.t.host)
		return &st
	}
	if limit, err := strconv.ParseInt(c.Extension("SIZE"), 10, 64); err == nil && limit > 0 && int64(len(s.body)) > limit {
		st := perm(localReply(552, "5.3.4", "the message is larger than the %d bytes %s accepts", limit, s.t.host), s.t.host)
		return &st
	}
	return nil
}

// transaction runs MAIL, RCPT and DATA and classifies each recipient
// (RFC 5321 §4.1.1.2–4, §3.3).
func (s *session) transaction(c *smtpclient.Client) []rcptStatus {
	n := len(s.rcpts)
	remote := s.t.host
	dsn := c.Has("DSN")
	mailCmd := "MAIL FROM:<" + s.msg.Sender + ">"
	if c.Has("SIZE") {
		mailCmd += " SIZE=" + strconv.Itoa(len(s.body))
	}
	if c.Has("8BITMIME") {
		mailCmd += " BODY=8BITMIME"
	}
	if s.msg.UTF8 {
		mailCmd += " SMTPUTF8"
	}
	if s.msg.RequireTLS {
		mailCmd += " REQUIRETLS"
	}
	if dsn {
		if s.msg.Return != "" {
			mailCmd += " RET=" + s.msg.Return
		}
		if s.msg.EnvelopeID != "" {
			mailCmd += " ENVID=" + mail.XText(s.msg.EnvelopeID)
		}
	}
	r, err := c.Cmd(smtpclient.CommandTimeout, "%s", mailCmd)
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
				line += " ORCPT=" + typ + ";" + mail.XText(addr)
			}
		}
		r, err := c.Cmd(smtpclient.CommandTimeout, "%s", line)
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
	r, err = c.Data(s.body)
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
func failureReply(err error, step string) smtpclient.Reply {
	var r smtpclient.Reply
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
