package queue

import (
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/delivery"
	"github.com/kubemail/kubemail/mailserver/dsn"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/smtpclient"
	"github.com/kubemail/kubemail/mailserver/store"
)

// statusCode is the enhanced status code of a reply (RFC 3463), made up
// from its class when the server sent none.
func statusCode(r smtpclient.Reply) string {
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
	var failed, delayed, relayed []dsn.Recipient
	log := q.log.With("id", msg.ID)
	for i, r := range rcpts {
		s := statuses[i]
		o := store.RecipientOutcome{ID: r.ID, LastError: s.reply.String()}
		d := dsn.Recipient{Address: r.Address, ORCPT: r.ORCPT, Diagnostic: s.reply.String(), RemoteMTA: s.remote,
			LastAttempt: r.LastAttempt, Status: statusCode(s.reply)}
		attrs := []any{"rcpt", r.Address, "attempt", r.Attempts, "reply", s.reply.String(), "remote", s.remote}
		switch s.outcome {
		case outDelivered:
			o.Done = true
			q.obs.Attempted("delivered")
			log.Info("Delivered", attrs...)
			if s.relayed && r.Notify.Wants(store.NotifySuccess) {
				d.Action, d.Status = dsn.ActionRelayed, "2.0.0"
				relayed = append(relayed, d)
			}
		case outPermanent:
			o.Done = true
			q.obs.Attempted("bounced")
			log.Info("Delivery failed permanently", attrs...)
			if r.Notify.Wants(store.NotifyFailure) {
				d.Action = dsn.ActionFailed
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
					d.Action, d.Status = dsn.ActionFailed, "4.4.7"
					failed = append(failed, d)
				}
				break
			}
			o.NextAttempt = next
			q.obs.Attempted("deferred")
			log.Info("Delivery deferred", append(attrs, "next", next)...)
			if !r.DelayNotified && sched.DelayNoticeDue(r.Queued, now) && r.Notify.Wants(store.NotifyDelay) {
				o.DelayNotified = true
				d.Action, d.WillRetryUntil = dsn.ActionDelayed, r.Queued.Add(sched.Expiry)
				delayed = append(delayed, d)
			}
		}
		st.Outcomes = append(st.Outcomes, o)
	}
	if msg.Sender == "" {
		// RFC 5321 §4.5.5 and RFC 3461 §6.2: never report on a report.
		return st
	}
	for _, list := range [][]dsn.Recipient{failed, delayed, relayed} {
		if len(list) == 0 {
			continue
		}
		report := dsn.Build(dsn.Report{Hostname: cfg.Hostname, To: msg.Sender, MessageID: mail.NewID(), EnvelopeID: msg.EnvelopeID,
			Return: msg.Return, Arrival: msg.Created, Now: now, Original: body, Recipients: list})
		if sub, ok := delivery.ReportSubmission(cfg, msg.Sender, report, now, log); ok {
			st.Reports = append(st.Reports, sub)
		}
	}
	return st
}
