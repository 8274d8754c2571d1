package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
)

var _ store.Queue = (*Store)(nil)

// nanos encodes a time for the queue tables; the zero time is 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos decodes nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// enqueue inserts a queued message and its recipients.
func (tx *wtx) enqueue(out *store.Outbound, body []byte) error {
	m := out.Message
	created := m.Created
	if created.IsZero() {
		created = tx.now
	}
	if body == nil {
		body = []byte{}
	}
	res, err := tx.exec(`INSERT INTO queue_messages
		(msgid, sender, account, envid, ret, requiretls, utf8, created, size, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.Sender, m.Account, m.EnvelopeID, m.Return, boolInt(m.RequireTLS), boolInt(m.UTF8),
		nanos(created), len(body), body)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return fmt.Errorf("queueing message %s: id already queued: %w", m.ID, store.ErrInvalidArgument)
		}
		return fmt.Errorf("queueing message %s: %w", m.ID, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("queueing message %s: %w", m.ID, err)
	}
	for _, r := range out.Recipients {
		if _, err := tx.exec(`INSERT INTO queue_recipients
			(message_id, address, domain, orcpt, notify, next_attempt) VALUES (?, ?, ?, ?, ?, ?)`,
			id, r.Address, mail.Domain(r.Address), r.ORCPT, int(r.Notify), nanos(out.NextAttempt)); err != nil {
			return fmt.Errorf("queueing message %s for %s: %w", m.ID, r.Address, err)
		}
	}
	return nil
}

// Lease implements store.Queue.
func (s *Store) Lease(ctx context.Context, ids []int64, now, until time.Time) ([]store.QueuedRecipient, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var leased []store.QueuedRecipient
	err := s.do(ctx, func(tx *wtx) error {
		leased = leased[:0]
		for _, id := range ids {
			res, err := tx.exec(`UPDATE queue_recipients SET attempts = attempts + 1, last_attempt = ?,
				in_flight = 1, next_attempt = ? WHERE id = ? AND next_attempt <= ?`,
				nanos(now), nanos(until), id, nanos(now))
			if err != nil {
				return fmt.Errorf("leasing recipient %d: %w", id, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("leasing recipient %d: %w", id, err)
			} else if n == 0 {
				continue
			}
			rows, err := tx.w.conn.QueryContext(tx.ctx, recipientQuery+` WHERE r.id = ?`, id)
			if err != nil {
				return fmt.Errorf("reading leased recipient %d: %w", id, err)
			}
			got, err := scanRecipients(rows)
			if err != nil {
				return fmt.Errorf("reading leased recipient %d: %w", id, err)
			}
			leased = append(leased, got...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("leasing %d queued recipients: %w", len(ids), err)
	}
	return leased, nil
}

// Settle implements store.Queue.
func (s *Store) Settle(ctx context.Context, st store.Settlement) (store.SettleResult, error) {
	size := 0
	for _, r := range st.Reports {
		if err := checkSubmission(r); err != nil {
			return store.SettleResult{}, fmt.Errorf("settling: report: %w", err)
		}
		size += len(r.Body)
	}
	res := store.SettleResult{Reports: make([][]store.DeliveryResult, len(st.Reports))}
	err := s.doSized(ctx, size, func(tx *wtx) error {
		for _, o := range st.Outcomes {
			if err := tx.settleOne(o); err != nil {
				return err
			}
		}
		for i, r := range st.Reports {
			results, err := tx.submit(r, true)
			if err != nil {
				return err
			}
			res.Reports[i] = results
		}
		return nil
	})
	if err != nil {
		return store.SettleResult{}, fmt.Errorf("settling %d outcomes: %w", len(st.Outcomes), err)
	}
	return res, nil
}

// settleOne records one outcome; a recipient that is gone is ignored.
func (tx *wtx) settleOne(o store.RecipientOutcome) error {
	if !o.Done {
		_, err := tx.exec(`UPDATE queue_recipients SET next_attempt = ?, last_error = ?, in_flight = 0,
			delay_notified = max(delay_notified, ?) WHERE id = ?`,
			nanos(o.NextAttempt), o.LastError, boolInt(o.DelayNotified), o.ID)
		if err != nil {
			return fmt.Errorf("rescheduling recipient %d: %w", o.ID, err)
		}
		return nil
	}
	var msg int64
	err := tx.queryRow(`SELECT message_id FROM queue_recipients WHERE id = ?`, o.ID).Scan(&msg)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("looking up recipient %d: %w", o.ID, err)
	}
	if _, err := tx.exec(`DELETE FROM queue_recipients WHERE id = ?`, o.ID); err != nil {
		return fmt.Errorf("removing recipient %d: %w", o.ID, err)
	}
	if _, err := tx.exec(`DELETE FROM queue_messages WHERE id = ?
		AND NOT EXISTS (SELECT 1 FROM queue_recipients WHERE message_id = ?)`, msg, msg); err != nil {
		return fmt.Errorf("removing finished message %d: %w", msg, err)
	}
	return nil
}

// RescheduleQueued implements store.Queue.
func (s *Store) RescheduleQueued(ctx context.Context, id string, at time.Time) (int, error) {
	var n int64
	err := s.do(ctx, func(tx *wtx) error {
		query := `UPDATE queue_recipients SET next_attempt = ? WHERE in_flight = 0`
		args := []any{nanos(at)}
		if id != "" {
			query += ` AND message_id = (SELECT id FROM queue_messages WHERE msgid = ?)`
			args = append(args, id)
		}
		res, err := tx.exec(query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("rescheduling queued message %q: %w", id, err)
	}
	return int(n), nil
}

// DeleteQueued implements store.Queue.
func (s *Store) DeleteQueued(ctx context.Context, id string) error {
	err := s.do(ctx, func(tx *wtx) error {
		res, err := tx.exec(`DELETE FROM queue_messages WHERE msgid = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrQueueEntryNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting queued message %q: %w", id, err)
	}
	return nil
}

// ReleaseLeases implements store.Queue.
func (s *Store) ReleaseLeases(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.do(ctx, func(tx *wtx) error {
		res, err := tx.exec(`UPDATE queue_recipients SET in_flight = 0, next_attempt = ? WHERE in_flight = 1`, nanos(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("releasing queue leases: %w", err)
	}
	return int(n), nil
}
