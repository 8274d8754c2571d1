package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store"
)

// headerCall is one call of a Headers callback.
type headerCall struct {
	uid    store.UID
	header string
}

// headers runs Headers and records its calls; the test is skipped when the
// backend does not implement the optional store.HeaderReader.
func (e *env) headers(f store.FolderRef, uids store.UIDSet) ([]headerCall, error) {
	e.t.Helper()
	hr, ok := e.s.(store.HeaderReader)
	if !ok {
		e.t.Skip("the store does not implement store.HeaderReader")
	}
	var calls []headerCall
	err := hr.Headers(e.ctx, f, uids, func(uid store.UID, header []byte) error {
		calls = append(calls, headerCall{uid: uid, header: string(header)})
		return nil
	})
	return calls, err
}

// longHeader returns a header of at least n bytes made of folded fields,
// without its ending empty line.
func longHeader(n int) string {
	var sb strings.Builder
	for i := 0; sb.Len() < n; i++ {
		fmt.Fprintf(&sb, "Received: from relay%d.example.org\r\n\tby mx.example.com; Tue, 14 May 2024 10:00:00 +0000\r\n", i)
	}
	return sb.String()
}

var headerTests = map[string]func(t *testing.T, e *env){
	"Headers returns each message's header section in UID order and skips UID gaps": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		bodies := []string{
			"From: a@example.org\r\nSubject: plain\r\n\r\nBody.\r\n",
			"From: a@example.org\nSubject: bare LF\n\nBody.\n",
			"From: a@example.org\r\nSubject: no body, no empty line\r\n",
			"From: a@example.org\r\nSubject: no body after the empty line\r\n\r\n",
			"\r\nAn empty header: this is all body.\r\n",
			"no empty line and no line end",
			longHeader(100<<10) + "\r\nBody after a 100 KiB header.\r\n",
			longHeader(70<<10) + "Subject: a 70 KiB header with no body\r\n",
			"Subject: header\r\n\r\n" + strings.Repeat("a long body after a short header\r\n", 4000),
			"Subject: the body holds another empty line\r\n\r\nfirst\r\n\r\nsecond\r\n",
		}
		var uids []store.UID
		for _, b := range bodies {
			uids = append(uids, e.deliver(inbox(a), []byte(b)))
		}
		// Gaps: expunge two messages inside the range asked for.
		gone := store.UIDSetOf(uids[1], uids[6])
		_, err := e.s.Expunge(e.ctx, store.ExpungeRequest{Folder: inbox(a), UIDs: gone})
		wantErr(t, "Expunge", err, nil)

		set := store.UIDSet{{Start: uids[0], Stop: uids[3]}, {Start: uids[5], Stop: store.MaxUID}}
		got, err := e.headers(inbox(a), set)
		wantErr(t, "Headers", err, nil)
		var want []headerCall
		for i, b := range bodies {
			if i == 4 || gone.Contains(uids[i]) {
				continue // outside the set, or expunged
			}
			want = append(want, headerCall{uid: uids[i], header: b[:store.HeaderLen([]byte(b))]})
		}
		if len(got) != len(want) {
			t.Fatalf("got %d calls %v, want %d", len(got), callUIDs(got), len(want))
		}
		for i := range want {
			if got[i].uid != want[i].uid || got[i].header != want[i].header {
				t.Errorf("call %d: UID %d header of %d bytes %.40q..., want UID %d header of %d bytes %.40q...",
					i, got[i].uid, len(got[i].header), got[i].header, want[i].uid, len(want[i].header), want[i].header)
			}
		}
		for _, c := range got {
			if body := e.body(inbox(a), c.uid); !bytes.HasPrefix(body, []byte(c.header)) {
				t.Errorf("UID %d: header is not a prefix of the body", c.uid)
			}
		}
	},
	"Headers selects by UID set and does nothing for an empty set or folder": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		uids := e.fill(inbox(a), 5)
		got, err := e.headers(inbox(a), store.UIDSetOf(uids[4], uids[1]))
		wantErr(t, "Headers", err, nil)
		wantUIDs(t, "Headers of two UIDs", callUIDs(got), []store.UID{uids[1], uids[4]})
		got, err = e.headers(inbox(a), nil)
		wantErr(t, "Headers of an empty set", err, nil)
		wantUIDs(t, "Headers of an empty set", callUIDs(got), nil)
		got, err = e.headers(folder(a, "Sent"), store.AllUIDs())
		wantErr(t, "Headers of an empty folder", err, nil)
		wantUIDs(t, "Headers of an empty folder", callUIDs(got), nil)
	},
	"Headers stops at the callback's error and returns it as is": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		e.fill(inbox(a), 5)
		hr, ok := e.s.(store.HeaderReader)
		if !ok {
			t.Skip("the store does not implement store.HeaderReader")
		}
		stop := errors.New("enough")
		calls := 0
		err := hr.Headers(e.ctx, inbox(a), store.AllUIDs(), func(store.UID, []byte) error {
			calls++
			if calls == 2 {
				return stop
			}
			return nil
		})
		if err != stop { //nolint:errorlint // the very error, unwrapped, is the contract
			t.Fatalf("Headers returned %v, want the callback's error as is", err)
		}
		if calls != 2 {
			t.Fatalf("callback called %d times after its error, want 2 calls", calls)
		}
	},
	"Headers of a missing folder or account fails like ListMessages": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		_, err := e.headers(folder(a, "Nope"), store.AllUIDs())
		wantErr(t, "Headers of a missing folder", err, store.ErrFolderNotFound)
		_, err = e.headers(inbox("nobody@example.org"), store.AllUIDs())
		wantErr(t, "Headers of a missing account", err, store.ErrAccountNotFound)
	},
}

func callUIDs(calls []headerCall) []store.UID {
	var out []store.UID
	for _, c := range calls {
		out = append(out, c.uid)
	}
	return out
}
