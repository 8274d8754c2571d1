package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

// gate blocks the writer inside an op until release is closed, so that the
// ops queued meanwhile are committed together in the next batch.
func gate(t *testing.T, s *Store) (release func()) {
	t.Helper()
	entered, ch := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.do(context.Background(), func(*wtx) error {
			close(entered)
			<-ch
			return nil
		})
	}()
	<-entered
	return func() { close(ch) }
}

func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.ops) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d ops queued, want %d", len(s.ops), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestABatchIsolatesFailingAndPanickingOps(t *testing.T) {
	s := openTest(t, Options{})
	defer s.Close()
	ctx := t.Context()
	if _, err := s.EnsureAccount(ctx, "a@example.org"); err != nil {
		t.Fatal(err)
	}
	f := store.FolderRef{Account: "a@example.org", Folder: store.Inbox}
	release := gate(t, s)
	errFail := errors.New("failing op")
	var wg sync.WaitGroup
	results := make([]error, 30)
	for i := range results {
		wg.Go(func() {
			results[i] = s.do(ctx, func(tx *wtx) error {
				row, err := tx.folder(f)
				if err != nil {
					return err
				}
				bodyID, err := tx.insertBody(fmt.Appendf(nil, "message %d", i))
				if err != nil {
					return err
				}
				if _, err := tx.addMessage(row, newMessage{size: 9, date: tx.now, bodyID: bodyID}, row.highestModSeq+1); err != nil {
					return err
				}
				switch i % 3 {
				case 1:
					return errFail
				case 2:
					panic("op panics after writing")
				}
				return nil
			})
		})
	}
	waitQueued(t, s, len(results))
	release()
	wg.Wait()
	for i, err := range results {
		if want := i%3 == 0; want != (err == nil) || (i%3 == 1 && !errors.Is(err, errFail)) {
			t.Errorf("op %d: %v", i, err)
		}
	}
	list, err := s.ListMessages(ctx, f, store.ListOptions{UIDs: store.AllUIDs()})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Messages) != 10 {
		t.Fatalf("%d messages stored, want the 10 of the successful ops", len(list.Messages))
	}
	for _, m := range list.Messages {
		body, err := s.Body(ctx, f, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if _, err := fmt.Sscanf(string(body), "message %d", &n); err != nil || n%3 != 0 {
			t.Fatalf("UID %d holds %q, from a failed op", m.UID, body)
		}
	}
	s.Close()
	checkInvariants(t, filepath.Dir(s.path))
}

func TestGroupCommitCommitsQueuedOpsInOneTransaction(t *testing.T) {
	s := openTest(t, Options{})
	defer s.Close()
	ctx := t.Context()
	if _, err := s.EnsureAccount(ctx, "a@example.org"); err != nil {
		t.Fatal(err)
	}
	release := gate(t, s)
	before := s.batches.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			res, err := s.Submit(ctx, store.Submission{Body: fmt.Appendf(nil, "m%d", i), Local: []store.DeliveryTarget{{Account: "a@example.org"}}})
			if err == nil {
				err = res[0].Err
			}
			errs <- err
		})
	}
	waitQueued(t, s, 50)
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// before counts the gate's transaction, already started.
	if n := s.batches.Load() - before; n != 1 {
		t.Fatalf("the fifty deliveries took %d transactions, want 1", n)
	}
}

func TestBatchesAreCappedByBytes(t *testing.T) {
	s := openTest(t, Options{MaxBatchBytes: 3 << 20})
	defer s.Close()
	ctx := t.Context()
	if _, err := s.EnsureAccount(ctx, "a@example.org"); err != nil {
		t.Fatal(err)
	}
	release := gate(t, s)
	before := s.batches.Load()
	body := bytes.Repeat([]byte("x"), 1<<20)
	var wg sync.WaitGroup
	for range 9 {
		wg.Go(func() {
			f := store.FolderRef{Account: "a@example.org", Folder: store.Inbox}
			if _, err := s.Append(ctx, store.AppendRequest{Folder: f, Body: body}); err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, s, 9)
	release()
	wg.Wait()
	// Three batches of three 1 MiB messages (before counts the gate's).
	if n := s.batches.Load() - before; n != 3 {
		t.Fatalf("nine 1 MiB appends took %d transactions, want 3", n)
	}
}

// TestListingFollowsSavepointRollbacks checks the listing's per-batch chunk
// cache (listing.go) against rollbacks: a message added in a savepoint that
// fails, or in an op that fails after a savepoint succeeded, is gone from
// the listing too, while the batch's other messages stay.
func TestListingFollowsSavepointRollbacks(t *testing.T) {
	s := openTest(t, Options{})
	defer s.Close()
	ctx := t.Context()
	if _, err := s.EnsureAccount(ctx, "a@example.org"); err != nil {
		t.Fatal(err)
	}
	f := store.FolderRef{Account: "a@example.org", Folder: store.Inbox}
	errFail := errors.New("failing")
	add := func(tx *wtx, text string) error {
		row, err := tx.folder(f)
		if err != nil {
			return err
		}
		bodyID, err := tx.insertBody([]byte(text))
		if err != nil {
			return err
		}
		_, err = tx.addMessage(row, newMessage{size: int64(len(text)), date: tx.now, bodyID: bodyID}, row.highestModSeq+1)
		return err
	}
	ops := []func(tx *wtx) error{
		func(tx *wtx) error { return add(tx, "kept 1") },
		func(tx *wtx) error { // the savepoint fails, the op goes on
			if err := tx.savepoint(func() error {
				if err := add(tx, "rolled back in a savepoint"); err != nil {
					return err
				}
				return errFail
			}); !errors.Is(err, errFail) {
				return fmt.Errorf("savepoint: %w", err)
			}
			return add(tx, "kept 2")
		},
		func(tx *wtx) error { // the savepoint succeeds, the op fails
			if err := tx.savepoint(func() error { return add(tx, "rolled back with its op") }); err != nil {
				return err
			}
			return errFail
		},
		func(tx *wtx) error { return add(tx, "kept 3") },
	}
	release := gate(t, s)
	results := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, fn := range ops {
		waitQueued(t, s, i)
		wg.Go(func() { results[i] = s.do(ctx, fn) })
	}
	waitQueued(t, s, len(ops))
	release()
	wg.Wait()
	for i, err := range results {
		if want := i != 2; want != (err == nil) {
			t.Errorf("op %d: %v", i, err)
		}
	}
	list, err := s.ListMessages(ctx, f, store.ListOptions{UIDs: store.AllUIDs()})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range list.Messages {
		body, err := s.Body(ctx, f, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(body))
	}
	if want := []string{"kept 1", "kept 2", "kept 3"}; !slices.Equal(got, want) {
		t.Fatalf("listed %q, want %q", got, want)
	}
	s.Close()
	checkInvariants(t, filepath.Dir(s.path))
}
