package imap

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

// searchTestMessages add to headerTestMessages what header criteria look
// at: sent dates in several zones, Bcc, an encoded subject and a Date that
// does not parse.
func searchTestMessages() []string {
	return append(headerTestMessages(),
		"Date: Wed, 15 May 2024 23:30:00 -0700\r\nFrom: west@example.org\r\nBcc: hidden@example.net\r\nSubject: late in the west\r\n\r\nbody\r\n",
		"Date: Thu, 16 May 2024 00:30:00 +0200\r\nFrom: east@example.org\r\nSubject: =?iso-8859-1?q?Gr=FC=DFe?= aus K\r\n\r\nbody\r\n",
		"Date: not a date\r\nFrom: nobody@example.org\r\nSubject: lorem\r\n\r\nlorem ipsum\r\n",
		"Subject: folded  \r\n\t across\tlines\r\nX-Unit: 5 \u212Aelvin\r\n\r\nbody\r\n",
	)
}

// TestSearchFromHeadersMatchesSearchFromBodies runs the same SEARCH
// commands on a server that has the headers cached (by an ENVELOPE fetch,
// all but the one over 4 KiB), on one that reads them from the store in
// bulk every time (no cache), and on one that reads whole bodies, on the
// same messages with UID gaps, flags and more than one batch of
// candidates: the responses must be identical, byte for byte.
func TestSearchFromHeadersMatchesSearchFromBodies(t *testing.T) {
	bulk := newTestServer(t)
	uncached := newTestServer(t, func(o *Options) { o.CacheBytes, o.HeaderCacheBytes = -1, -1 })
	single := newTestServer(t, func(o *Options) { o.Store = bodyOnlyStore{o.Store} })
	messages := searchTestMessages()
	for i := range 2*fetchBatch + 20 { // three batches
		messages = append(messages, benchMessage(100+i))
	}
	ctx := context.Background()
	var wires []*wire
	for _, ts := range []*testServer{bulk, uncached, single} {
		if _, err := ts.store.EnsureAccount(ctx, "alice@example.com"); err != nil {
			t.Fatal(err)
		}
		var uids []store.UID
		for i, m := range messages {
			res, err := ts.store.Submit(ctx, store.Submission{Body: []byte(m),
				InternalDate: time.Date(2024, 5, 14+i%3, 12, 0, 0, 0, time.UTC),
				Local:        []store.DeliveryTarget{{Account: "alice@example.com"}}})
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if res[0].Err != nil {
				t.Fatalf("message %d: %v", i, res[0].Err)
			}
			uids = append(uids, res[0].UID)
		}
		_, err := ts.store.Expunge(ctx, store.ExpungeRequest{
			Folder: store.FolderRef{Account: "alice@example.com", Folder: store.Inbox},
			UIDs:   store.UIDSetOf(uids[2], uids[5], uids[200]),
		})
		if err != nil {
			t.Fatal(err)
		}
		w := ts.login(t, "alice@example.com", "secret")
		w.ok("SELECT INBOX")
		w.ok(`STORE 1:* +FLAGS (\Seen)`)
		w.ok(`STORE 3,9,40:60,400 -FLAGS (\Seen)`)
		w.ok(`STORE 2,10:12 +FLAGS (\Flagged $Work)`)
		wires = append(wires, w)
	}
	for _, w := range wires { // on all three, so the tags stay alike
		if lines := w.ok("FETCH 1:* (ENVELOPE)"); len(lines) != len(messages)-3 {
			t.Fatalf("FETCH ENVELOPE: %d responses", len(lines))
		}
	}
	// In order: the saved result is searched after it is saved.
	commands := []struct {
		name, command string
		matches       int // messages found, so a table of empty results cannot pass
	}{
		{"one subject among many", "UID SEARCH HEADER Subject 242", 1},
		{"the SUBJECT shorthand", "SEARCH SUBJECT quarterly", 2*fetchBatch + 19 + 2},
		{"a field after 20 KiB of trace", "SEARCH SUBJECT trace", 1},
		{"a trace field of the long header", "SEARCH HEADER Received relay150.example.org", 1},
		{"a header without an empty line", "SEARCH SUBJECT \"empty line\"", 1},
		{"a bare LF header", "SEARCH TO c@example.org", 1},
		{"an encoded word, decoded", "SEARCH FROM josé", 1},
		{"an encoded word, raw", "SEARCH FROM =?utf-8?q?Jos", 1},
		{"a latin-1 encoded subject", `SEARCH SUBJECT "grüße aus k"`, 1},
		{"cc", "SEARCH CC team@example.com", 2*fetchBatch + 20 + 1},
		{"bcc", "SEARCH BCC hidden", 1},
		{"any field of a name", `SEARCH HEADER Bcc ""`, 1},
		{"a field no message has", `SEARCH NOT HEADER X-Missing ""`, len(messages) - 3},
		{"sent on, in the sender's zone", "SEARCH SENTON 15-May-2024", 1},
		{"sent since", "SEARCH SENTSINCE 15-May-2024", 2},
		{"sent before", "SEARCH SENTBEFORE 15-May-2024", len(messages) - 3 - 8},
		{"not sent before, unparsed dates too", "SEARCH NOT SENTBEFORE 15-May-2024", 8},
		{"a needle across a fold", `SEARCH SUBJECT "folded across"`, 1},
		{"a needle with a tab", "SEARCH SUBJECT \"across\tlines\"", 1},
		{"a needle ending at a fold", `SEARCH SUBJECT "folded "`, 1},
		{"a letter that lower-cases to ASCII", "SEARCH HEADER X-Unit kelvin", 1},
		{"or of header fields", "SEARCH OR FROM west SUBJECT lorem", 2},
		{"not under or", "SEARCH OR NOT FROM example.org SEEN", len(messages) - 3 - 24},
		{"flags and a header", "SEARCH UNSEEN SUBJECT number", 22},
		{"a keyword and a header", "SEARCH KEYWORD $Work FROM sender", 1},
		{"a sequence set and a header", "SEARCH 100:* FROM sender", len(messages) - 3 - 99},
		{"a UID set and a header", "UID SEARCH UID 1:12 SUBJECT n", 4},
		{"size and a header", "SEARCH LARGER 5000 SUBJECT trace", 1},
		{"internal date and a header", "SEARCH ON 15-May-2024 FROM sender", 178},
		{"header criteria only under not", "SEARCH NOT FROM sender", 9},
		{"esearch min, max and count", "SEARCH RETURN (MIN MAX COUNT) FROM sender", 1},
		{"a saved result", "SEARCH RETURN (SAVE) SUBJECT lorem", 1},
		{"searching the saved result", "SEARCH $ FROM nobody", 1},
		{"nothing", "SEARCH SUBJECT xyzzy", 0},
		{"a body criterion under not", "SEARCH NOT BODY lorem SUBJECT n", 3},
		{"text", "SEARCH TEXT josé", 1},
	}
	for _, tc := range commands {
		t.Run(tc.name, func(t *testing.T) {
			bulkLines, uncachedLines, singleLines := wires[0].ok(tc.command), wires[1].ok(tc.command), wires[2].ok(tc.command)
			if !slices.Equal(bulkLines, singleLines) || !slices.Equal(uncachedLines, singleLines) {
				t.Fatalf("%s differs:\ncached:   %.300q\nuncached: %.300q\nsingle:   %.300q", tc.command, bulkLines, uncachedLines, singleLines)
			}
			if got := countSearchResults(bulkLines); got != tc.matches {
				t.Errorf("%s: %d results, want %d: %.300q", tc.command, got, tc.matches, bulkLines)
			}
		})
	}
}

// countSearchResults counts the numbers of SEARCH responses, and ESEARCH
// responses as one each.
func countSearchResults(lines []string) int {
	n := 0
	for _, l := range lines {
		switch f := strings.Fields(l); {
		case len(f) >= 2 && f[1] == "ESEARCH":
			n++
		case len(f) >= 2 && f[1] == "SEARCH":
			n += len(f) - 2
		}
	}
	return n
}

// TestSearchHeadersOfMessagesExpungedMeanwhile: a message expunged by
// another session while its header is read reads as empty, as it does
// when its body is read: it fails SUBJECT and passes NOT SUBJECT.
func TestSearchHeadersOfMessagesExpungedMeanwhile(t *testing.T) {
	ts := newTestServer(t)
	var uids []store.UID
	for i := range 4 {
		uids = append(uids, ts.deliver(t, "alice@example.com", "", benchMessage(i)))
	}
	w := ts.login(t, "alice@example.com", "secret")
	w.ok("SELECT INBOX")
	var mu sync.Mutex
	next := 1 // the message the next command's read expunges
	ts.fault.setHeaders(func() error {
		mu.Lock()
		defer mu.Unlock()
		_, err := ts.store.Expunge(context.Background(), store.ExpungeRequest{
			Folder: store.FolderRef{Account: "alice@example.com", Folder: store.Inbox}, UIDs: store.UIDSetOf(uids[next]),
		})
		next++
		return err
	})
	for _, tc := range []struct{ command, want string }{
		{"UID SEARCH SUBJECT number", "* SEARCH 1 3 4"},    // 2 expunged meanwhile
		{"UID SEARCH NOT SUBJECT xyzzy", "* SEARCH 1 3 4"}, // 3 expunged meanwhile
	} {
		var got []string
		for _, l := range w.ok(tc.command) {
			if strings.HasPrefix(l, "* SEARCH") {
				got = append(got, l)
			}
		}
		if !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%s: %q, want %q", tc.command, got, tc.want)
		}
	}
}

// TestSearchHeaderReaderFailureIsContained: a store error or a panic in the
// goroutines reading headers fails SEARCH with NO [SERVERBUG], and the
// session goes on.
func TestSearchHeaderReaderFailureIsContained(t *testing.T) {
	ts := newTestServer(t)
	for i := range fetchBatch + 10 { // more than one batch
		ts.deliver(t, "alice@example.com", "", benchMessage(i))
	}
	w := ts.login(t, "alice@example.com", "secret")
	w.ok("SELECT INBOX")
	ts.fault.setHeaders(func() error { return fmt.Errorf("disk on fire") })
	if _, done := w.cmd("SEARCH SUBJECT number"); done != "NO [SERVERBUG] Internal server error" {
		t.Errorf("after a store error: %q", done)
	}
	ts.fault.setHeaders(func() error { panic("store bug") })
	if _, done := w.cmd("SEARCH SUBJECT number"); done != "NO [SERVERBUG] Internal server error" {
		t.Errorf("after a panic: %q", done)
	}
	if n := ts.obs.count(func(o *countingObserver) int { return o.panics }); n < 1 || n > fetchReaders {
		t.Errorf("observer saw %d panics, want 1 to %d", n, fetchReaders)
	}
	ts.fault.setHeaders(nil)
	if lines := w.ok("SEARCH SUBJECT \"number 7 \""); !has(lines, "* SEARCH 8") {
		t.Errorf("after the failures: %q", lines)
	}
}

// FuzzHeaderContains checks the quick rejection of candidate.headerContains
// against messageText.headerContains, which parses every field.
func FuzzHeaderContains(f *testing.F) {
	for _, m := range searchTestMessages() {
		f.Add(m, "Subject", "n")
	}
	f.Add("Subject: a\r\n b\r\n\r\n", "subject", "A B")
	f.Add("X-Unit: \u212A\r\n\r\n", "X-Unit", "k")
	f.Add("Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\n", "Subject", "É")
	f.Add("Subject: \xff\xfeA\r\n\r\n", "Subject", "\ufffd")
	f.Add("Subject : Needle in\r\n\ta folded line\r\n\r\nbody", "subject", "folded")
	f.Add("bad line\r\nSubject: after a malformed line\r\n\r\n", "Subject", "malformed")
	f.Add(" leading continuation\r\nSubject: x\r\n\r\n", "Subject", "x")
	f.Add("Subject\r\n : on the next line\r\n\r\n", "Subject", "next")
	f.Add("From: a\rb\r\nSubject: bare\rCR\r\n\r\n", "Subject", "bare")
	f.Add("X-Subject: needle\r\nSubject: other\r\n\r\n", "Subject", "needle")
	f.Fuzz(func(t *testing.T, message, key, value string) {
		value = strings.ToLower(value)
		want := newMessageText([]byte(message)).headerContains(key, value)
		c := &candidate{loaded: true, text: newMessageText([]byte(message))}
		if got := c.headerContains(key, value); got != want {
			t.Fatalf("headerContains(%q, %q) = %v, want %v", key, value, got, want)
		}
	})
}
