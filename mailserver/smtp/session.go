package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/kubemail/kubemail/mailserver/mail"
)

// Timeouts of calls into the Directory, Authenticator and Deliverer.
const (
	lookupTimeout  = 30 * time.Second
	authTimeout    = 30 * time.Second
	deliverTimeout = 2 * time.Minute
	checkTimeout   = time.Minute
)

// session is one go-smtp session: from EHLO to the end of the connection
// or to STARTTLS (after which go-smtp starts a new one).
type session struct {
	srv  *Server
	conn *gosmtp.Conn
	tc   *trackedConn
	log  *slog.Logger
	ip   netip.Addr
	// tls is the connection's TLS state, fixed for the session's life.
	tls *tls.ConnectionState

	// mu guards the fields below: with BDAT, go-smtp runs Data in its own
	// goroutine while RSET may call Reset.
	mu      sync.Mutex
	helo    string // EHLO/HELO name
	account string // authenticated account, "" before AUTH
	inTx    bool   // MAIL accepted, transaction open
	from    string
	utf8    bool
	size    int64 // SIZE declared with MAIL, 0 if none
	dsn     mailDSN
	relayed bool // a remote recipient was accepted from a RelayAllowed client
	rcpts   []mail.Recipient
}

// mailDSN is the transaction's MAIL parameters for the queue.
type mailDSN struct {
	envID      string
	ret        string
	requireTLS bool
}

var _ gosmtp.AuthSession = (*session)(nil)

// reraisedPanic marks a panic that a session method already logged and
// counted; it is re-raised so that go-smtp answers 421 and closes the
// connection, and errorLog does not count it twice.
type reraisedPanic struct{ value any }

// String implements fmt.Stringer for go-smtp's log line.
func (p reraisedPanic) String() string { return fmt.Sprint(p.value) }

// recoverPanic is deferred by every method go-smtp calls while serving a
// command. It must be called directly by defer.
func (s *session) recoverPanic(command string) {
	v := recover()
	if v == nil {
		return
	}
	if _, ok := v.(reraisedPanic); !ok {
		s.srv.obs.Panicked(s.srv.opts.Mode)
		s.log.Error("Panic in SMTP session", "command", command, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		v = reraisedPanic{v}
	}
	panic(v)
}

// boundary is the last step of every method go-smtp calls: the peer sees a
// *gosmtp.SMTPError from codes.go and nothing else, since go-smtp echoes the
// text of any other error.
func (s *session) boundary(err error) error {
	if err == nil {
		return nil
	}
	if reply, ok := err.(*gosmtp.SMTPError); ok {
		return reply
	}
	s.srv.obs.MessageRejected(s.srv.opts.Mode, ReasonInternal)
	s.log.Error("Unmapped error reached the SMTP reply boundary", "err", err)
	return replyLocalError
}

// refuse reports a policy refusal and returns its reply.
func (s *session) refuse(reason Reason, reply *gosmtp.SMTPError, msg string, attrs ...any) error {
	s.srv.obs.MessageRejected(s.srv.opts.Mode, reason)
	s.log.Info(msg, append(attrs, "reply", fmt.Sprintf("%d %d.%d.%d", reply.Code,
		reply.EnhancedCode[0], reply.EnhancedCode[1], reply.EnhancedCode[2]))...)
	return reply
}

// fail logs an internal error and returns the temporary failure reply; the
// error's text stays in the log.
func (s *session) fail(action string, err error) error {
	s.srv.obs.MessageRejected(s.srv.opts.Mode, ReasonInternal)
	s.log.Error("SMTP "+action+" failed", "err", err)
	return replyLocalError
}

// quotaReply maps a quota check or delivery error.
func (s *session) quotaReply(action string, err error) error {
	var qe *mail.OverQuotaError
	if !errors.As(err, &qe) {
		return s.fail(action, err)
	}
	reply := replyQuotaTemporary
	if qe.Permanent {
		reply = replyQuotaPermanent
	}
	return s.refuse(ReasonOverQuota, reply, "Account over quota", "account", qe.Account, "permanent", qe.Permanent)
}

// Mail implements gosmtp.Session.
func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	defer s.recoverPanic("MAIL")
	return s.boundary(s.mail(from, opts))
}

func (s *session) mail(from string, opts *gosmtp.MailOptions) error {
	s.mu.Lock()
	inTx, account := s.inTx, s.account
	s.mu.Unlock()
	if inTx {
		return s.refuse(ReasonProtocol, replyNestedMail, "Nested MAIL refused")
	}
	mode := s.srv.opts.Mode
	if mode != ModeMX {
		if s.tls == nil {
			return s.refuse(ReasonTLSRequired, replyStartTLSFirst, "MAIL before STARTTLS refused")
		}
		if account == "" {
			return s.refuse(ReasonAuthRequired, replyAuthRequired, "MAIL before AUTH refused")
		}
	}
	utf8 := opts != nil && opts.UTF8
	if from != "" {
		if err := checkAddress(from, utf8); err != nil {
			if errors.Is(err, errNonASCIIAddress) {
				return s.refuse(ReasonBadAddress, replyNonASCIIAddress, "Non-ASCII sender without SMTPUTF8 refused")
			}
			return s.refuse(ReasonBadAddress, replyBadSenderSyntax, "Malformed sender refused", "from", from)
		}
	}
	if mode != ModeMX {
		if from == "" {
			return s.refuse(ReasonSenderNotAllowed, replyNullSenderNotAllowed, "Null sender on submission refused",
				"account", account)
		}
		if !s.srv.dir.SenderAllowed(account, from) {
			return s.refuse(ReasonSenderNotAllowed, replySenderNotAllowed, "Sender not allowed for account",
				"account", account, "from", from)
		}
	}
	var size int64
	var dsn mailDSN
	if opts != nil {
		size = opts.Size
		dsn = mailDSN{envID: opts.EnvelopeID, ret: string(opts.Return), requireTLS: opts.RequireTLS}
	}
	if dsn.requireTLS && s.tls == nil {
		return s.refuse(ReasonTLSRequired, replyRequireTLSPlain, "REQUIRETLS without TLS refused")
	}
	s.mu.Lock()
	s.inTx, s.from, s.utf8, s.size, s.dsn, s.relayed, s.rcpts = true, from, utf8, size, dsn, false, nil
	s.mu.Unlock()
	return nil
}

// Rcpt implements gosmtp.Session. go-smtp has already enforced the
// recipient limit (452 4.5.3, RFC 5321 §4.5.3.1.10).
func (s *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	defer s.recoverPanic("RCPT")
	return s.boundary(s.rcpt(to, opts))
}

func (s *session) rcpt(to string, opts *gosmtp.RcptOptions) error {
	s.mu.Lock()
	inTx, utf8, size, account, from := s.inTx, s.utf8, s.size, s.account, s.from
	s.mu.Unlock()
	mode := s.srv.opts.Mode
	if !inTx {
		return s.refuse(ReasonProtocol, replyNeedMail, "RCPT without MAIL refused")
	}
	if mode != ModeMX && account == "" {
		return s.refuse(ReasonAuthRequired, replyAuthRequired, "RCPT before AUTH refused")
	}
	if err := checkAddress(to, utf8); err != nil {
		if errors.Is(err, errNonASCIIAddress) {
			return s.refuse(ReasonBadAddress, replyNonASCIIAddress, "Non-ASCII recipient without SMTPUTF8 refused")
		}
		return s.refuse(ReasonBadAddress, replyBadRecipientSyntax, "Malformed recipient refused", "rcpt", to)
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, lookupTimeout)
	defer cancel()
	r, err := s.srv.dir.Resolve(ctx, to)
	switch {
	case errors.Is(err, mail.ErrUnknownRecipient):
		return s.refuse(ReasonUnknownRecipient, replyUnknownRecipient, "Unknown recipient refused", "rcpt", to)
	case err != nil:
		return s.fail("recipient lookup", fmt.Errorf("resolving %s: %w", to, err))
	}
	relay := s.srv.relay
	// The open-relay rules: see Relayer. RFC 5321 §3.6.2 and §7.1.
	switch {
	case !r.Local && mode == ModeMX && (relay == nil || !relay.RelayAllowed(s.ip)):
		return s.refuse(ReasonRelayDenied, replyRelayDenied, "Relay attempt refused", "rcpt", to)
	case !r.Local && relay == nil:
		return s.refuse(ReasonOutboundDisabled, replyOutboundDisabled, "Non-local recipient refused: outbound delivery is not enabled",
			"rcpt", to, "account", account)
	case !r.Local:
		sender := account
		if sender == "" {
			sender = from
		}
		if err := relay.AllowRelay(ctx, sender); errors.Is(err, mail.ErrRateLimited) {
			return s.refuse(ReasonRateLimited, replyRateLimited, "Relay refused: sender rate limit reached",
				"rcpt", to, "sender", sender)
		} else if err != nil {
			return s.fail("relay check", fmt.Errorf("checking the relay limit of %s: %w", sender, err))
		}
	case len(r.External) > 0 && relay == nil:
		return s.refuse(ReasonForwardingDisabled, replyForwardingDisabled, "Recipient with external targets refused",
			"rcpt", to, "external", len(r.External))
	case len(r.Accounts) == 0 && len(r.External) == 0:
		return s.refuse(ReasonUnknownRecipient, replyUnknownRecipient, "Recipient without accounts refused", "rcpt", to)
	}
	if !r.Local {
		r.Accounts, r.External = nil, nil
	}
	if s.srv.quota != nil {
		for _, a := range r.Accounts {
			if err := s.srv.quota.CheckQuota(ctx, a, size); err != nil {
				return s.quotaReply("quota check", fmt.Errorf("checking quota of %s: %w", a, err))
			}
		}
	}
	r.Address = to
	if opts != nil {
		for _, n := range opts.Notify {
			r.Notify = append(r.Notify, string(n))
		}
		if opts.OriginalRecipient != "" {
			r.ORCPT = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
		}
	}
	s.mu.Lock()
	s.rcpts = append(s.rcpts, r)
	if !r.Local && mode == ModeMX {
		s.relayed = true
	}
	s.mu.Unlock()
	return nil
}

// Reset implements gosmtp.Session: RSET, a repeated EHLO, or the end of a
// message.
func (s *session) Reset() {
	defer s.recoverPanic("RSET")
	// go-smtp calls Reset on its command goroutine, also after a repeated
	// EHLO has set a new name, so the name is refreshed here rather than
	// read from the Data goroutine.
	helo := s.conn.Hostname()
	s.mu.Lock()
	s.helo = helo
	s.inTx, s.from, s.utf8, s.size, s.dsn, s.relayed, s.rcpts = false, "", false, 0, mailDSN{}, false, nil
	s.mu.Unlock()
}

// Logout implements gosmtp.Session. go-smtp calls it from Conn.Close, also
// outside its own panic recovery, so a panic here is recovered for good.
func (s *session) Logout() error {
	defer func() {
		if v := recover(); v != nil {
			s.srv.obs.Panicked(s.srv.opts.Mode)
			s.log.Error("Panic in SMTP session logout", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	s.log.Debug("SMTP session ended")
	return nil
}

// AuthMechanisms implements gosmtp.AuthSession: AUTH is advertised only on
// submission and only under TLS.
func (s *session) AuthMechanisms() []string {
	if s.srv.opts.Mode == ModeMX || s.tls == nil {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth implements gosmtp.AuthSession.
func (s *session) Auth(mech string) (sasl.Server, error) {
	defer s.recoverPanic("AUTH")
	server, err := s.startAuth(mech)
	if err != nil {
		return nil, s.boundary(err)
	}
	return authExchange{s: s, inner: server}, nil
}

func (s *session) startAuth(mech string) (sasl.Server, error) {
	if s.srv.opts.Mode == ModeMX {
		return nil, s.authRefused(ReasonProtocol, replyAuthNotAvailable, "AUTH on MX refused")
	}
	if s.tls == nil {
		return nil, s.authRefused(ReasonTLSRequired, replyEncryptionRequired, "AUTH before STARTTLS refused")
	}
	// No transaction can be open here: MAIL needs AUTH on submission, and
	// go-smtp refuses a second AUTH ("503 5.5.1 Already authenticated").
	mech = strings.ToUpper(mech)
	check := func(authzid, username, password string) error {
		return s.checkCredentials(mech, authzid, username, password)
	}
	switch mech {
	case sasl.Plain:
		return &plainServer{check: check}, nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	default:
		return nil, s.authRefused(ReasonMalformed, replyAuthMechanism, "Unknown AUTH mechanism refused", "mechanism", mech)
	}
}

func (s *session) authRefused(reason Reason, reply *gosmtp.SMTPError, msg string, attrs ...any) error {
	s.srv.obs.AuthFailed(s.srv.opts.Mode, reason)
	s.log.Info(msg, attrs...)
	return reply
}

// checkCredentials is the credentialsFunc of both mechanisms. The password
// is never logged.
func (s *session) checkCredentials(mech, authzid, username, password string) error {
	if authzid != "" && authzid != username {
		s.srv.obs.AuthFailed(s.srv.opts.Mode, ReasonInvalidCredentials)
		s.log.Warn("SMTP AUTH refused: authorization identity differs from user", "user", username)
		return replyAuthInvalid
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, authTimeout)
	defer cancel()
	account, err := s.srv.auth.Authenticate(ctx, s.ip, username, password)
	switch {
	case err == nil && account != "":
		s.mu.Lock()
		s.account = account
		s.mu.Unlock()
		s.log.Info("SMTP AUTH succeeded", "mechanism", mech, "user", username, "account", account)
		return nil
	case err == nil:
		s.srv.obs.AuthFailed(s.srv.opts.Mode, ReasonInternal)
		s.log.Error("Authenticator accepted credentials without naming an account", "user", username)
		return replyAuthTempFailure
	case errors.Is(err, mail.ErrThrottled):
		s.srv.obs.AuthFailed(s.srv.opts.Mode, ReasonThrottled)
		s.log.Warn("SMTP AUTH throttled", "user", username)
		return replyAuthThrottled
	case errors.Is(err, mail.ErrInvalidCredentials):
		s.srv.obs.AuthFailed(s.srv.opts.Mode, ReasonInvalidCredentials)
		s.log.Warn("SMTP AUTH failed", "mechanism", mech, "user", username)
		return replyAuthInvalid
	default:
		s.srv.obs.AuthFailed(s.srv.opts.Mode, ReasonInternal)
		s.log.Error("SMTP AUTH failed with an internal error", "user", username, "err", err)
		return replyAuthTempFailure
	}
}

// authExchange wraps a mechanism: every error it returns passes the reply
// boundary, and malformed responses are counted.
type authExchange struct {
	s     *session
	inner sasl.Server
}

// Next implements sasl.Server.
func (a authExchange) Next(response []byte) (challenge []byte, done bool, err error) {
	defer a.s.recoverPanic("AUTH")
	challenge, done, err = a.inner.Next(response)
	if err == replyAuthMalformed {
		a.s.srv.obs.AuthFailed(a.s.srv.opts.Mode, ReasonMalformed)
		a.s.log.Info("Malformed AUTH response refused")
	}
	return challenge, done, a.s.boundary(err)
}
