package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

var copyTests = map[string]func(t *testing.T, e *env){
	"Copy maps source to destination UIDs and keeps flags, dates and bodies": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		e.fill(folder(a, "Archive"), 2) // the destination's UIDs start above the source's
		date := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
		for i := 1; i <= 3; i++ {
			_, err := e.s.Append(e.ctx, store.AppendRequest{Folder: inbox(a), Body: body(i), InternalDate: date,
				Flags: store.Flags{System: store.FlagFlagged, Keywords: []string{"k"}}})
			wantErr(t, "Append", err, nil)
		}
		res, err := e.s.Copy(e.ctx, store.CopyRequest{Account: a, From: "inbox", To: "Archive", UIDs: store.UIDSetOf(1, 3)})
		wantErr(t, "Copy", err, nil)
		wantUIDs(t, "source", res.SourceUIDs, []store.UID{1, 3})
		wantUIDs(t, "destination", res.DestUIDs, []store.UID{3, 4})
		dst := e.list(folder(a, "Archive"))
		if res.DestUIDValidity != dst.Status.UIDValidity {
			t.Fatalf("COPYUID validity %d, want %d", res.DestUIDValidity, dst.Status.UIDValidity)
		}
		for i, uid := range res.DestUIDs {
			m := dst.Messages[2+i]
			if m.UID != uid || !m.Flags.Equal(store.Flags{System: store.FlagFlagged, Keywords: []string{"k"}}) || !m.InternalDate.Equal(date) {
				t.Fatalf("copied message %+v", m)
			}
			if got := e.body(folder(a, "Archive"), uid); string(got) != string(body(int(res.SourceUIDs[i]))) {
				t.Fatalf("copied body %q", got)
			}
		}
		wantUIDs(t, "source left alone", e.uids(inbox(a)), []store.UID{1, 2, 3})
	},
	"Copy over quota fails as a whole": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		e.fill(inbox(a), 3)
		u := e.usage(a)
		_, err := e.s.Copy(e.ctx, store.CopyRequest{Account: a, From: store.Inbox, To: "Archive",
			UIDs: store.AllUIDs(), QuotaBytes: u.Bytes + int64(len(body(1)))*2})
		wantErr(t, "Copy", err, store.ErrOverQuota)
		if got := e.uids(folder(a, "Archive")); len(got) != 0 {
			t.Fatalf("a failed copy left %v in Archive", got)
		}
		if got := e.usage(a); got != u {
			t.Fatalf("usage %+v, want %+v", got, u)
		}
	},
	"Move gives new UIDs in the destination and expunges the source with tombstones": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		e.fill(inbox(a), 4)
		before := e.status(inbox(a))
		usage := e.usage(a)
		res, err := e.s.Move(e.ctx, store.CopyRequest{Account: a, From: store.Inbox, To: "Trash", UIDs: store.UIDSetOf(2, 4), QuotaBytes: 1})
		wantErr(t, "Move", err, nil)
		wantUIDs(t, "source", res.SourceUIDs, []store.UID{2, 4})
		wantUIDs(t, "destination", res.DestUIDs, []store.UID{1, 2})
		wantUIDs(t, "left in INBOX", e.uids(inbox(a)), []store.UID{1, 3})
		wantUIDs(t, "in Trash", e.uids(folder(a, "Trash")), []store.UID{1, 2})
		if got := e.body(folder(a, "Trash"), 2); string(got) != string(body(4)) {
			t.Fatalf("moved body %q", got)
		}
		vanished, err := e.s.Vanished(e.ctx, inbox(a), before.HighestModSeq, store.AllUIDs())
		wantErr(t, "Vanished", err, nil)
		wantUIDs(t, "vanished", vanished, []store.UID{2, 4})
		if got := e.usage(a); got != usage {
			t.Fatalf("a move changed usage to %+v from %+v", got, usage)
		}
	},
	"Move within one folder renumbers the messages": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		e.fill(inbox(a), 2)
		res, err := e.s.Move(e.ctx, store.CopyRequest{Account: a, From: store.Inbox, To: store.Inbox, UIDs: store.UIDSetOf(1)})
		wantErr(t, "Move", err, nil)
		wantUIDs(t, "destination", res.DestUIDs, []store.UID{3})
		wantUIDs(t, "INBOX", e.uids(inbox(a)), []store.UID{2, 3})
	},
	"Copy and Move report unknown folders and copy nothing for an empty set": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		e.fill(inbox(a), 1)
		_, err := e.s.Copy(e.ctx, store.CopyRequest{Account: a, From: store.Inbox, To: "Nope", UIDs: store.AllUIDs()})
		wantErr(t, "Copy to unknown", err, store.ErrFolderNotFound)
		_, err = e.s.Move(e.ctx, store.CopyRequest{Account: a, From: "Nope", To: store.Inbox, UIDs: store.AllUIDs()})
		wantErr(t, "Move from unknown", err, store.ErrFolderNotFound)
		res, err := e.s.Copy(e.ctx, store.CopyRequest{Account: a, From: store.Inbox, To: "Sent"})
		wantErr(t, "Copy of nothing", err, nil)
		if len(res.DestUIDs) != 0 || !slices.Equal(e.uids(folder(a, "Sent")), nil) {
			t.Fatalf("empty copy copied %+v", res)
		}
	},
}
