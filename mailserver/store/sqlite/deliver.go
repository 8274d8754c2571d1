package sqlite

import (
	"context"
	"fmt"

	"github.com/kubemail/kubemail/mailserver/store"
)

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
