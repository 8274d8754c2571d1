package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store/storetest"
)

func TestQueueConformance(t *testing.T) {
	storetest.RunQueue(t, func(t *testing.T) storetest.QueueStore {
		dir := t.TempDir()
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			checkInvariants(t, dir)
			checkQueueInvariants(t, dir)
		})
		return s
	})
}

// checkQueueInvariants checks that no queued message is left without
// recipients (Settle removes a message with its last one).
func checkQueueInvariants(t testing.TB, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, FileName)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatalf("opening database for checks: %v", err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM queue_messages m
		WHERE NOT EXISTS (SELECT 1 FROM queue_recipients r WHERE r.message_id = m.id)`).Scan(&n); err != nil {
		t.Fatalf("checking the queue: %v", err)
	}
	if n != 0 {
		t.Errorf("%d queued messages have no recipients left", n)
	}
}
