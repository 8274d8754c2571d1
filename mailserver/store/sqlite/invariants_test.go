package sqlite

import (
	"bytes"
	"database/sql"
	"path/filepath"
	"testing"
)

// checkInvariants opens the database in dir on its own (the store may be
// closed) and checks what the triggers and the writer must keep true: the
// counters in rows equal what they count, body reference counts are exact,
// every meta BLOB agrees with its row, the listing holds exactly the
// messages' meta, and SQLite finds no corruption.
func checkInvariants(t testing.TB, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, FileName)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatalf("opening database for checks: %v", err)
	}
	defer db.Close()
	checks := map[string]string{
		"folder counters match their messages": `
			SELECT f.id FROM folders f WHERE
				f.messages != (SELECT count(*) FROM messages m WHERE m.folder_id = f.id) OR
				f.unseen != (SELECT count(*) FROM messages m WHERE m.folder_id = f.id AND (m.flags & 1) = 0) OR
				f.size != (SELECT coalesce(sum(size), 0) FROM messages m WHERE m.folder_id = f.id)`,
		"UIDNEXT is above every UID, live or expunged": `
			SELECT f.id FROM folders f WHERE
				f.uidnext <= (SELECT coalesce(max(uid), 0) FROM messages m WHERE m.folder_id = f.id) OR
				f.uidnext <= (SELECT coalesce(max(uid), 0) FROM expunged x WHERE x.folder_id = f.id)`,
		"HIGHESTMODSEQ is at least every mod-sequence": `
			SELECT f.id FROM folders f WHERE
				f.highestmodseq < (SELECT coalesce(max(modseq), 0) FROM messages m WHERE m.folder_id = f.id) OR
				f.highestmodseq < (SELECT coalesce(max(modseq), 0) FROM expunged x WHERE x.folder_id = f.id)`,
		"account usage matches its messages": `
			SELECT a.id FROM accounts a WHERE
				a.usage_count != (SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.account_id = a.id) OR
				a.usage_bytes != (SELECT coalesce(sum(m.size), 0) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.account_id = a.id)`,
		"body reference counts are exact and no body is orphaned": `
			SELECT b.id FROM bodies b WHERE b.refs != (SELECT count(*) FROM messages m WHERE m.body_id = b.id) OR b.refs <= 0`,
		"every message has its body": `
			SELECT m.uid FROM messages m LEFT JOIN bodies b ON b.id = m.body_id WHERE b.id IS NULL`,
		"no tombstone hides a live message": `
			SELECT x.uid FROM expunged x JOIN messages m ON m.folder_id = x.folder_id AND m.uid = x.uid`,
	}
	for what, query := range checks {
		var bad []int64
		rows, err := db.Query(query)
		if err != nil {
			t.Fatalf("checking that %s: %v", what, err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatalf("checking that %s: %v", what, err)
			}
			bad = append(bad, id)
		}
		rows.Close()
		if len(bad) > 0 {
			t.Errorf("invariant broken, not every %s: ids %v", what, bad)
		}
	}
	checkMeta(t, db)
	checkListing(t, db)
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check: %q, %v", ok, err)
	}
	rows, err := db.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatalf("foreign_key_check: %v", err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("foreign_key_check reports violations")
	}
}

func checkMeta(t testing.TB, db *sql.DB) {
	t.Helper()
	rows, err := db.Query(`SELECT uid, modseq, flags, size, meta FROM messages`)
	if err != nil {
		t.Fatalf("reading meta: %v", err)
	}
	defer rows.Close()
	zones := zoneCache{}
	for rows.Next() {
		var uid, modSeq, flags, size int64
		var meta []byte
		if err := rows.Scan(&uid, &modSeq, &flags, &size, &meta); err != nil {
			t.Fatalf("reading meta: %v", err)
		}
		m, err := decodeMeta(meta, zones)
		if err != nil || int64(m.UID) != uid || int64(m.ModSeq) != modSeq || int64(m.Flags.System) != flags || m.Size != size {
			t.Errorf("meta %+v (%v) disagrees with row uid=%d modseq=%d flags=%d size=%d", m, err, uid, modSeq, flags, size)
		}
	}
}

// checkListing compares the listing (listing.go) with the messages table:
// the same meta bytes for the same UIDs, each in its chunk, in order, and
// no empty chunk.
func checkListing(t testing.TB, db *sql.DB) {
	t.Helper()
	type entry struct {
		folder, uid int64
		meta        []byte
	}
	var want []entry
	rows, err := db.Query(`SELECT folder_id, uid, meta FROM messages ORDER BY folder_id, uid`)
	if err != nil {
		t.Fatalf("reading messages: %v", err)
	}
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.folder, &e.uid, &e.meta); err != nil {
			t.Fatalf("reading messages: %v", err)
		}
		want = append(want, e)
	}
	rows.Close()
	var got []entry
	rows, err = db.Query(`SELECT folder_id, chunk, data FROM listing ORDER BY folder_id, chunk`)
	if err != nil {
		t.Fatalf("reading the listing: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var folder, chunk int64
		var data []byte
		if err := rows.Scan(&folder, &chunk, &data); err != nil {
			t.Fatalf("reading the listing: %v", err)
		}
		if len(data) == 0 {
			t.Errorf("listing chunk %d of folder %d is empty", chunk, folder)
		}
		for len(data) > 0 {
			head, meta, rest, err := nextEntry(data)
			if err != nil {
				t.Fatalf("listing chunk %d of folder %d: %v", chunk, folder, err)
			}
			data = rest
			uid, err := metaUID(meta)
			if err != nil || chunkOf(uid) != chunk {
				t.Errorf("listing chunk %d of folder %d holds UID %d (%v)", chunk, folder, uid, err)
			}
			if m, err := decodeMeta(meta, zoneCache{}); err != nil || head != entryHead(m.Flags) {
				t.Errorf("listing entry of UID %d has head %#x for flags %v (%v)", uid, head, m.Flags, err)
			}
			got = append(got, entry{folder, int64(uid), meta})
		}
	}
	if len(got) != len(want) {
		t.Fatalf("invariant broken: the listing holds %d messages, the messages table %d", len(got), len(want))
	}
	for i := range got {
		if got[i].folder != want[i].folder || got[i].uid != want[i].uid || !bytes.Equal(got[i].meta, want[i].meta) {
			t.Fatalf("invariant broken: listing entry %d is folder %d UID %d meta %x, message is folder %d UID %d meta %x",
				i, got[i].folder, got[i].uid, got[i].meta, want[i].folder, want[i].uid, want[i].meta)
		}
	}
}
