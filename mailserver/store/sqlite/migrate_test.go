package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store"
)

// migrationBodies are header shapes the header split must keep exact.
var migrationBodies = []string{
	"From: a@example.org\r\nSubject: plain\r\n\r\nBody.\r\n",
	"From: a@example.org\nSubject: bare LF\n\nBody.\n",
	"From: a@example.org\r\nSubject: no body, no empty line\r\n",
	"\r\nAn empty header: this is all body.\r\n",
	"",
	"Subject: " + strings.Repeat("long ", 20000) + "\r\n\r\nAfter a 100 KiB header.\r\n",
	"Subject: keywords and flags\r\n\r\nBody.\r\n",
}

// readable is everything a store returns about a folder's messages.
type readable struct {
	list    store.MessageList
	index   store.FolderIndex
	bodies  map[store.UID]string
	headers map[store.UID]string
}

func readAll(t *testing.T, s *Store, f store.FolderRef) readable {
	t.Helper()
	ctx := t.Context()
	r := readable{bodies: map[store.UID]string{}, headers: map[store.UID]string{}}
	var err error
	if r.list, err = s.ListMessages(ctx, f, store.ListOptions{UIDs: store.AllUIDs()}); err != nil {
		t.Fatal(err)
	}
	if r.index, err = s.FolderIndex(ctx, f); err != nil {
		t.Fatal(err)
	}
	for _, m := range r.list.Messages {
		b, err := s.Body(ctx, f, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		r.bodies[m.UID] = string(b)
	}
	err = s.Headers(ctx, f, store.AllUIDs(), func(uid store.UID, h []byte) error {
		r.headers[uid] = string(h)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// downgradeToVersion2 turns a closed store's database back into what
// schema version 2 wrote: every body whole, no listing, no headers table.
func downgradeToVersion2(t *testing.T, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT b.id, h.data, b.data FROM bodies b JOIN headers h ON h.body_id = b.id`)
	if err != nil {
		t.Fatal(err)
	}
	whole := map[int64][]byte{}
	for rows.Next() {
		var id int64
		var h, b []byte
		if err := rows.Scan(&id, &h, &b); err != nil {
			t.Fatal(err)
		}
		whole[id] = append(h, b...)
	}
	rows.Close()
	for id, b := range whole {
		if b == nil {
			b = []byte{}
		}
		if _, err := db.Exec(`UPDATE bodies SET data = ? WHERE id = ?`, b, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{`DROP TABLE headers`, `DROP TABLE listing`, `UPDATE schema_version SET version = 2`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestMigrationFromVersion2 opens a store written by schema version 2: the
// listing is filled from the messages, bodies stored whole read as before
// (Body, and Headers through their prefix), and new deliveries are split.
func TestMigrationFromVersion2(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const account = "a@example.org"
	if _, err := s.EnsureAccount(ctx, account); err != nil {
		t.Fatal(err)
	}
	inbox := store.FolderRef{Account: account, Folder: store.Inbox}
	archive := store.FolderRef{Account: account, Folder: "Archive"}
	// Enough messages for several listing chunks, with gaps.
	for i := range 150 {
		deliver(t, s, account, migrationBodies[i%len(migrationBodies)])
	}
	mustFlags(t, s, store.FlagUpdate{Folder: inbox, UIDs: store.UIDSet{{Start: 10, Stop: 40}}, Op: store.FlagsAdd,
		Flags: store.Flags{System: store.FlagSeen | store.FlagDeleted, Keywords: []string{"$Work", "Later"}}})
	if _, err := s.Expunge(ctx, store.ExpungeRequest{Folder: inbox, UIDs: store.UIDSet{{Start: 20, Stop: 30}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx, store.CopyRequest{Account: account, From: store.Inbox, To: "Archive",
		UIDs: store.UIDSet{{Start: 1, Stop: 100}}}); err != nil {
		t.Fatal(err)
	}
	before := map[store.FolderRef]readable{inbox: readAll(t, s, inbox), archive: readAll(t, s, archive)}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	downgradeToVersion2(t, dir)

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("opening the version 2 store: %v", err)
	}
	defer s.Close()
	var version, split int
	if err := s.rdb.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version %d (%v), want %d", version, err, len(migrations))
	}
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM headers`).Scan(&split); err != nil || split != 0 {
		t.Fatalf("%d bodies split by the migration (%v), want them kept whole", split, err)
	}
	for f, want := range before {
		if got := readAll(t, s, f); !reflect.DeepEqual(got, want) {
			t.Errorf("%s after the migration differs from before it:\n got %+v\nwant %+v", f, got.index, want.index)
		}
	}
	// New mail beside the old: split, and read back the same way.
	for _, b := range migrationBodies {
		deliver(t, s, account, b)
	}
	got := readAll(t, s, inbox)
	for i, m := range got.list.Messages[len(got.list.Messages)-len(migrationBodies):] {
		b := migrationBodies[i]
		if got.bodies[m.UID] != b || got.headers[m.UID] != b[:store.HeaderLen([]byte(b))] {
			t.Errorf("new message %d reads back as body %.40q header %.40q", i, got.bodies[m.UID], got.headers[m.UID])
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, dir)
}

func mustFlags(t *testing.T, s *Store, u store.FlagUpdate) {
	t.Helper()
	if _, err := s.UpdateFlags(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

// TestBodiesAreStoredSplit checks the layout new deliveries get: the
// header section in the headers table, the rest in bodies.
func TestBodiesAreStoredSplit(t *testing.T) {
	s := openTest(t, Options{})
	defer s.Close()
	const account = "a@example.org"
	if _, err := s.EnsureAccount(t.Context(), account); err != nil {
		t.Fatal(err)
	}
	for _, b := range migrationBodies {
		deliver(t, s, account, b)
	}
	rows, err := s.rdb.QueryContext(t.Context(), `SELECT h.data, b.data FROM bodies b JOIN headers h ON h.body_id = b.id ORDER BY b.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next(); i++ {
		var h, rest []byte
		if err := rows.Scan(&h, &rest); err != nil {
			t.Fatal(err)
		}
		b := []byte(migrationBodies[i])
		n := store.HeaderLen(b)
		if !bytes.Equal(h, b[:n]) || !bytes.Equal(rest, b[n:]) {
			t.Errorf("body %d stored as header %.40q and rest %.40q", i, h, rest)
		}
	}
	if i != len(migrationBodies) {
		t.Fatalf("%d bodies stored split, want %d", i, len(migrationBodies))
	}
}
