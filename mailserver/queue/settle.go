package queue

import (
	"log/slog"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
)

// statusCode is the enhanced status code of a reply (RFC 3463), made up
// from its class when the server sent none.
func statusCode(r Reply) string {
	if r.Enhanced != "" {
		return r.Enhanced
	}
	switch {
	case r.Code >= 500:
		return "5.0.0"
	case r.Code >= 400:
		return "4.0.0"
	default:
		return "2.0.0"
	}
}

// settlement turns an attempt's statuses into outcomes and reports: the
// state machine's transitions (see the package documentation).
func (q *Queue) settlement(cfg *config.Config, msg store.OutboundMessage, body []byte, rcpts []store.QueuedRecipient,
	statuses []rcptStatus, now time.Time) store.Settlement {
	sched := q.schedule(cfg)
	var st store.Settlement
	var failed, delayed, relayed []dsnRecipient
	log := q.log.With("id", msg.ID)
	for i, r := range rcpts {
		s := statuses[i]
		o := store.RecipientOutcome{ID: r.ID, LastError: s.reply.String()}
		d := dsnRecipient{Address: r.Address, ORCPT: r.ORCPT, Diagnostic: s.reply.String(), RemoteMTA: s.remote,
			LastAttempt: r.LastAttempt, Status: statusCode(s.reply)}
		attrs := []any{"rcpt", r.Address, "attempt", r.Attempts, "reply", s.reply.String(), "remote", s.remote}
		switch s.outcome {
		case outDelivered:
			o.Done = true
			q.obs.Attempted("delivered")
			log.Info("Delivered", attrs...)
			if s.relayed && r.Notify.Wants(store.NotifySuccess) {
				d.Action, d.Status = actionRelayed, "2.0.0"
				relayed = append(relayed, d)
			}
		case outPermanent:
			o.Done = true
			q.obs.Attempted("bounced")
			log.Info("Delivery failed permanently", attrs...)
			if r.Notify.Wants(store.NotifyFailure) {
				d.Action = actionFailed
				failed = append(failed, d)
			}
		default:
			next, expired := sched.Next(r.Attempts, r.Queued, now)
			if expired {
				o.Done = true
				q.obs.Attempted("expired")
				log.Info("Delivery expired", append(attrs, "queued", r.Queued)...)
				if r.Notify.Wants(store.NotifyFailure) {
					// RFC 3463 X.4.7: delivery time expired.
					d.Action, d.Status = actionFailed, "4.4.7"
					failed = append(failed, d)
				}
				break
			}
			o.NextAttempt = next
			q.obs.Attempted("deferred")
			log.Info("Delivery deferred", append(attrs, "next", next)...)
			if !r.DelayNotified && sched.DelayNoticeDue(r.Queued, now) && r.Notify.Wants(store.NotifyDelay) {
				o.DelayNotified = true
				d.Action, d.WillRetryUntil = actionDelayed, r.Queued.Add(sched.Expiry)
				delayed = append(delayed, d)
			}
		}
		st.Outcomes = append(st.Outcomes, o)
	}
	if msg.Sender == "" {
		// RFC 5321 §4.5.5 and RFC 3461 §6.2: never report on a report.
		return st
	}
	for _, list := range [][]dsnRecipient{failed, delayed, relayed} {
		if len(list) == 0 {
			continue
		}
		report := buildDSN(dsnInput{Hostname: cfg.Hostname, To: msg.Sender, MessageID: newID(), EnvelopeID: msg.EnvelopeID,
			Return: msg.Return, Arrival: msg.Created, Now: now, Original: body, Recipients: list})
		if sub, ok := reportSubmission(cfg, msg.Sender, report, now, log); ok {
			st.Reports = append(st.Reports, sub)
		}
	}
	return st
}

// reportSubmission addresses a report to sender: into the mailboxes it
// resolves to when it is local (quota does not apply to reports), else
// queued with the null sender.
func reportSubmission(cfg *config.Config, sender string, report []byte, now time.Time, log *slog.Logger) (store.Submission, bool) {
	sub := store.Submission{Body: report, InternalDate: now}
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
		out := &store.Outbound{Message: store.OutboundMessage{ID: newID(), Created: now}, NextAttempt: now}
		for _, r := range remote {
			out.Recipients = append(out.Recipients, store.OutboundRecipient{Address: r})
		}
		sub.Outbound = out
	}
	return sub, len(sub.Local) > 0 || sub.Outbound != nil
}
