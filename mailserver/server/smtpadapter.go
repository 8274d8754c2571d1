package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/kubemail/kubemail/mailserver/auth"
	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
)

// compensateTimeout bounds the clean-up of a partly stored delivery.
const compensateTimeout = 30 * time.Second

// directory answers the SMTP server's questions from the configuration
// being served (one snapshot per call) and the store: it is the
// mail.Directory, mail.QuotaChecker and mail.Deliverer.
type directory struct {
	holder  *config.Holder
	store   store.Store
	metrics *metrics
	log     *slog.Logger
}

var (
	_ mail.Directory    = (*directory)(nil)
	_ mail.QuotaChecker = (*directory)(nil)
	_ mail.Deliverer    = (*directory)(nil)
)

// Resolve implements mail.Directory.
func (d *directory) Resolve(_ context.Context, rcpt string) (mail.Recipient, error) {
	res, err := d.holder.Current().Resolve(rcpt)
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
func (d *directory) SenderAllowed(account, from string) bool {
	return d.holder.Current().SenderAllowed(account, from)
}

// quotaBytes returns the quota of account in the configuration being
// served; 0 (unlimited) for an account it does not know.
func (d *directory) quotaBytes(account string) int64 {
	cfg := d.holder.Current()
	if m, ok := cfg.LookupMailbox(account); ok {
		return cfg.QuotaBytes(m)
	}
	return 0
}

// CheckQuota implements mail.QuotaChecker: usage + size must stay within
// the quota; a message larger than the whole quota is refused for good.
func (d *directory) CheckQuota(ctx context.Context, account string, size int64) error {
	cfg := d.holder.Current()
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
	u, err := d.store.Usage(ctx, account)
	if err != nil {
		return fmt.Errorf("reading the usage of %s: %w", account, err)
	}
	if u.Bytes+size > quota || (size == 0 && u.Bytes >= quota) {
		return &mail.OverQuotaError{Account: account}
	}
	return nil
}

// Deliver implements mail.Deliverer: one store.Deliver for every account of
// every recipient, INBOX, with each account's quota. The store stores per
// target; the SMTP contract is all or nothing, so when some targets failed
// the copies that were stored are expunged again before the failure is
// reported (see the package documentation).
func (d *directory) Deliver(ctx context.Context, env mail.Envelope, body []byte) error {
	cfg := d.holder.Current()
	accounts := env.Accounts()
	if len(accounts) == 0 {
		return errors.New("delivering: the envelope has no local account")
	}
	targets := make([]store.DeliveryTarget, len(accounts))
	for i, a := range accounts {
		targets[i] = store.DeliveryTarget{Account: a, Folder: store.Inbox}
		if m, ok := cfg.LookupMailbox(a); ok {
			targets[i].QuotaBytes = cfg.QuotaBytes(m)
		}
	}
	start := time.Now()
	results, err := d.store.Deliver(ctx, store.Delivery{Body: body, InternalDate: env.ReceivedAt, Targets: targets})
	d.metrics.commit.Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("delivering message %s: %w", env.ID, err)
	}
	var failed error
	var overQuota *mail.OverQuotaError
	for i, r := range results {
		switch {
		case r.Err == nil:
		case errors.Is(r.Err, store.ErrOverQuota):
			if overQuota == nil {
				overQuota = &mail.OverQuotaError{Account: accounts[i], Permanent: int64(len(body)) > targets[i].QuotaBytes}
			}
			failed = errors.Join(failed, r.Err)
		default:
			failed = errors.Join(failed, r.Err)
		}
	}
	if failed == nil {
		return nil
	}
	d.compensate(ctx, env.ID, targets, results)
	if overQuota != nil {
		d.log.Info("Delivery refused: over quota", "id", env.ID, "error", failed)
		return overQuota
	}
	return fmt.Errorf("delivering message %s: %w", env.ID, failed)
}

// compensate expunges the copies of a partly failed delivery, so that the
// client's retry does not duplicate them. It runs even when ctx has ended.
func (d *directory) compensate(ctx context.Context, id string, targets []store.DeliveryTarget, results []store.DeliveryResult) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), compensateTimeout)
	defer cancel()
	for i, r := range results {
		if r.Err != nil {
			continue
		}
		ref := store.FolderRef{Account: targets[i].Account, Folder: store.Inbox}
		if _, err := d.store.Expunge(ctx, store.ExpungeRequest{Folder: ref, UIDs: store.UIDSetOf(r.UID)}); err != nil {
			d.log.Error("Cannot remove the copy of a partly failed delivery; the sender's retry may duplicate it",
				"id", id, "account", targets[i].Account, "uid", r.UID, "error", err)
		}
	}
}

// authenticator adapts auth.Authenticator to the protocol packages' error
// conventions. A suspended account gets the answer of a wrong password, as
// auth requires; only the log tells them apart.
type authenticator struct {
	auth *auth.Authenticator
	log  *slog.Logger
}

// Authenticate implements mail.Authenticator.
func (a authenticator) Authenticate(ctx context.Context, ip netip.Addr, username, password string) (string, error) {
	account, err := a.auth.Authenticate(ctx, ip, username, password)
	switch {
	case err == nil:
		return account, nil
	case errors.Is(err, mail.ErrSuspended):
		a.log.Info("Login refused: the account is suspended", "user", username)
		return "", fmt.Errorf("%w: %w", mail.ErrInvalidCredentials, err)
	case errors.Is(err, mail.ErrInvalidCredentials):
		return "", fmt.Errorf("%w: %w", mail.ErrInvalidCredentials, err)
	case errors.Is(err, mail.ErrThrottled):
		return "", fmt.Errorf("%w: %w", mail.ErrThrottled, err)
	default:
		return "", err
	}
}

// canonical is auth's Canonical function: the configuration's canonical
// address, or the name lower-cased when it is not an address (it then
// matches no account, and is throttled under that spelling).
func canonical(username string) string {
	if c, err := mail.CanonicalAddress(username); err == nil {
		return c
	}
	return mail.Fold(username)
}
