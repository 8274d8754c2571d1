package sqlite

import (
	"context"
	"fmt"

	"github.com/kubemail/kubemail/mailserver/store"
)

// Expunge implements store.MessageStore.
func (s *Store) Expunge(ctx context.Context, r store.ExpungeRequest) (store.ExpungeResult, error) {
	f := ref(r.Folder.Account, r.Folder.Folder)
	var res store.ExpungeResult
	err := s.do(ctx, func(tx *wtx) error {
		res = store.ExpungeResult{}
		row, err := tx.folder(f)
		if err != nil {
			return err
		}
		msgs, err := tx.selectMessages(row, r.UIDs)
		if err != nil {
			return err
		}
		var uids []store.UID
		for _, m := range msgs {
			if !r.OnlyDeleted || m.Flags.Has(store.FlagDeleted) {
				uids = append(uids, m.UID)
			}
		}
		if len(uids) == 0 {
			return nil
		}
		modSeq, err := tx.expunge(row, uids)
		if err != nil {
			return err
		}
		res = store.ExpungeResult{UIDs: uids, ModSeq: modSeq}
		return nil
	})
	if err != nil {
		return store.ExpungeResult{}, fmt.Errorf("expunging from %s: %w", f, err)
	}
	return res, nil
}

// expunge deletes the messages (their UIDs exist in row) and records
// tombstones under one new mod-sequence.
func (tx *wtx) expunge(row *folderRow, uids []store.UID) (store.ModSeq, error) {
	modSeq, err := tx.bumpModSeq(row)
	if err != nil {
		return 0, err
	}
	for _, uid := range uids {
		if _, err := tx.w.deleteMessage.ExecContext(tx.ctx, row.id, uid); err != nil {
			return 0, fmt.Errorf("deleting UID %d: %w", uid, err)
		}
		if err := tx.listRemove(row.id, uid); err != nil {
			return 0, fmt.Errorf("deleting UID %d: %w", uid, err)
		}
		if _, err := tx.w.tombstone.ExecContext(tx.ctx, row.id, uid, modSeq); err != nil {
			return 0, fmt.Errorf("recording tombstone of UID %d: %w", uid, err)
		}
	}
	tx.emit(store.Event{Kind: store.EventExpunged, Account: row.ref.Account, Folder: row.ref.Folder,
		UIDValidity: row.uidValidity, ModSeq: modSeq, UIDs: uids})
	return modSeq, nil
}

// Copy implements store.MessageStore.
func (s *Store) Copy(ctx context.Context, r store.CopyRequest) (store.CopyResult, error) {
	return s.copyMessages(ctx, r, false)
}

// Move implements store.MessageStore.
func (s *Store) Move(ctx context.Context, r store.CopyRequest) (store.CopyResult, error) {
	return s.copyMessages(ctx, r, true)
}

func (s *Store) copyMessages(ctx context.Context, r store.CopyRequest, move bool) (store.CopyResult, error) {
	src, dst := ref(r.Account, r.From), ref(r.Account, r.To)
	action := "copying"
	if move {
		action = "moving"
	}
	var res store.CopyResult
	err := s.do(ctx, func(tx *wtx) error {
		res = store.CopyResult{}
		from, err := tx.folder(src)
		if err != nil {
			return err
		}
		to := from
		if dst.Folder != src.Folder {
			if to, err = tx.folder(dst); err != nil {
				return err
			}
		}
		msgs, err := tx.selectMessages(from, r.UIDs)
		if err != nil {
			return err
		}
		res.DestUIDValidity = to.uidValidity
		if len(msgs) == 0 {
			return nil
		}
		if !move {
			var size int64
			for _, m := range msgs {
				size += m.Size
			}
			if err := checkQuota(to.usage, size, r.QuotaBytes); err != nil {
				return err
			}
		}
		modSeq := to.highestModSeq + 1
		for _, m := range msgs {
			uid, err := tx.addMessage(to, newMessage{flags: m.Flags, size: m.Size, date: m.InternalDate, bodyID: m.bodyID}, modSeq)
			if err != nil {
				return err
			}
			res.SourceUIDs = append(res.SourceUIDs, m.UID)
			res.DestUIDs = append(res.DestUIDs, uid)
		}
		tx.emit(store.Event{Kind: store.EventMessagesAdded, Account: dst.Account, Folder: dst.Folder,
			UIDValidity: to.uidValidity, ModSeq: modSeq, UIDs: res.DestUIDs})
		if move {
			_, err := tx.expunge(from, res.SourceUIDs)
			return err
		}
		return nil
	})
	if err != nil {
		return store.CopyResult{}, fmt.Errorf("%s messages from %s to %q: %w", action, src, dst.Folder, err)
	}
	return res, nil
}
