package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// writeStmts are the writer connection's prepared statements for the hot
// paths; rarer writes use ad-hoc statements on the same connection.
type writeStmts struct {
	conn *sql.Conn

	begin, commit, rollback                        *sql.Stmt
	savepointOp, releaseOp, rollbackOp             *sql.Stmt
	savepointTarget, releaseTarget, rollbackTarget *sql.Stmt

	lookupFolder  *sql.Stmt
	insertBody    *sql.Stmt
	insertMessage *sql.Stmt
	selectRange   *sql.Stmt
	updateFlags   *sql.Stmt
	setModSeq     *sql.Stmt
	deleteMessage *sql.Stmt
	tombstone     *sql.Stmt
	selectChunk   *sql.Stmt
	insertChunk   *sql.Stmt
	updateChunk   *sql.Stmt
	deleteChunk   *sql.Stmt
	insertHeader  *sql.Stmt
}

func prepareWriteStmts(ctx context.Context, conn *sql.Conn) (*writeStmts, error) {
	w := &writeStmts{conn: conn}
	list := []struct {
		dst   **sql.Stmt
		query string
	}{
		{&w.begin, `BEGIN IMMEDIATE`},
		{&w.commit, `COMMIT`},
		{&w.rollback, `ROLLBACK`},
		{&w.savepointOp, `SAVEPOINT op`},
		{&w.releaseOp, `RELEASE op`},
		{&w.rollbackOp, `ROLLBACK TO op`},
		{&w.savepointTarget, `SAVEPOINT target`},
		{&w.releaseTarget, `RELEASE target`},
		{&w.rollbackTarget, `ROLLBACK TO target`},
		// One row when the account exists; folder columns are NULL when
		// the folder does not.
		{&w.lookupFolder, `SELECT a.id, a.usage_bytes, f.id, f.uidvalidity, f.uidnext, f.highestmodseq
			FROM accounts a LEFT JOIN folders f ON f.account_id = a.id AND f.name = ?
			WHERE a.address = ?`},
		{&w.insertBody, `INSERT INTO bodies (data) VALUES (?)`},
		{&w.insertMessage, `INSERT INTO messages
			(folder_id, uid, modseq, flags, size, meta, body_id)
			VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{&w.selectRange, `SELECT meta, body_id FROM messages
			WHERE folder_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`},
		{&w.updateFlags, `UPDATE messages SET flags = ?, modseq = ?, meta = ? WHERE folder_id = ? AND uid = ?`},
		{&w.setModSeq, `UPDATE folders SET highestmodseq = ? WHERE id = ?`},
		{&w.deleteMessage, `DELETE FROM messages WHERE folder_id = ? AND uid = ?`},
		{&w.tombstone, `INSERT OR REPLACE INTO expunged (folder_id, uid, modseq) VALUES (?, ?, ?)`},
		{&w.selectChunk, `SELECT data FROM listing WHERE folder_id = ? AND chunk = ?`},
		{&w.insertChunk, `INSERT INTO listing (folder_id, chunk, data) VALUES (?, ?, ?)`},
		{&w.updateChunk, `UPDATE listing SET data = ? WHERE folder_id = ? AND chunk = ?`},
		{&w.deleteChunk, `DELETE FROM listing WHERE folder_id = ? AND chunk = ?`},
		{&w.insertHeader, `INSERT INTO headers (body_id, data) VALUES (?, ?)`},
	}
	for _, p := range list {
		st, err := conn.PrepareContext(ctx, p.query)
		if err != nil {
			_ = w.close()
			return nil, fmt.Errorf("preparing %q: %w", p.query, err)
		}
		*p.dst = st
	}
	return w, nil
}

func (w *writeStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{
		w.begin, w.commit, w.rollback,
		w.savepointOp, w.releaseOp, w.rollbackOp,
		w.savepointTarget, w.releaseTarget, w.rollbackTarget,
		w.lookupFolder, w.insertBody, w.insertMessage, w.selectRange,
		w.updateFlags, w.setModSeq, w.deleteMessage, w.tombstone,
		w.selectChunk, w.insertChunk, w.updateChunk, w.deleteChunk, w.insertHeader,
	} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// readStmts are the read pool's prepared statements. database/sql prepares
// a statement on each read connection at its first use there and keeps it,
// so a read never parses SQL again: with modernc.org/sqlite, preparing costs
// more than running a one-row query.
type readStmts struct {
	status   *sql.Stmt // a folder's id and status by account address and name
	account  *sql.Stmt // whether an account exists
	folders  *sql.Stmt // an account's folders with their status
	listing  *sql.Stmt // listing chunks of a chunk range
	body     *sql.Stmt // one body by account, folder and UID
	headers  *sql.Stmt // UIDs with their header sections, or a bounded prefix of their bodies
	fullBody *sql.Stmt // one body stored whole, by folder id and UID
	vanished *sql.Stmt // tombstones of a UID range
}

func prepareReadStmts(ctx context.Context, db *sql.DB) (*readStmts, error) {
	r := &readStmts{}
	list := []struct {
		dst   **sql.Stmt
		query string
	}{
		{&r.status, `SELECT ` + statusColumns + `
			FROM folders f JOIN accounts a ON a.id = f.account_id
			WHERE a.address = ? AND f.name = ?`},
		{&r.account, `SELECT 1 FROM accounts WHERE address = ?`},
		{&r.folders, `SELECT f.name, f.special_use, f.subscribed, ` + statusColumns + `
			FROM folders f JOIN accounts a ON a.id = f.account_id
			WHERE a.address = ? ORDER BY f.name`},
		{&r.listing, `SELECT data FROM listing WHERE folder_id = ? AND chunk BETWEEN ? AND ? ORDER BY chunk`},
		{&r.body, `SELECT h.data, b.data FROM accounts a
			JOIN folders f ON f.account_id = a.id
			JOIN messages m ON m.folder_id = f.id
			JOIN bodies b ON b.id = m.body_id
			LEFT JOIN headers h ON h.body_id = m.body_id
			WHERE a.address = ? AND f.name = ? AND m.uid = ?`},
		// A body stored whole (before schema version 3) has no headers
		// row: its prefix is read instead; substr of a BLOB counts bytes.
		{&r.headers, `SELECT m.uid, h.body_id IS NOT NULL, h.data,
				CASE WHEN h.body_id IS NULL THEN (SELECT substr(b.data, 1, ?) FROM bodies b WHERE b.id = m.body_id) END
			FROM messages m LEFT JOIN headers h ON h.body_id = m.body_id
			WHERE m.folder_id = ? AND m.uid BETWEEN ? AND ? ORDER BY m.uid`},
		{&r.fullBody, `SELECT b.data FROM messages m JOIN bodies b ON b.id = m.body_id
			WHERE m.folder_id = ? AND m.uid = ?`},
		{&r.vanished, `SELECT uid FROM expunged
			WHERE folder_id = ? AND uid BETWEEN ? AND ? AND modseq > ? ORDER BY uid`},
	}
	for _, p := range list {
		st, err := db.PrepareContext(ctx, p.query)
		if err != nil {
			_ = r.close()
			return nil, fmt.Errorf("preparing %q: %w", p.query, err)
		}
		*p.dst = st
	}
	return r, nil
}

func (r *readStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{r.status, r.account, r.folders, r.listing, r.body, r.headers, r.fullBody, r.vanished} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// in returns st to run in tx, or on the pool when tx is nil. A statement
// already prepared on the transaction's connection is reused.
func in(ctx context.Context, tx *sql.Tx, st *sql.Stmt) *sql.Stmt {
	if tx == nil {
		return st
	}
	return tx.StmtContext(ctx, st)
}
