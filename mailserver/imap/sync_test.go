package imap

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

func TestTwoSessionsSeeEachOthersChanges(t *testing.T) {
	ts := newTestServer(t)
	for i := 1; i <= 3; i++ {
		ts.deliver(t, "alice@example.com", "", fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))
	}
	a := ts.login(t, "alice@example.com", "secret")
	b := ts.login(t, "alice@example.com", "secret")
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")

	b.ok(`STORE 2 +FLAGS (\Flagged)`)
	if lines := a.ok("NOOP"); !has(lines, `* 2 FETCH (UID 2 FLAGS (\Flagged))`) {
		t.Errorf("flag change not reported to the other session: %q", lines)
	}
	if lines := b.ok("NOOP"); len(lines) != 0 {
		t.Errorf("a session's own STORE was echoed back: %q", lines)
	}

	b.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	b.ok("EXPUNGE")
	// EXPUNGE responses wait while a non-UID FETCH could be confused by them
	// (RFC 9051 §7.5.1); flag changes do not.
	if lines := a.ok("FETCH 3 FLAGS"); has(lines, "EXPUNGE") {
		t.Errorf("EXPUNGE sent during FETCH: %q", lines)
	}
	lines := a.ok("NOOP")
	if !has(lines, "* 1 EXPUNGE") {
		t.Errorf("expunge not reported: %q", lines)
	}
	if lines := a.ok("FETCH 1:* (UID)"); len(lines) != 2 || !has(lines, "* 1 FETCH (UID 2)") {
		t.Errorf("sequence numbers after the expunge: %q", lines)
	}

	// Mail delivered meanwhile shows up as EXISTS with the next command.
	ts.deliver(t, "alice@example.com", "", "Subject: new\r\n\r\nbody\r\n")
	if lines := a.ok("NOOP"); !has(lines, "* 3 EXISTS") {
		t.Errorf("delivery not reported: %q", lines)
	}
}

func TestIdleReportsDeliveryFlagsAndExpunge(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver(t, "alice@example.com", "", "Subject: first\r\n\r\nbody\r\n")
	a := ts.login(t, "alice@example.com", "secret")
	a.ok("SELECT INBOX")
	a.send("i1 IDLE\r\n")
	a.expectPrefix("+ ")

	// RFC 9051 §6.3.13: a delivery by SMTP from another goroutine reaches an
	// IDLE client at once; the test allows one second after Deliver returns.
	ts.deliver(t, "alice@example.com", "", "Subject: second\r\n\r\nbody\r\n")
	if l := a.lineWithin(time.Second); l != "* 2 EXISTS" {
		t.Fatalf("got %q, want * 2 EXISTS", l)
	}

	b := ts.login(t, "alice@example.com", "secret")
	b.ok("SELECT INBOX")
	b.ok(`STORE 1 +FLAGS (\Answered)`)
	if l := a.line(); l != `* 1 FETCH (UID 1 FLAGS (\Answered))` {
		t.Fatalf("got %q", l)
	}

	// A POP3 DELE+QUIT is the same store operation as an IMAP expunge.
	if _, err := ts.store.Expunge(context.Background(), store.ExpungeRequest{
		Folder: store.FolderRef{Account: "alice@example.com", Folder: store.Inbox}, UIDs: store.UIDSetOf(1),
	}); err != nil {
		t.Fatal(err)
	}
	if l := a.line(); l != "* 1 EXPUNGE" {
		t.Fatalf("got %q", l)
	}
	a.send("DONE\r\n")
	a.expectPrefix("i1 OK")
	if lines := a.ok("FETCH 1:* (UID)"); len(lines) != 1 || lines[0] != "* 1 FETCH (UID 2)" {
		t.Errorf("after IDLE: %q", lines)
	}
}

func TestLostEventsAreRecoveredByResync(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver(t, "alice@example.com", "", "Subject: keep\r\n\r\nbody\r\n")
	ts.deliver(t, "alice@example.com", "", "Subject: gone\r\n\r\nbody\r\n")
	a := ts.login(t, "alice@example.com", "secret")
	a.ok("SELECT INBOX")
	// More changes than a subscription buffers (store.DefaultSubscriptionBuffer).
	n := store.DefaultSubscriptionBuffer + 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts.deliver(t, "alice@example.com", "", fmt.Sprintf("Subject: bulk %d\r\n\r\nbody\r\n", i))
		}()
	}
	wg.Wait()
	ref := store.FolderRef{Account: "alice@example.com", Folder: store.Inbox}
	if _, err := ts.store.Expunge(context.Background(), store.ExpungeRequest{Folder: ref, UIDs: store.UIDSetOf(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.store.UpdateFlags(context.Background(), store.FlagUpdate{Folder: ref, UIDs: store.UIDSetOf(1),
		Op: store.FlagsAdd, Flags: store.Flags{System: store.FlagFlagged}}); err != nil {
		t.Fatal(err)
	}
	lines := a.ok("NOOP")
	want := fmt.Sprintf("* %d EXISTS", n+1)
	if !has(lines, "* 2 EXPUNGE") || !has(lines, want) || !has(lines, `* 1 FETCH (UID 1 FLAGS (\Flagged))`) {
		t.Errorf("after overflow: %q, want EXPUNGE, %s and the flag change", lines, want)
	}
	if lines := a.ok("SEARCH ALL"); len(strings.Fields(lines[0])) != n+1+2 {
		t.Errorf("SEARCH after resync: %q", lines)
	}
}

func TestSelectedFolderRenamedOrDeletedElsewhere(t *testing.T) {
	ts := newTestServer(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(ts.logText())
		}
	})
	ts.deliver(t, "alice@example.com", "Archive", "Subject: old\r\n\r\nbody\r\n")
	a := ts.login(t, "alice@example.com", "secret")
	b := ts.login(t, "alice@example.com", "secret")
	a.ok("SELECT Archive")
	b.ok("RENAME Archive Old")
	a.ok("NOOP")
	ts.deliver(t, "alice@example.com", "Old", "Subject: new\r\n\r\nbody\r\n")
	if lines := a.ok("NOOP"); !has(lines, "* 2 EXISTS") {
		t.Errorf("the view did not follow the rename: %q", lines)
	}
	if lines := a.ok("FETCH 2 BODY.PEEK[HEADER.FIELDS (Subject)]"); !has(lines, "Subject: new") {
		t.Errorf("FETCH after rename: %q", lines)
	}
	b.ok("DELETE Old")
	if lines := a.ok("NOOP"); len(lines) != 2 || lines[0] != "* 1 EXPUNGE" || lines[1] != "* 1 EXPUNGE" {
		t.Errorf("deletion of the selected folder: %q", lines)
	}
	b.ok("CREATE Old")
	ts.deliver(t, "alice@example.com", "Old", "Subject: other\r\n\r\nbody\r\n")
	if lines := a.ok("NOOP"); len(lines) != 0 {
		t.Errorf("a new folder of the same name leaked into the view: %q", lines)
	}
	a.ok("FETCH 1:* FLAGS")
}
