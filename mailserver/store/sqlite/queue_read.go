package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

// recipientQuery selects queued recipients with their message's id and
// creation time, in the column order scanRecipients reads.
const recipientQuery = `SELECT r.id, m.msgid, r.address, r.domain, r.orcpt, r.notify, r.attempts,
	r.next_attempt, r.last_attempt, r.last_error, r.in_flight, r.delay_notified, m.created
	FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id`

// scanRecipients reads and closes rows of recipientQuery.
func scanRecipients(rows *sql.Rows) ([]store.QueuedRecipient, error) {
	defer rows.Close()
	var out []store.QueuedRecipient
	for rows.Next() {
		var r store.QueuedRecipient
		var inFlight, notified int
		var next, last, created int64
		// Typed destinations: database/sql checks the range of notify.
		if err := rows.Scan(&r.ID, &r.MessageID, &r.Address, &r.Domain, &r.ORCPT, &r.Notify, &r.Attempts,
			&next, &last, &r.LastError, &inFlight, &notified, &created); err != nil {
			return nil, err
		}
		r.NextAttempt, r.LastAttempt, r.Queued = fromNanos(next), fromNanos(last), fromNanos(created)
		r.InFlight, r.DelayNotified = inFlight != 0, notified != 0
		out = append(out, r)
	}
	return out, rows.Err()
}

// DueRecipients implements store.Queue.
func (s *Store) DueRecipients(ctx context.Context, now time.Time, after store.DuePosition, limit int) ([]store.QueuedRecipient, error) {
	if err := s.readable(); err != nil {
		return nil, fmt.Errorf("listing due recipients: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	var rows *sql.Rows
	var err error
	if after == (store.DuePosition{}) {
		rows, err = s.rdb.QueryContext(ctx, recipientQuery+` WHERE r.next_attempt <= ?
			ORDER BY r.next_attempt, r.id LIMIT ?`, nanos(now), limit)
	} else {
		// The range on next_attempt keeps the scan on the index; the
		// second condition skips the rows at the position and before it.
		at := nanos(after.NextAttempt)
		rows, err = s.rdb.QueryContext(ctx, recipientQuery+` WHERE r.next_attempt <= ? AND r.next_attempt >= ?
			AND (r.next_attempt > ? OR r.id > ?)
			ORDER BY r.next_attempt, r.id LIMIT ?`, nanos(now), at, at, after.ID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("listing due recipients: %w", err)
	}
	out, err := scanRecipients(rows)
	if err != nil {
		return nil, fmt.Errorf("listing due recipients: %w", err)
	}
	return out, nil
}

const messageColumns = `msgid, sender, account, envid, ret, requiretls, utf8, created, size`

func messageDest(m *store.OutboundMessage, requireTLS, utf8 *int, created *int64) []any {
	return []any{&m.ID, &m.Sender, &m.Account, &m.EnvelopeID, &m.Return, requireTLS, utf8, created, &m.Size}
}

// QueuedMessage implements store.Queue.
func (s *Store) QueuedMessage(ctx context.Context, id string) (store.OutboundMessage, []byte, error) {
	if err := s.readable(); err != nil {
		return store.OutboundMessage{}, nil, fmt.Errorf("reading queued message %s: %w", id, err)
	}
	var m store.OutboundMessage
	var requireTLS, utf8 int
	var created int64
	var body []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT `+messageColumns+`, body FROM queue_messages WHERE msgid = ?`, id).
		Scan(append(messageDest(&m, &requireTLS, &utf8, &created), &body)...)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.OutboundMessage{}, nil, fmt.Errorf("reading queued message %s: %w", id, store.ErrQueueEntryNotFound)
	case err != nil:
		return store.OutboundMessage{}, nil, fmt.Errorf("reading queued message %s: %w", id, err)
	}
	m.RequireTLS, m.UTF8, m.Created = requireTLS != 0, utf8 != 0, fromNanos(created)
	return m, body, nil
}

// ListQueue implements store.Queue. It reads in one transaction, so the
// messages and recipients agree.
func (s *Store) ListQueue(ctx context.Context) ([]store.QueueEntry, error) {
	if err := s.readable(); err != nil {
		return nil, fmt.Errorf("listing the queue: %w", err)
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("listing the queue: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to keep
	out, err := listQueue(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("listing the queue: %w", err)
	}
	return out, nil
}

func listQueue(ctx context.Context, tx *sql.Tx) ([]store.QueueEntry, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+messageColumns+` FROM queue_messages ORDER BY created, id`)
	if err != nil {
		return nil, err
	}
	var out []store.QueueEntry
	index := map[string]int{}
	for rows.Next() {
		var m store.OutboundMessage
		var requireTLS, utf8 int
		var created int64
		if err := rows.Scan(messageDest(&m, &requireTLS, &utf8, &created)...); err != nil {
			_ = rows.Close() // the scan error says what went wrong
			return nil, err
		}
		m.RequireTLS, m.UTF8, m.Created = requireTLS != 0, utf8 != 0, fromNanos(created)
		index[m.ID] = len(out)
		out = append(out, store.QueueEntry{Message: m})
	}
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	rrows, err := tx.QueryContext(ctx, recipientQuery+` ORDER BY r.id`)
	if err != nil {
		return nil, err
	}
	rcpts, err := scanRecipients(rrows)
	if err != nil {
		return nil, err
	}
	for _, r := range rcpts {
		if i, ok := index[r.MessageID]; ok {
			out[i].Recipients = append(out[i].Recipients, r)
		}
	}
	return out, nil
}
