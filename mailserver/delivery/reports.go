package delivery

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/dsn"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
)

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

// ReportSubmission addresses a report (a delivery status notification)
// to sender, as every report is addressed, the queue's and the Intake's
// alike: into the mailboxes sender resolves to when it is local (best
// effort, and quota does not apply to reports), else queued with the null
// sender. ok is false when there is no one to send it to: the sender is an
// unknown local address.
func ReportSubmission(cfg *config.Config, sender string, report []byte, now time.Time, log *slog.Logger) (sub store.Submission, ok bool) {
	sub = store.Submission{Body: report, InternalDate: now, BestEffort: true}
	var remote []string
	if cfg.IsLocalDomain(mail.Domain(sender)) {
		res, err := cfg.Resolve(sender)
		if err != nil {
			log.Warn("Dropping a delivery report for an unknown local sender", "sender", sender, "error", err)
			return sub, false
		}
		for _, a := range res.Accounts {
			sub.Local = append(sub.Local, store.DeliveryTarget{Account: a, Folder: store.Inbox})
		}
		remote = res.External
	} else {
		remote = []string{sender}
	}
	if len(remote) > 0 {
		out := &store.Outbound{Message: store.OutboundMessage{ID: mail.NewID(), Created: now}, NextAttempt: now}
		for _, r := range remote {
			out.Recipients = append(out.Recipients, store.OutboundRecipient{Address: r})
		}
		sub.Outbound = out
	}
	return sub, len(sub.Local) > 0 || sub.Outbound != nil
}

// reportLocalSuccess sends the "delivered" reports that local recipients
// with NOTIFY=SUCCESS asked for (RFC 3461 §5.2.2). Best effort: the
// message itself is already stored.
func (in *Intake) reportLocalSuccess(ctx context.Context, cfg *config.Config, env mail.Envelope, body []byte, now time.Time) {
	if env.From == "" {
		return
	}
	var list []dsn.Recipient
	for _, r := range env.Recipients {
		if r.Local && len(r.Accounts) > 0 && parseNotify(r.Notify).Wants(store.NotifySuccess) {
			list = append(list, dsn.Recipient{Address: r.Address, ORCPT: r.ORCPT, Action: dsn.ActionDelivered, Status: "2.0.0"})
		}
	}
	if len(list) == 0 {
		return
	}
	report := dsn.Build(dsn.Report{Hostname: cfg.Hostname, To: env.From, MessageID: mail.NewID(), EnvelopeID: env.EnvelopeID,
		Return: env.Return, Arrival: env.ReceivedAt, Now: now, Original: body, Recipients: list})
	sub, ok := ReportSubmission(cfg, env.From, report, now, in.log)
	if !ok {
		return
	}
	if _, err := in.opts.Store.Submit(ctx, sub); err != nil {
		in.log.Warn("Cannot store a delivery report", "id", env.ID, "error", err)
		return
	}
	if sub.Outbound != nil {
		in.kick()
	}
}
