package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/kubemail/kubemail/mailserver/store"
)

// errNoneStored rolls back a delivery whose every target failed, so its
// body is not left behind; Deliver then reports the per-target errors.
var errNoneStored = errors.New("no target stored the message")

// Deliver implements store.MessageStore. The body is inserted once and
// referenced by each target's message row; each target runs under its own
// SAVEPOINT so one failure does not undo the others.
func (s *Store) Deliver(ctx context.Context, d store.Delivery) ([]store.DeliveryResult, error) {
	if len(d.Targets) == 0 {
		return nil, fmt.Errorf("delivering: no targets: %w", store.ErrInvalidArgument)
	}
	refs := make([]store.FolderRef, len(d.Targets))
	flags := make([]store.Flags, len(d.Targets))
	pre := make([]error, len(d.Targets))
	for i, t := range d.Targets {
		folder := t.Folder
		if folder == "" {
			folder = store.Inbox
		}
		refs[i] = ref(t.Account, folder)
		flags[i] = t.Flags.Normalize()
		pre[i] = flags[i].Validate()
	}
	results := make([]store.DeliveryResult, len(d.Targets))
	err := s.doSized(ctx, len(d.Body), func(tx *wtx) error {
		date := d.InternalDate
		if date.IsZero() {
			date = tx.now
		}
		bodyID, err := tx.insertBody(d.Body)
		if err != nil {
			return err
		}
		stored := 0
		for i, t := range d.Targets {
			if pre[i] != nil {
				results[i] = store.DeliveryResult{Err: fmt.Errorf("delivering to %s: %w", refs[i], pre[i])}
				continue
			}
			m := newMessage{flags: flags[i], size: int64(len(d.Body)), date: date, bodyID: bodyID}
			var res store.DeliveryResult
			deliver := func() (err error) {
				res, err = tx.deliverOne(refs[i], m, t.QuotaBytes)
				return err
			}
			if len(d.Targets) == 1 {
				err = deliver()
			} else {
				err = tx.savepoint(deliver)
			}
			var abort *abortError
			if errors.As(err, &abort) {
				return err
			}
			if err != nil {
				results[i].Err = fmt.Errorf("delivering to %s: %w", refs[i], err)
				continue
			}
			results[i] = res
			stored++
		}
		if stored == 0 {
			return errNoneStored
		}
		return nil
	})
	if err != nil && !errors.Is(err, errNoneStored) {
		return nil, fmt.Errorf("delivering to %d targets: %w", len(d.Targets), err)
	}
	return results, nil
}

// deliverOne stores one target's message row.
func (tx *wtx) deliverOne(f store.FolderRef, m newMessage, quota int64) (store.DeliveryResult, error) {
	row, err := tx.folder(f)
	if err != nil {
		return store.DeliveryResult{}, err
	}
	if err := checkQuota(row.usage, m.size, quota); err != nil {
		return store.DeliveryResult{}, err
	}
	modSeq := row.highestModSeq + 1
	uid, err := tx.addMessage(row, m, modSeq)
	if err != nil {
		return store.DeliveryResult{}, err
	}
	tx.emit(store.Event{Kind: store.EventMessagesAdded, Account: f.Account, Folder: f.Folder,
		UIDValidity: row.uidValidity, ModSeq: modSeq, UIDs: []store.UID{uid}})
	return store.DeliveryResult{UIDValidity: row.uidValidity, UID: uid}, nil
}

// Append implements store.MessageStore.
func (s *Store) Append(ctx context.Context, r store.AppendRequest) (store.AppendResult, error) {
	f := ref(r.Folder.Account, r.Folder.Folder)
	flags := r.Flags.Normalize()
	if err := flags.Validate(); err != nil {
		return store.AppendResult{}, fmt.Errorf("appending to %s: %w", f, err)
	}
	var res store.AppendResult
	err := s.doSized(ctx, len(r.Body), func(tx *wtx) error {
		date := r.InternalDate
		if date.IsZero() {
			date = tx.now
		}
		row, err := tx.folder(f)
		if err != nil {
			return err
		}
		size := int64(len(r.Body))
		if err := checkQuota(row.usage, size, r.QuotaBytes); err != nil {
			return err
		}
		bodyID, err := tx.insertBody(r.Body)
		if err != nil {
			return err
		}
		modSeq := row.highestModSeq + 1
		uid, err := tx.addMessage(row, newMessage{flags: flags, size: size, date: date, bodyID: bodyID}, modSeq)
		if err != nil {
			return err
		}
		tx.emit(store.Event{Kind: store.EventMessagesAdded, Account: f.Account, Folder: f.Folder,
			UIDValidity: row.uidValidity, ModSeq: modSeq, UIDs: []store.UID{uid}})
		res = store.AppendResult{UIDValidity: row.uidValidity, UID: uid, ModSeq: modSeq}
		return nil
	})
	if err != nil {
		return store.AppendResult{}, fmt.Errorf("appending to %s: %w", f, err)
	}
	return res, nil
}

// insertBody stores a body with no references yet; the message insert
// trigger counts them. The header section goes into the headers table and
// the rest into bodies (see headers.go).
func (tx *wtx) insertBody(body []byte) (int64, error) {
	n := store.HeaderLen(body)
	header, text := body[:n:n], body[n:]
	if header == nil {
		header = []byte{}
	}
	if text == nil {
		text = []byte{}
	}
	res, err := tx.w.insertBody.ExecContext(tx.ctx, text)
	if err != nil {
		return 0, fmt.Errorf("inserting body: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("inserting body: %w", err)
	}
	if _, err := tx.w.insertHeader.ExecContext(tx.ctx, id, header); err != nil {
		return 0, fmt.Errorf("inserting header: %w", err)
	}
	return id, nil
}
