package sqlite

import (
	"context"
	"fmt"

	"github.com/kubemail/kubemail/mailserver/store"
)

// UpdateFlags implements store.MessageStore. Messages whose flags would not
// change keep their mod-sequence; all changed messages share one new
// mod-sequence (RFC 7162 §3.1.3).
func (s *Store) UpdateFlags(ctx context.Context, u store.FlagUpdate) (store.FlagUpdateResult, error) {
	f := ref(u.Folder.Account, u.Folder.Folder)
	flags := u.Flags.Normalize()
	if err := flags.Validate(); err != nil {
		return store.FlagUpdateResult{}, fmt.Errorf("updating flags in %s: %w", f, err)
	}
	if u.Op < store.FlagsAdd || u.Op > store.FlagsReplace {
		return store.FlagUpdateResult{}, fmt.Errorf("updating flags in %s: unknown operation %d: %w",
			f, u.Op, store.ErrInvalidArgument)
	}
	var res store.FlagUpdateResult
	err := s.do(ctx, func(tx *wtx) error {
		res = store.FlagUpdateResult{}
		row, err := tx.folder(f)
		if err != nil {
			return err
		}
		msgs, err := tx.selectMessages(row, u.UIDs)
		if err != nil {
			return err
		}
		type change struct {
			i    int // index in res.Messages
			meta store.MessageMeta
		}
		var changed []change
		for _, m := range msgs {
			if u.UnchangedSince != 0 && m.ModSeq > u.UnchangedSince {
				res.Modified = append(res.Modified, m.UID)
				continue
			}
			next := applyFlags(m.Flags, u.Op, flags)
			if !next.Equal(m.Flags) {
				m.Flags = next
				changed = append(changed, change{len(res.Messages), m.MessageMeta})
			}
			res.Messages = append(res.Messages, store.FlagState{UID: m.UID, ModSeq: m.ModSeq, Flags: next})
		}
		if len(changed) == 0 {
			return nil
		}
		modSeq, err := tx.bumpModSeq(row)
		if err != nil {
			return err
		}
		res.ModSeq = modSeq
		states := make([]store.FlagState, 0, len(changed))
		for _, c := range changed {
			m := c.meta
			m.ModSeq = modSeq
			res.Messages[c.i].ModSeq = modSeq
			meta := encodeMeta(m)
			_, err := tx.w.updateFlags.ExecContext(tx.ctx, m.Flags.System, modSeq, meta, row.id, m.UID)
			if err == nil {
				err = tx.listPut(row.id, m.UID, entryHead(m.Flags), meta)
			}
			if err != nil {
				return fmt.Errorf("updating flags of UID %d: %w", m.UID, err)
			}
			states = append(states, store.FlagState{UID: m.UID, ModSeq: modSeq, Flags: m.Flags})
		}
		tx.emit(store.Event{Kind: store.EventFlagsChanged, Account: f.Account, Folder: f.Folder,
			UIDValidity: row.uidValidity, ModSeq: modSeq, Flags: states})
		return nil
	})
	if err != nil {
		return store.FlagUpdateResult{}, fmt.Errorf("updating flags in %s: %w", f, err)
	}
	return res, nil
}

func applyFlags(cur store.Flags, op store.FlagOp, f store.Flags) store.Flags {
	switch op {
	case store.FlagsAdd:
		return cur.Union(f)
	case store.FlagsRemove:
		return cur.Minus(f)
	default:
		return f
	}
}
