package imap

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

// views returns the UID list of every session with a selected folder.
func (ts *testServer) views() []*uidList {
	ts.srv.mu.Lock()
	sessions := make([]*session, 0, len(ts.srv.sessions))
	for s := range ts.srv.sessions {
		sessions = append(sessions, s)
	}
	ts.srv.mu.Unlock()
	var out []*uidList
	for _, s := range sessions {
		s.mu.Lock()
		if s.sel != nil {
			out = append(out, s.sel.uids)
		}
		s.mu.Unlock()
	}
	return out
}

// TestSessionsShareTheSelectedFolder checks that sessions selecting a
// folder in the same state share one UID list, and that the shared
// snapshot is never used once the folder has changed: a flag change, a
// delivery and an expunge by one session are seen by a SELECT in another,
// and a session's view changing leaves the others' views as they were.
func TestSessionsShareTheSelectedFolder(t *testing.T) {
	const n = 3 * uidBlockSize // several blocks
	ts := newTestServer(t)
	fillInbox(t, ts, n)
	a := ts.login(t, "alice@example.com", "secret")
	b := ts.login(t, "alice@example.com", "secret")
	a.ok("SELECT INBOX")
	b.ok("EXAMINE INBOX")
	views := ts.views()
	if len(views) != 2 || views[0] != views[1] || views[0].len() != n {
		t.Fatalf("two sessions on one folder hold UID lists %p and %p", views[0], views[1])
	}
	if got := ts.srv.snapshots.len(); got != 1 {
		t.Fatalf("%d shared snapshots, want 1", got)
	}
	shared := slices.Collect(views[0].values())

	selectLines := func(want ...string) {
		t.Helper()
		c := ts.login(t, "alice@example.com", "secret")
		lines := c.ok("EXAMINE INBOX")
		for _, w := range want {
			if !has(lines, w) {
				t.Errorf("SELECT after a change: no %q in %q", w, lines)
			}
		}
		c.ok("LOGOUT")
	}
	a.ok(`STORE 1:10 +FLAGS.SILENT (\Seen)`)
	a.ok(`STORE 20 +FLAGS.SILENT ($Work)`)
	selectLines(fmt.Sprintf("* %d EXISTS", n), "* OK [UNSEEN 11] ", `* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Work)`)

	ts.deliver(t, "alice@example.com", "", "Subject: new\r\n\r\nbody\r\n")
	selectLines(fmt.Sprintf("* %d EXISTS", n+1))
	if lines := a.ok("NOOP"); !has(lines, fmt.Sprintf("* %d EXISTS", n+1)) {
		t.Fatalf("delivery not reported: %q", lines)
	}

	a.ok(`STORE 2,300 +FLAGS.SILENT (\Deleted)`)
	a.ok("EXPUNGE")
	selectLines(fmt.Sprintf("* %d EXISTS", n-1), "* OK [UNSEEN 10] ")

	// b has not run a command since: its view is the snapshot it selected.
	for _, v := range ts.views() {
		if v.len() == n && !slices.Equal(slices.Collect(v.values()), shared) {
			t.Fatal("a view shared with a session that changed its own was changed too")
		}
	}
	lines := b.ok("NOOP")
	if !has(lines, "* 2 EXPUNGE") || !has(lines, "* 299 EXPUNGE") || !has(lines, fmt.Sprintf("* %d EXISTS", n+1)) {
		t.Fatalf("changes not reported to the other session: %q", lines)
	}
	if lines := b.ok("FETCH 1:* (UID)"); len(lines) != n-1 || !has(lines, "* 2 FETCH (UID 3)") ||
		!has(lines, fmt.Sprintf("* %d FETCH (UID %d)", n-1, n+1)) {
		t.Fatalf("view after the changes: %d lines, %q", len(lines), lines[:3])
	}
}

// TestSharedSnapshotGoesWithItsLastView checks that a shared snapshot does
// not outlive the sessions viewing it.
func TestSharedSnapshotGoesWithItsLastView(t *testing.T) {
	ts := newTestServer(t)
	for i := range 3 {
		ts.deliver(t, "alice@example.com", "", fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))
	}
	a := ts.login(t, "alice@example.com", "secret")
	a.ok("SELECT INBOX")
	if got := ts.srv.snapshots.len(); got != 1 {
		t.Fatalf("%d shared snapshots, want 1", got)
	}
	a.ok("UNSELECT")
	// The entry goes once the list is collected and its cleanup has run;
	// the deadline only guards against a hang.
	for deadline := time.Now().Add(30 * time.Second); ts.srv.snapshots.len() != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the snapshot of a folder no session views is still shared")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if lines := a.ok("SELECT INBOX"); !has(lines, "* 3 EXISTS") {
		t.Fatalf("SELECT after the snapshot went: %q", lines)
	}
}

// TestSelectWithoutFolderIndexer checks SELECT on a store that has only
// the core interfaces: the index comes from the full listing.
func TestSelectWithoutFolderIndexer(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.Store = coreStore{o.Store} })
	ts.deliver(t, "alice@example.com", "", "Subject: 1\r\n\r\nbody\r\n")
	ts.deliver(t, "alice@example.com", "", "Subject: 2\r\n\r\nbody\r\n")
	a := ts.login(t, "alice@example.com", "secret")
	a.ok(`SELECT INBOX`)
	a.ok(`STORE 1 +FLAGS.SILENT (\Seen Later)`)
	lines := a.ok("SELECT INBOX")
	for _, want := range []string{"* 2 EXISTS", "* OK [UNSEEN 2] ", `* FLAGS (\Seen \Answered \Flagged \Deleted \Draft Later)`} {
		if !has(lines, want) {
			t.Errorf("no %q in %q", want, lines)
		}
	}
	if _, ok := ts.srv.opts.Store.(store.FolderIndexer); ok {
		t.Fatal("the store still offers FolderIndex")
	}
}

// coreStore hides a store's optional interfaces.
type coreStore struct{ Store }
