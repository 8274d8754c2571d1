package imap

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store"
)

// bodyOnlyStore hides the store's optional interfaces, as a backend without
// store.HeaderReader would.
type bodyOnlyStore struct{ Store }

// headerTestMessages cover what reading headers apart from bodies must get
// right: a header longer than the SQLite store's prefix, messages with no
// body or no empty line, bare LF, an empty header, and fields that need the
// library's parser.
func headerTestMessages() []string {
	var long strings.Builder
	for i := 0; long.Len() < 20<<10; i++ {
		fmt.Fprintf(&long, "Received: from relay%d.example.org\r\n\tby mx.example.com; Tue, 14 May 2024 10:00:00 +0000\r\n", i)
	}
	return []string{
		benchMessage(1),
		long.String() + "From: Late <late@example.org>\r\nSubject: after 20 KiB of trace\r\n\r\nbody\r\n",
		"From: a@example.org\r\nSubject: no body\r\n\r\n",
		"From: a@example.org\r\nSubject: no empty line",
		"From: b@example.org\nTo: c@example.org\nSubject: bare LF\n\nbody\n",
		"\r\nno header at all\r\n",
		plainMessage,
		"From: =?utf-8?q?Jos=C3=A9?= <j@example.org>\r\nTo: undisclosed-recipients:;\r\nDate: yesterday\r\n\r\nx\r\n",
		benchMessage(2),
	}
}

// TestFetchFromHeadersMatchesFetchFromBodies runs the same FETCH commands on
// a server whose store reads headers in bulk and caches them (the header
// sections after the first FETCH come from the cache), on one that reads
// them in bulk every time, and on one that reads whole bodies, on the same
// messages with UID gaps: the responses must be identical, byte for byte.
func TestFetchFromHeadersMatchesFetchFromBodies(t *testing.T) {
	bulk := newTestServer(t)
	uncached := newTestServer(t, func(o *Options) { o.CacheBytes, o.HeaderCacheBytes = -1, -1 })
	single := newTestServer(t, func(o *Options) { o.Store = bodyOnlyStore{o.Store} })
	var wires []*wire
	for _, ts := range []*testServer{bulk, uncached, single} {
		var uids []store.UID
		for _, m := range headerTestMessages() {
			uids = append(uids, ts.deliver(t, "alice@example.com", "", m))
		}
		_, err := ts.store.Expunge(context.Background(), store.ExpungeRequest{
			Folder: store.FolderRef{Account: "alice@example.com", Folder: store.Inbox}, UIDs: store.UIDSetOf(uids[2], uids[5]),
		})
		if err != nil {
			t.Fatal(err)
		}
		w := ts.login(t, "alice@example.com", "secret")
		w.ok("SELECT INBOX")
		wires = append(wires, w)
	}
	all := len(headerTestMessages()) - 2
	commands := []struct {
		command   string
		responses int
	}{
		{"FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)", all},
		{"FETCH 1:* (ENVELOPE)", all}, // now from the cache
		{"FETCH 2:4 (BODY.PEEK[HEADER.FIELDS (From Subject)])", 3},
		{"FETCH 1:* (RFC822.HEADER)", all},
		{"FETCH 1:* (BODY.PEEK[HEADER]<0.20> ENVELOPE)", all},
		// UIDs 3 and 6 are gone.
		{"UID FETCH 2,4:* (ENVELOPE BODY.PEEK[HEADER.FIELDS.NOT (Received DKIM-Signature)])", all - 1},
		{"FETCH 1:* (BODY[HEADER])", all}, // sets \Seen: FLAGS comes along
	}
	for _, tc := range commands {
		c := tc.command
		bulkLines, uncachedLines, singleLines := wires[0].ok(c), wires[1].ok(c), wires[2].ok(c)
		if len(bulkLines) != tc.responses {
			t.Errorf("%s: %d responses, want %d", c, len(bulkLines), tc.responses)
		}
		if !slices.Equal(bulkLines, singleLines) || !slices.Equal(uncachedLines, singleLines) {
			t.Errorf("%s differs:\ncached:   %.300q\nuncached: %.300q\nsingle:   %.300q", c, bulkLines, uncachedLines, singleLines)
		}
	}
	if !has(wires[0].ok("FETCH 2 ENVELOPE"), `"after 20 KiB of trace" (("Late" NIL "late" "example.org"))`) {
		t.Error("the envelope of the message with a long header lacks its last fields")
	}
}

// TestFetchSkipsMessagesExpungedWhileReadingHeaders: a message expunged by
// another session after the listing is left out (RFC 2180 §4.1.1).
func TestFetchSkipsMessagesExpungedWhileReadingHeaders(t *testing.T) {
	ts := newTestServer(t)
	var uids []store.UID
	for i := range 3 {
		uids = append(uids, ts.deliver(t, "alice@example.com", "", benchMessage(i)))
	}
	w := ts.login(t, "alice@example.com", "secret")
	w.ok("SELECT INBOX")
	ts.fault.setHeaders(func() error {
		_, err := ts.store.Expunge(context.Background(), store.ExpungeRequest{
			Folder: store.FolderRef{Account: "alice@example.com", Folder: store.Inbox}, UIDs: store.UIDSetOf(uids[1]),
		})
		return err
	})
	lines := w.ok("FETCH 1:3 (UID ENVELOPE)")
	var fetches []string
	for _, l := range lines {
		if strings.Contains(l, " FETCH ") {
			fetches = append(fetches, l[:strings.Index(l, " ENVELOPE")])
		}
	}
	if want := []string{"* 1 FETCH (UID 1", "* 3 FETCH (UID 3"}; !slices.Equal(fetches, want) {
		t.Fatalf("responses %q, want %q", fetches, want)
	}
}

// TestFetchHeaderReaderFailureIsContained: a store error or a panic in the
// goroutines reading headers fails the command with NO [SERVERBUG], and the
// session goes on.
func TestFetchHeaderReaderFailureIsContained(t *testing.T) {
	ts := newTestServer(t)
	for i := range 300 { // more than one batch
		ts.deliver(t, "alice@example.com", "", benchMessage(i))
	}
	w := ts.login(t, "alice@example.com", "secret")
	w.ok("SELECT INBOX")
	ts.fault.setHeaders(func() error { return fmt.Errorf("disk on fire") })
	if _, done := w.cmd("FETCH 1:* ENVELOPE"); done != "NO [SERVERBUG] Internal server error" {
		t.Errorf("after a store error: %q", done)
	}
	ts.fault.setHeaders(func() error { panic("store bug") })
	if _, done := w.cmd("FETCH 1:* ENVELOPE"); done != "NO [SERVERBUG] Internal server error" {
		t.Errorf("after a panic: %q", done)
	}
	// Each reader goroutine that ran into it counts its panic.
	if n := ts.obs.count(func(o *countingObserver) int { return o.panics }); n < 1 || n > fetchReaders {
		t.Errorf("observer saw %d panics, want 1 to %d", n, fetchReaders)
	}
	ts.fault.setHeaders(nil)
	if lines := w.ok("FETCH 1:* ENVELOPE"); len(lines) != 300 {
		t.Errorf("%d responses after the failures, want 300", len(lines))
	}
}
