package delivery

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

// Store is what the Intake needs of the mail store: its one write door for
// mail, and the usage read at RCPT time.
type Store interface {
	Submit(ctx context.Context, s store.Submission) ([]store.DeliveryResult, error)
	Usage(ctx context.Context, account string) (store.Usage, error)
}

// Clock is the Intake's time source.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Options configure New.
type Options struct {
	// Store holds the mailboxes and the queue. Required.
	Store Store
	// Config is the served configuration. Required.
	Config *config.Holder
	// Kick wakes the outbound queue when a message was queued; nil leaves
	// the queue to find it when it next polls.
	Kick func()
	// Signer signs outbound mail with the DKIM keys of the domains that
	// have one; nil signs nothing.
	Signer *msgauth.Signer
	// Limiter counts relayed recipients; nil means a new one.
	Limiter *RateLimiter
	// Clock is the time source; nil means the system's.
	Clock Clock
	// ObserveCommit, when set, is told how long each accepted message's
	// store commit took (the metrics' kubemail_store_commit_duration_seconds).
	ObserveCommit func(time.Duration)
	// Logger receives the logs; nil discards them.
	Logger *slog.Logger
}

// Intake is the one door for mail into the store; see the package
// documentation. It is safe for concurrent use.
type Intake struct {
	opts    Options
	clock   Clock
	log     *slog.Logger
	limiter *RateLimiter
}

var (
	_ mail.Directory    = (*Intake)(nil)
	_ mail.QuotaChecker = (*Intake)(nil)
	_ mail.Deliverer    = (*Intake)(nil)
	_ mail.Relayer      = (*Intake)(nil)
)

// New returns an Intake.
func New(opts Options) (*Intake, error) {
	if opts.Store == nil || opts.Config == nil {
		return nil, errors.New("creating the intake: Store and Config are required")
	}
	in := &Intake{opts: opts, clock: opts.Clock, log: opts.Logger, limiter: opts.Limiter}
	if in.clock == nil {
		in.clock = systemClock{}
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if in.limiter == nil {
		in.limiter = NewRateLimiter(in.clock)
	}
	return in, nil
}

// Resolve implements mail.Directory from the served configuration (one
// snapshot per call).
func (in *Intake) Resolve(_ context.Context, rcpt string) (mail.Recipient, error) {
	res, err := in.opts.Config.Current().Resolve(rcpt)
	switch {
	case errors.Is(err, config.ErrUnknownRecipient), errors.Is(err, config.ErrInvalidAddress):
		// An address the configuration cannot parse cannot name a mailbox
		// here either: refused as unknown (550 5.1.1), not retried.
		return mail.Recipient{}, fmt.Errorf("resolving %s: %w (%w)", rcpt, mail.ErrUnknownRecipient, err)
	case err != nil:
		return mail.Recipient{}, fmt.Errorf("resolving %s: %w", rcpt, err)
	}
	return mail.Recipient{Address: rcpt, Local: res.Local, Accounts: res.Accounts, External: res.External}, nil
}

// SenderAllowed implements mail.Directory.
func (in *Intake) SenderAllowed(account, from string) bool {
	return in.opts.Config.Current().SenderAllowed(account, from)
}

// QuotaBytes returns the quota of account in the configuration being
// served; 0 (unlimited) for an account it does not know.
func (in *Intake) QuotaBytes(account string) int64 {
	cfg := in.opts.Config.Current()
	if m, ok := cfg.LookupMailbox(account); ok {
		return cfg.QuotaBytes(m)
	}
	return 0
}

// CheckQuota implements mail.QuotaChecker: usage + size must stay within
// the quota; a message larger than the whole quota is refused for good.
func (in *Intake) CheckQuota(ctx context.Context, account string, size int64) error {
	cfg := in.opts.Config.Current()
	m, ok := cfg.LookupMailbox(account)
	if !ok {
		return nil // not an account of this configuration: Deliver reports it
	}
	quota := cfg.QuotaBytes(m)
	if quota == 0 {
		return nil
	}
	if size > quota {
		return &mail.OverQuotaError{Account: account, Permanent: true}
	}
	u, err := in.opts.Store.Usage(ctx, account)
	if err != nil {
		return fmt.Errorf("reading the usage of %s: %w", account, err)
	}
	if u.Bytes+size > quota || (size == 0 && u.Bytes >= quota) {
		return &mail.OverQuotaError{Account: account}
	}
	return nil
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

// Deliver implements mail.Deliverer: one store Submit, all or nothing, of a
// copy for every local account (INBOX, with each account's quota) and a
// queue entry for the remote recipients.
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
	start := time.Now()
	results, err := in.opts.Store.Submit(ctx, sub)
	if in.opts.ObserveCommit != nil {
		in.opts.ObserveCommit(time.Since(start))
	}
	if err != nil {
		for i, r := range results {
			if errors.Is(r.Err, store.ErrOverQuota) {
				in.log.Info("Delivery refused: over quota", "id", env.ID, "account", accounts[i])
				return &mail.OverQuotaError{Account: accounts[i], Permanent: targets[i].QuotaBytes > 0 && int64(len(sub.Body)) > targets[i].QuotaBytes}
			}
		}
		return fmt.Errorf("delivering message %s: %w", env.ID, err)
	}
	if len(remote) > 0 {
		in.log.Info("Message queued", "id", env.ID, "from", env.From, "remote", len(remote), "local", len(accounts))
		in.kick()
	}
	in.reportLocalSuccess(ctx, cfg, env, sub.Body, now)
	return nil
}

// kick wakes the queue, if one is wired.
func (in *Intake) kick() {
	if in.opts.Kick != nil {
		in.opts.Kick()
	}
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
