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
	} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
