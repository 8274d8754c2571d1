package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// listingSchema is migration 3: the listing (listing.go) and the header
// sections (headers.go). A headers row exists exactly for the bodies whose
// data has been split: bodies.data then holds what follows the header.
const listingSchema = `
CREATE TABLE listing (
	folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
	chunk     INTEGER NOT NULL,
	data      BLOB NOT NULL,
	PRIMARY KEY (folder_id, chunk)
);

CREATE TABLE headers (
	body_id INTEGER PRIMARY KEY REFERENCES bodies(id) ON DELETE CASCADE,
	data    BLOB NOT NULL
);
`

// backfillListing writes the listing of every existing message, one folder
// at a time, from the meta BLOBs the messages table already holds.
func backfillListing(ctx context.Context, conn *sql.Conn) error {
	folders, err := folderIDs(ctx, conn)
	if err != nil {
		return err
	}
	for _, id := range folders {
		if err := backfillFolderListing(ctx, conn, id); err != nil {
			return fmt.Errorf("filling the listing of folder %d: %w", id, err)
		}
	}
	return nil
}

func folderIDs(ctx context.Context, conn *sql.Conn) ([]int64, error) {
	rows, err := conn.QueryContext(ctx, `SELECT id FROM folders ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing folders: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("listing folders: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func backfillFolderListing(ctx context.Context, conn *sql.Conn, folder int64) error {
	chunks := map[int64][]byte{}
	var order []int64
	rows, err := conn.QueryContext(ctx, `SELECT uid, meta FROM messages WHERE folder_id = ? ORDER BY uid`, folder)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var uid int64
		var meta []byte
		if err := rows.Scan(&uid, &meta); err != nil {
			return err
		}
		c := uid >> chunkShift
		if _, ok := chunks[c]; !ok {
			order = append(order, c)
		}
		flags, keywords, err := indexFields(meta)
		if err != nil {
			return fmt.Errorf("UID %d: %w", uid, err)
		}
		head := byte(flags)
		if len(keywords) > 0 {
			head |= entryKeywords
		}
		chunks[c] = appendEntry(chunks[c], head, meta)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, c := range order {
		if _, err := conn.ExecContext(ctx, `INSERT INTO listing (folder_id, chunk, data) VALUES (?, ?, ?)`,
			folder, c, chunks[c]); err != nil {
			return err
		}
	}
	return nil
}
