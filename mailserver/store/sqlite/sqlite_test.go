package sqlite

import (
	"bytes"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store"
	"github.com/kubemail/kubemail/mailserver/store/storetest"
)

func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		dir := t.TempDir()
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		// Cleanups run last-in first-out: this runs after the suite has
		// closed the store.
		t.Cleanup(func() { checkInvariants(t, dir) })
		return s
	})
}

func TestReopenKeepsDataAndSchemaVersion(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnsureAccount(ctx, "a@example.org"); err != nil {
		t.Fatal(err)
	}
	f := store.FolderRef{Account: "a@example.org", Folder: store.Inbox}
	res, err := s.Append(ctx, store.AppendRequest{Folder: f, Body: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer s.Close()
	if got, err := s.Body(ctx, f, res.UID); err != nil || string(got) != "hello" {
		t.Fatalf("body after reopen %q, %v", got, err)
	}
	var version int
	if err := s.rdb.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version %d (%v), want %d", version, err, len(migrations))
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = ?`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(dir, Options{}); err == nil {
		s.Close()
		t.Fatal("Open accepted a database from a newer binary")
	}
}

func TestCloseCommitsQueuedWrites(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := s.EnsureAccount(ctx, "a@example.org"); err != nil {
		t.Fatal(err)
	}
	release := gate(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			res, err := s.Submit(ctx, store.Submission{Body: fmt.Appendf(nil, "m%d", i), Local: []store.DeliveryTarget{{Account: "a@example.org"}}})
			if err == nil {
				err = res[0].Err
			}
			errs <- err
		})
	}
	waitQueued(t, s, 20)
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a delivery queued before Close failed: %v", err)
		}
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if u, err := s.Usage(ctx, "a@example.org"); err != nil || u.Messages != 20 {
		t.Fatalf("usage after reopen %+v, %v; want 20 messages", u, err)
	}
}

// TestBodyIsOwnedByCaller guards the zero-copy read in Body: the slice
// must stay intact while other bodies are read on the same connections.
func TestBodyIsOwnedByCaller(t *testing.T) {
	s := openTest(t, Options{ReadConns: 1})
	defer s.Close()
	ctx := t.Context()
	if _, err := s.EnsureAccount(ctx, "a@example.org"); err != nil {
		t.Fatal(err)
	}
	f := store.FolderRef{Account: "a@example.org", Folder: store.Inbox}
	var want [][]byte
	for i := range 5 {
		b := bytes.Repeat([]byte{byte('a' + i)}, 5000+i)
		want = append(want, b)
		if _, err := s.Append(ctx, store.AppendRequest{Folder: f, Body: b}); err != nil {
			t.Fatal(err)
		}
	}
	var got [][]byte
	for round := range 3 {
		for i := range want {
			b, err := s.Body(ctx, f, store.UID(i+1))
			if err != nil {
				t.Fatal(err)
			}
			if round == 0 {
				got = append(got, b)
			}
		}
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("body %d changed after later reads", i+1)
		}
	}
}

func TestOpenSetsDurablePragmas(t *testing.T) {
	s := openTest(t, Options{})
	defer s.Close()
	ctx := t.Context()
	want := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000"}
	for pragma, value := range want {
		var got string
		if err := s.wconn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != value {
			t.Errorf("writer PRAGMA %s = %q (%v), want %q", pragma, got, err, value)
		}
	}
	var queryOnly string
	if err := s.rdb.QueryRowContext(ctx, "PRAGMA query_only").Scan(&queryOnly); err != nil || queryOnly != "1" {
		t.Errorf("reader PRAGMA query_only = %q (%v), want 1", queryOnly, err)
	}
}
