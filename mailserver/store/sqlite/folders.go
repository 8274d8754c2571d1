package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/kubemail/kubemail/mailserver/store"
)

// CreateFolder implements store.FolderStore.
func (s *Store) CreateFolder(ctx context.Context, f store.FolderRef, opts store.CreateFolderOptions) error {
	f = ref(f.Account, f.Folder)
	if err := store.ValidateFolderName(f.Folder); err != nil {
		return fmt.Errorf("creating folder %s: %w", f, err)
	}
	if !opts.SpecialUse.Valid() {
		return fmt.Errorf("creating folder %s: unknown special use %q: %w", f, opts.SpecialUse, store.ErrInvalidArgument)
	}
	err := s.do(ctx, func(tx *wtx) error {
		accountID, err := tx.accountID(f.Account)
		if err != nil {
			return err
		}
		if exists, err := tx.folderExists(accountID, f.Folder); err != nil {
			return err
		} else if exists {
			return store.ErrFolderExists
		}
		if err := tx.createSuperiors(accountID, f); err != nil {
			return err
		}
		return tx.createFolder(accountID, f, opts)
	})
	if err != nil {
		return fmt.Errorf("creating folder %s: %w", f, err)
	}
	return nil
}

// DeleteFolder implements store.FolderStore.
func (s *Store) DeleteFolder(ctx context.Context, f store.FolderRef) error {
	f = ref(f.Account, f.Folder)
	if f.Folder == store.Inbox {
		return fmt.Errorf("deleting folder %s: %w", f, store.ErrFolderProtected)
	}
	err := s.do(ctx, func(tx *wtx) error {
		row, err := tx.folder(f)
		if err != nil {
			return err
		}
		children, err := tx.inferiors(row.accountID, f.Folder)
		if err != nil {
			return err
		}
		if len(children) > 0 {
			return store.ErrFolderHasChildren
		}
		// Messages first, so the delete trigger still finds the folder and
		// the account to release usage; tombstones and the listing go by
		// cascade.
		if _, err := tx.exec(`DELETE FROM messages WHERE folder_id = ?`, row.id); err != nil {
			return fmt.Errorf("deleting messages: %w", err)
		}
		if _, err := tx.exec(`DELETE FROM folders WHERE id = ?`, row.id); err != nil {
			return fmt.Errorf("deleting folder row: %w", err)
		}
		tx.emit(store.Event{Kind: store.EventFolderDeleted, Account: f.Account, Folder: f.Folder, UIDValidity: row.uidValidity})
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting folder %s: %w", f, err)
	}
	return nil
}

// RenameFolder implements store.FolderStore.
func (s *Store) RenameFolder(ctx context.Context, account, from, to string) error {
	src, dst := ref(account, from), ref(account, to)
	wrap := func(err error) error { return fmt.Errorf("renaming folder %s to %q: %w", src, dst.Folder, err) }
	for _, name := range []string{src.Folder, dst.Folder} {
		if err := store.ValidateFolderName(name); err != nil {
			return wrap(err)
		}
	}
	if src.Folder != store.Inbox && strings.HasPrefix(dst.Folder, src.Folder+store.Delimiter) {
		return wrap(fmt.Errorf("new name is inside the folder: %w", store.ErrInvalidArgument))
	}
	err := s.do(ctx, func(tx *wtx) error {
		row, err := tx.folder(src)
		if err != nil {
			return err
		}
		if exists, err := tx.folderExists(row.accountID, dst.Folder); err != nil {
			return err
		} else if exists {
			return store.ErrFolderExists
		}
		if src.Folder == store.Inbox {
			return tx.renameInbox(row, dst)
		}
		return tx.renameTree(row, dst)
	})
	if err != nil {
		return wrap(err)
	}
	return nil
}

// renameTree renames the folder and its inferiors.
func (tx *wtx) renameTree(row *folderRow, dst store.FolderRef) error {
	children, err := tx.inferiors(row.accountID, row.ref.Folder)
	if err != nil {
		return err
	}
	type rename struct {
		id          int64
		old, new    string
		uidValidity uint32
	}
	renames := []rename{{row.id, row.ref.Folder, dst.Folder, row.uidValidity}}
	for _, c := range children {
		n := dst.Folder + strings.TrimPrefix(c.name, row.ref.Folder)
		if exists, err := tx.folderExists(row.accountID, n); err != nil {
			return err
		} else if exists {
			return store.ErrFolderExists
		}
		renames = append(renames, rename{c.id, c.name, n, c.uidValidity})
	}
	if err := tx.createSuperiors(row.accountID, dst); err != nil {
		return err
	}
	for _, r := range renames {
		if _, err := tx.exec(`UPDATE folders SET name = ? WHERE id = ?`, r.new, r.id); err != nil {
			return fmt.Errorf("renaming %q: %w", r.old, err)
		}
		tx.emit(store.Event{Kind: store.EventFolderRenamed, Account: dst.Account,
			Folder: r.new, OldFolder: r.old, UIDValidity: r.uidValidity})
	}
	return nil
}

// renameInbox moves INBOX's messages, with their UIDs, into a new folder
// (which has its own UIDVALIDITY) and leaves INBOX empty; for INBOX the
// messages are expunged, with tombstones (RFC 9051 §6.3.6).
func (tx *wtx) renameInbox(inbox *folderRow, dst store.FolderRef) error {
	if err := tx.createSuperiors(inbox.accountID, dst); err != nil {
		return err
	}
	if err := tx.createFolder(inbox.accountID, dst, store.CreateFolderOptions{}); err != nil {
		return err
	}
	moved, err := tx.folder(dst)
	if err != nil {
		return err
	}
	uids, err := tx.allUIDs(inbox.id)
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		return nil
	}
	modSeq, err := tx.bumpModSeq(inbox)
	if err != nil {
		return err
	}
	steps := []struct {
		what  string
		query string
		args  []any
	}{
		{"recording tombstones", `INSERT OR REPLACE INTO expunged (folder_id, uid, modseq)
			SELECT folder_id, uid, ? FROM messages WHERE folder_id = ?`, []any{modSeq, inbox.id}},
		{"moving messages", `UPDATE messages SET folder_id = ? WHERE folder_id = ?`, []any{moved.id, inbox.id}},
		{"moving the listing", `UPDATE listing SET folder_id = ? WHERE folder_id = ?`, []any{moved.id, inbox.id}},
		{"moving counters", `UPDATE folders SET (messages, unseen, size, uidnext, highestmodseq) =
			(SELECT messages, unseen, size, uidnext, highestmodseq FROM folders WHERE id = ?) WHERE id = ?`,
			[]any{inbox.id, moved.id}},
		{"emptying INBOX", `UPDATE folders SET messages = 0, unseen = 0, size = 0 WHERE id = ?`, []any{inbox.id}},
	}
	for _, st := range steps {
		if _, err := tx.exec(st.query, st.args...); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	tx.emit(store.Event{Kind: store.EventExpunged, Account: dst.Account, Folder: store.Inbox,
		UIDValidity: inbox.uidValidity, ModSeq: modSeq, UIDs: uids})
	return nil
}

// SetSubscribed implements store.FolderStore.
func (s *Store) SetSubscribed(ctx context.Context, f store.FolderRef, subscribed bool) error {
	f = ref(f.Account, f.Folder)
	err := s.do(ctx, func(tx *wtx) error {
		row, err := tx.folder(f)
		if err != nil {
			return err
		}
		if _, err := tx.exec(`UPDATE folders SET subscribed = ? WHERE id = ?`, subscribed, row.id); err != nil {
			return fmt.Errorf("updating folder row: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("setting subscription of %s: %w", f, err)
	}
	return nil
}

// createFolder inserts a folder with a fresh UIDVALIDITY.
func (tx *wtx) createFolder(accountID int64, f store.FolderRef, opts store.CreateFolderOptions) error {
	uidValidity, err := tx.newUIDValidity()
	if err != nil {
		return err
	}
	if _, err := tx.exec(`INSERT INTO folders (account_id, name, special_use, subscribed, uidvalidity)
		VALUES (?, ?, ?, ?, ?)`, accountID, f.Folder, string(opts.SpecialUse), opts.Subscribed, int64(uidValidity)); err != nil {
		return fmt.Errorf("inserting folder %q: %w", f.Folder, err)
	}
	tx.emit(store.Event{Kind: store.EventFolderCreated, Account: f.Account, Folder: f.Folder,
		UIDValidity: uidValidity, ModSeq: 1})
	return nil
}

// createSuperiors creates the missing superior folders of f ("a" and "a/b"
// for "a/b/c").
func (tx *wtx) createSuperiors(accountID int64, f store.FolderRef) error {
	for i := 0; i < len(f.Folder); i++ {
		if f.Folder[i] != store.Delimiter[0] {
			continue
		}
		sup := store.FolderRef{Account: f.Account, Folder: store.NormalizeFolder(f.Folder[:i])}
		exists, err := tx.folderExists(accountID, sup.Folder)
		if err != nil {
			return err
		}
		if !exists {
			if err := tx.createFolder(accountID, sup, store.CreateFolderOptions{}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (tx *wtx) folderExists(accountID int64, name string) (bool, error) {
	var one int
	err := tx.queryRow(`SELECT 1 FROM folders WHERE account_id = ? AND name = ?`, accountID, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking up folder %q: %w", name, err)
	}
	return true, nil
}

type childFolder struct {
	id          int64
	name        string
	uidValidity uint32
}

// inferiors lists the folders below name. Names are compared bytewise, and
// every name starting with "name/" sorts between "name/" and "name0" ('0'
// follows '/').
func (tx *wtx) inferiors(accountID int64, name string) ([]childFolder, error) {
	rows, err := tx.w.conn.QueryContext(tx.ctx,
		`SELECT id, name, uidvalidity FROM folders WHERE account_id = ? AND name >= ? AND name < ? ORDER BY name`,
		accountID, name+store.Delimiter, name+"0")
	if err != nil {
		return nil, fmt.Errorf("listing inferiors of %q: %w", name, err)
	}
	defer rows.Close()
	var out []childFolder
	for rows.Next() {
		var c childFolder
		if err := rows.Scan(&c.id, &c.name, &c.uidValidity); err != nil {
			return nil, fmt.Errorf("listing inferiors of %q: %w", name, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (tx *wtx) allUIDs(folderID int64) ([]store.UID, error) {
	rows, err := tx.w.conn.QueryContext(tx.ctx,
		`SELECT uid FROM messages WHERE folder_id = ? ORDER BY uid`, folderID)
	if err != nil {
		return nil, fmt.Errorf("listing UIDs: %w", err)
	}
	defer rows.Close()
	var out []store.UID
	for rows.Next() {
		var u store.UID
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("listing UIDs: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
