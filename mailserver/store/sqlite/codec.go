package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
)

// folderRow is a folder as the writer sees it inside the batch transaction.
type folderRow struct {
	ref           store.FolderRef
	accountID     int64
	usage         int64
	id            int64
	uidValidity   uint32
	uidNext       store.UID
	highestModSeq store.ModSeq
}

// folder looks up a folder in the write transaction.
func (tx *wtx) folder(ref store.FolderRef) (*folderRow, error) {
	f := &folderRow{ref: ref}
	// Typed destinations: database/sql checks the int64 columns' range.
	var id sql.Null[int64]
	var uidValidity sql.Null[uint32]
	var uidNext sql.Null[store.UID]
	var modSeq sql.Null[store.ModSeq]
	err := tx.w.lookupFolder.QueryRowContext(tx.ctx, ref.Folder, ref.Account).
		Scan(&f.accountID, &f.usage, &id, &uidValidity, &uidNext, &modSeq)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, store.ErrAccountNotFound
	case err != nil:
		return nil, fmt.Errorf("looking up folder: %w", err)
	case !id.Valid:
		return nil, store.ErrFolderNotFound
	}
	f.id, f.uidValidity, f.uidNext, f.highestModSeq = id.V, uidValidity.V, uidNext.V, modSeq.V
	return f, nil
}

// accountID looks up an account in the write transaction.
func (tx *wtx) accountID(account string) (int64, error) {
	var id int64
	err := tx.queryRow(`SELECT id FROM accounts WHERE address = ?`, account).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, store.ErrAccountNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("looking up account: %w", err)
	}
	return id, nil
}

func (tx *wtx) exec(query string, args ...any) (sql.Result, error) {
	return tx.w.conn.ExecContext(tx.ctx, query, args...)
}

func (tx *wtx) queryRow(query string, args ...any) *sql.Row {
	return tx.w.conn.QueryRowContext(tx.ctx, query, args...)
}

// newUIDValidity allocates a UIDVALIDITY never handed out before in this
// database: the larger of the last one plus one and the current Unix time,
// so a database re-created from scratch also tends not to repeat values.
func (tx *wtx) newUIDValidity() (uint32, error) {
	var v uint32 // scanning fails if the counter outgrew uint32
	err := tx.queryRow(`INSERT INTO counters (name, value) VALUES ('uidvalidity', ?)
		ON CONFLICT (name) DO UPDATE SET value = max(value + 1, excluded.value)
		RETURNING value`, max(tx.now.Unix(), 1)).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("allocating UIDVALIDITY: %w", err)
	}
	if v == 0 {
		return 0, errors.New("allocating UIDVALIDITY: counter is zero")
	}
	return v, nil
}

// storedMessage is a message row read by the writer.
type storedMessage struct {
	store.MessageMeta
	bodyID int64
}

// selectMessages reads the messages of f in uids, in UID order.
func (tx *wtx) selectMessages(f *folderRow, uids store.UIDSet) ([]storedMessage, error) {
	lo, hi, ok := uids.Bounds()
	if !ok {
		return nil, nil
	}
	rows, err := tx.w.selectRange.QueryContext(tx.ctx, f.id, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("selecting messages: %w", err)
	}
	defer rows.Close()
	zones := zoneCache{}
	var out []storedMessage
	for rows.Next() {
		var m storedMessage
		var meta sql.RawBytes
		if err := rows.Scan(&meta, &m.bodyID); err != nil {
			return nil, fmt.Errorf("selecting messages: %w", err)
		}
		if m.MessageMeta, err = decodeMeta(meta, zones); err != nil {
			return nil, fmt.Errorf("selecting messages in %s: %w", f.ref, err)
		}
		if uids.Contains(m.UID) {
			out = append(out, m)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("selecting messages: %w", err)
	}
	return out, nil
}

// newMessage is a message row to insert.
type newMessage struct {
	flags  store.Flags
	size   int64
	date   time.Time
	bodyID int64
}

// addMessage inserts m into f with the next UID and the given mod-sequence;
// the insert trigger advances the folder's uidnext and highestmodseq and the
// counters, and f is updated to match.
func (tx *wtx) addMessage(f *folderRow, m newMessage, modSeq store.ModSeq) (store.UID, error) {
	uid := f.uidNext
	if uid == 0 || uid == store.MaxUID {
		return 0, fmt.Errorf("adding message to %s: folder has run out of UIDs", f.ref)
	}
	meta := encodeMeta(store.MessageMeta{UID: uid, ModSeq: modSeq, Flags: m.flags, Size: m.size, InternalDate: m.date})
	_, err := tx.w.insertMessage.ExecContext(tx.ctx, f.id, uid, modSeq,
		m.flags.System, m.size, meta, m.bodyID)
	if err != nil {
		return 0, fmt.Errorf("adding message to %s: %w", f.ref, err)
	}
	if err := tx.listPut(f.id, uid, entryHead(m.flags), meta); err != nil {
		return 0, fmt.Errorf("adding message to %s: %w", f.ref, err)
	}
	f.uidNext = uid + 1
	f.highestModSeq = max(f.highestModSeq, modSeq)
	f.usage += m.size
	return uid, nil
}

// bumpModSeq gives f a new mod-sequence for a flag change or expunge.
func (tx *wtx) bumpModSeq(f *folderRow) (store.ModSeq, error) {
	next := f.highestModSeq + 1
	if _, err := tx.w.setModSeq.ExecContext(tx.ctx, next, f.id); err != nil {
		return 0, fmt.Errorf("advancing mod-sequence of %s: %w", f.ref, err)
	}
	f.highestModSeq = next
	return next, nil
}

// checkQuota reports ErrOverQuota when adding size bytes exceeds quota.
func checkQuota(usage, size, quota int64) error {
	if quota > 0 && usage+size > quota {
		return store.ErrOverQuota
	}
	return nil
}

// ref normalizes a folder reference.
func ref(account, folder string) store.FolderRef {
	return store.FolderRef{Account: mail.Fold(account), Folder: store.NormalizeFolder(folder)}
}
