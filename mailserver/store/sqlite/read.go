package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
)

const statusColumns = `f.id, f.uidvalidity, f.uidnext, f.highestmodseq, f.messages, f.unseen, f.size`

// readStatus looks up a folder's id and status, in tx or, when tx is nil,
// on the pool; a missing folder is told apart from a missing account.
func (r *readStmts) readStatus(ctx context.Context, tx *sql.Tx, f store.FolderRef) (int64, store.FolderStatus, error) {
	var id int64
	var st store.FolderStatus
	err := in(ctx, tx, r.status).QueryRowContext(ctx, f.Account, f.Folder).Scan(statusDest(&id, &st)...)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, st, r.missing(ctx, tx, f.Account)
	}
	if err != nil {
		return 0, st, err
	}
	return id, st, nil
}

// statusDest returns the scan destinations of statusColumns. The typed
// destinations make database/sql check the int64 columns' range.
func statusDest(id *int64, st *store.FolderStatus) []any {
	return []any{id, &st.UIDValidity, &st.UIDNext, &st.HighestModSeq, &st.Messages, &st.Unseen, &st.Size}
}

// missing returns ErrFolderNotFound, or ErrAccountNotFound when the
// account does not exist either.
func (r *readStmts) missing(ctx context.Context, tx *sql.Tx, account string) error {
	var one int
	err := in(ctx, tx, r.account).QueryRowContext(ctx, account).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrAccountNotFound
	case err != nil:
		return err
	}
	return store.ErrFolderNotFound
}

// FolderStatus implements store.FolderStore.
func (s *Store) FolderStatus(ctx context.Context, f store.FolderRef) (store.FolderStatus, error) {
	f = ref(f.Account, f.Folder)
	if err := s.readable(); err != nil {
		return store.FolderStatus{}, fmt.Errorf("reading status of %s: %w", f, err)
	}
	_, st, err := s.r.readStatus(ctx, nil, f)
	if err != nil {
		return store.FolderStatus{}, fmt.Errorf("reading status of %s: %w", f, err)
	}
	return st, nil
}

// ListFolders implements store.FolderStore.
func (s *Store) ListFolders(ctx context.Context, account string) ([]store.Folder, error) {
	account = mail.Fold(account)
	out, err := s.listFolders(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("listing folders of %s: %w", account, err)
	}
	return out, nil
}

func (s *Store) listFolders(ctx context.Context, account string) ([]store.Folder, error) {
	if err := s.readable(); err != nil {
		return nil, err
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	rows, err := in(ctx, tx, s.r.folders).QueryContext(ctx, account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Folder
	for rows.Next() {
		var fo store.Folder
		var special string
		var id int64
		if err := rows.Scan(append([]any{&fo.Name, &special, &fo.Subscribed}, statusDest(&id, &fo.Status)...)...); err != nil {
			return nil, err
		}
		fo.SpecialUse = store.SpecialUse(special)
		out = append(out, fo)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		// No rows: an unknown account is an error, an account without
		// folders is not.
		if err := s.r.missing(ctx, tx, account); !errors.Is(err, store.ErrFolderNotFound) {
			return nil, err
		}
	}
	return out, nil
}

// Body implements store.MessageStore with one prepared statement, which
// joins the header section kept apart (headers.go) to the rest. The blobs
// are scanned as sql.RawBytes: modernc.org/sqlite hands each row freshly
// allocated slices, so a body stored whole is copied once, out of SQLite,
// and then owned by the caller (TestBodyIsOwnedByCaller guards this); a
// split one is copied once more, into one slice.
func (s *Store) Body(ctx context.Context, f store.FolderRef, uid store.UID) ([]byte, error) {
	f = ref(f.Account, f.Folder)
	body, err := s.body(ctx, f, uid)
	if err != nil {
		return nil, fmt.Errorf("reading body of UID %d in %s: %w", uid, f, err)
	}
	return body, nil
}

func (s *Store) body(ctx context.Context, f store.FolderRef, uid store.UID) ([]byte, error) {
	if err := s.readable(); err != nil {
		return nil, err
	}
	rows, err := s.r.body.QueryContext(ctx, f.Account, f.Folder, uid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if _, _, err := s.r.readStatus(ctx, nil, f); err != nil {
			return nil, err
		}
		return nil, store.ErrMessageNotFound
	}
	var header, text sql.RawBytes
	if err := rows.Scan(&header, &text); err != nil {
		return nil, err
	}
	body := []byte(text)
	if len(header) > 0 {
		body = make([]byte, len(header)+len(text))
		copy(body[copy(body, header):], text)
	}
	if body == nil {
		body = []byte{}
	}
	return body, rows.Close()
}

// Vanished implements store.MessageStore.
func (s *Store) Vanished(ctx context.Context, f store.FolderRef, since store.ModSeq, uids store.UIDSet) ([]store.UID, error) {
	f = ref(f.Account, f.Folder)
	out, err := s.vanished(ctx, f, since, uids)
	if err != nil {
		return nil, fmt.Errorf("listing vanished UIDs of %s: %w", f, err)
	}
	return out, nil
}

func (s *Store) vanished(ctx context.Context, f store.FolderRef, since store.ModSeq, uids store.UIDSet) ([]store.UID, error) {
	if err := s.readable(); err != nil {
		return nil, err
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	id, _, err := s.r.readStatus(ctx, tx, f)
	if err != nil {
		return nil, err
	}
	lo, hi, ok := uids.Bounds()
	if !ok {
		return nil, nil
	}
	rows, err := in(ctx, tx, s.r.vanished).QueryContext(ctx, id, lo, hi, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.UID
	for rows.Next() {
		var u store.UID
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		if uids.Contains(u) {
			out = append(out, u)
		}
	}
	return out, rows.Err()
}
