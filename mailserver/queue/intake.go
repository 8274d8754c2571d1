package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/msgauth"
	"github.com/kubemail/kubemail/mailserver/store"
)

// IntakeOptions configure NewIntake.
type IntakeOptions struct {
	// Store holds the mailboxes and the queue. Required.
	Store store.Queue
	// Config is the served configuration. Required.
	Config *config.Holder
	// Queue is kicked when a message is queued; nil leaves it to poll.
	Queue *Queue
	// Signer signs outbound mail with the DKIM keys of the domains that
	// have one; nil signs nothing.
	Signer *msgauth.Signer
	// Limiter counts relayed recipients; nil means a new one.
	Limiter *RateLimiter
	// Clock is the time source; nil means the system's.
	Clock Clock
	// Logger receives the logs; nil discards them.
	Logger *slog.Logger
}

// Intake is the SMTP server's Deliverer when outbound delivery is on: it
// stores the local copies and queues the remote recipients of a message
// in one durable transaction (store.Queue.Submit), so the 250 reply
// follows a commit that holds both. It is also the mail.Relayer that
// says who may relay and counts rate limits.
type Intake struct {
	opts    IntakeOptions
	clock   Clock
	log     *slog.Logger
	limiter *RateLimiter
}

var (
	_ mail.Deliverer = (*Intake)(nil)
	_ mail.Relayer   = (*Intake)(nil)
)

// NewIntake returns an Intake.
func NewIntake(opts IntakeOptions) (*Intake, error) {
	if opts.Store == nil || opts.Config == nil {
		return nil, errors.New("creating the intake: Store and Config are required")
	}
	in := &Intake{opts: opts, clock: opts.Clock, log: opts.Logger, limiter: opts.Limiter}
	if in.clock == nil {
		in.clock = SystemClock()
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if in.limiter == nil {
		in.limiter = NewRateLimiter(in.clock)
	}
	return in, nil
}

// RelayAllowed implements mail.Relayer: relay.allowedNetworks.
func (in *Intake) RelayAllowed(ip netip.Addr) bool {
	return in.opts.Config.Current().RelayAllowed(ip)
}

// AllowRelay implements mail.Relayer: relay.rateLimits.
func (in *Intake) AllowRelay(_ context.Context, sender string) error {
	limit := in.opts.Config.Current().SenderRateLimit(sender)
	if !in.limiter.Allow(sender, limit) {
		return fmt.Errorf("%s may relay to %d recipients per hour: %w", sender, limit, mail.ErrRateLimited)
	}
	return nil
}

// parseNotify converts NOTIFY values.
func parseNotify(values []string) store.Notify {
	var n store.Notify
	for _, v := range values {
		switch strings.ToUpper(v) {
		case "NEVER":
			n |= store.NotifyNever
		case "SUCCESS":
			n |= store.NotifySuccess
		case "FAILURE":
			n |= store.NotifyFailure
		case "DELAY":
			n |= store.NotifyDelay
		}
	}
	return n
}

// Deliver implements mail.Deliverer.
func (in *Intake) Deliver(ctx context.Context, env mail.Envelope, body []byte) error {
	cfg := in.opts.Config.Current()
	now := in.clock.Now()
	accounts, remote := env.Accounts(), env.Remote()
	if len(accounts) == 0 && len(remote) == 0 {
		return errors.New("delivering: the envelope has neither local accounts nor remote recipients")
	}
	targets := make([]store.DeliveryTarget, len(accounts))
	for i, a := range accounts {
		targets[i] = store.DeliveryTarget{Account: a, Folder: store.Inbox}
		if m, ok := cfg.LookupMailbox(a); ok {
			targets[i].QuotaBytes = cfg.QuotaBytes(m)
		}
	}
	sub := store.Submission{Body: body, InternalDate: env.ReceivedAt, Local: targets}
	if len(remote) > 0 {
		signed, err := in.sign(cfg, env, body)
		if err != nil {
			return fmt.Errorf("delivering message %s: %w", env.ID, err)
		}
		sub.Body = signed
		sub.Outbound = outbound(env, remote, now)
	}
	results, err := in.opts.Store.Submit(ctx, sub)
	if err != nil {
		for i, r := range results {
			if errors.Is(r.Err, store.ErrOverQuota) {
				return &mail.OverQuotaError{Account: accounts[i], Permanent: targets[i].QuotaBytes > 0 && int64(len(sub.Body)) > targets[i].QuotaBytes}
			}
		}
		return fmt.Errorf("delivering message %s: %w", env.ID, err)
	}
	if len(remote) > 0 {
		in.log.Info("Message queued", "id", env.ID, "from", env.From, "remote", len(remote), "local", len(accounts))
		if in.opts.Queue != nil {
			in.opts.Queue.Kick()
		}
	}
	in.reportLocalSuccess(ctx, cfg, env, sub.Body, now)
	return nil
}

// outbound is the queue entry of a message's remote recipients. A forward
// target's original recipient (RFC 3461 §4.2) is the local address that
// forwards to it, unless the client gave one.
func outbound(env mail.Envelope, remote []mail.Remote, now time.Time) *store.Outbound {
	out := &store.Outbound{
		Message: store.OutboundMessage{ID: env.ID, Sender: env.From, Account: env.Account, EnvelopeID: env.EnvelopeID,
			Return: env.Return, RequireTLS: env.RequireTLS, UTF8: env.UTF8, Created: now},
		NextAttempt: now,
	}
	for _, r := range remote {
		orcpt := r.Recipient.ORCPT
		if orcpt == "" && !strings.EqualFold(r.Address, r.Recipient.Address) {
			orcpt = "rfc822;" + r.Recipient.Address
		}
		out.Recipients = append(out.Recipients, store.OutboundRecipient{Address: r.Address, ORCPT: orcpt,
			Notify: parseNotify(r.Recipient.Notify)})
	}
	return out
}

// sign adds a DKIM signature to mail this server originates: from an
// authenticated client or a network allowed to relay, never to mail it
// merely forwards. The key is the From domain's, else the envelope
// sender's domain's; a domain without a key is not signed for. A key that
// cannot be read fails the delivery (temporarily), rather than sending
// mail that DMARC would reject.
func (in *Intake) sign(cfg *config.Config, env mail.Envelope, body []byte) ([]byte, error) {
	if in.opts.Signer == nil || (env.Account == "" && !env.Relayed) {
		return body, nil
	}
	fields, _ := msgauth.SplitHeader(body)
	candidates := msgauth.FromDomains(fields)
	if len(candidates) > 1 {
		candidates = candidates[:1]
	}
	candidates = append(candidates, mail.Domain(env.From))
	for _, d := range candidates {
		dom, ok := cfg.LookupDomain(d)
		if !ok || dom.DKIM == nil {
			continue
		}
		return in.opts.Signer.Sign(body, msgauth.SignKey{Domain: dom.Name, Selector: dom.DKIM.Selector, KeyFile: dom.DKIM.KeyFile})
	}
	return body, nil
}

// reportLocalSuccess sends the "delivered" reports that local recipients
// with NOTIFY=SUCCESS asked for (RFC 3461 §5.2.2). Best effort: the
// message itself is already stored.
func (in *Intake) reportLocalSuccess(ctx context.Context, cfg *config.Config, env mail.Envelope, body []byte, now time.Time) {
	if env.From == "" {
		return
	}
	var list []dsnRecipient
	for _, r := range env.Recipients {
		if r.Local && len(r.Accounts) > 0 && parseNotify(r.Notify).Wants(store.NotifySuccess) {
			list = append(list, dsnRecipient{Address: r.Address, ORCPT: r.ORCPT, Action: actionDelivered, Status: "2.0.0"})
		}
	}
	if len(list) == 0 {
		return
	}
	report := buildDSN(dsnInput{Hostname: cfg.Hostname, To: env.From, MessageID: newID(), EnvelopeID: env.EnvelopeID,
		Return: env.Return, Arrival: env.ReceivedAt, Now: now, Original: body, Recipients: list})
	sub, ok := reportSubmission(cfg, env.From, report, now, in.log)
	if !ok {
		return
	}
	if _, err := in.opts.Store.Submit(ctx, sub); err != nil {
		in.log.Warn("Cannot store a delivery report", "id", env.ID, "error", err)
		return
	}
	if sub.Outbound != nil && in.opts.Queue != nil {
		in.opts.Queue.Kick()
	}
}
