package storetest

import (
	"slices"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store"
)

var folderTests = map[string]func(t *testing.T, e *env){
	"CreateFolder creates missing superiors and keeps the options": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		err := e.s.CreateFolder(e.ctx, folder(a, "Lists/Go/Nuts"),
			store.CreateFolderOptions{SpecialUse: store.SpecialFlagged, Subscribed: true})
		wantErr(t, "CreateFolder", err, nil)
		folders, err := e.s.ListFolders(e.ctx, a)
		wantErr(t, "ListFolders", err, nil)
		got := map[string]store.Folder{}
		for _, f := range folders {
			got[f.Name] = f
		}
		for _, name := range []string{"Lists", "Lists/Go", "Lists/Go/Nuts"} {
			if _, ok := got[name]; !ok {
				t.Fatalf("folder %q missing from %v", name, e.folderNames(a))
			}
		}
		if f := got["Lists/Go/Nuts"]; f.SpecialUse != store.SpecialFlagged || !f.Subscribed {
			t.Fatalf("new folder %+v, want \\Flagged and subscribed", f)
		}
		if f := got["Lists"]; f.SpecialUse != store.SpecialNone || f.Subscribed {
			t.Fatalf("created superior %+v, want plain and unsubscribed", f)
		}
	},
	"CreateFolder refuses an existing name, INBOX in any case included": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		for _, name := range []string{"Sent", "inbox", "INBOX"} {
			err := e.s.CreateFolder(e.ctx, folder(a, name), store.CreateFolderOptions{})
			wantErr(t, "CreateFolder "+name, err, store.ErrFolderExists)
		}
	},
	"CreateFolder refuses names with an empty hierarchy level and unknown special uses": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		for _, name := range []string{"", "/a", "a/", "a//b"} {
			err := e.s.CreateFolder(e.ctx, folder(a, name), store.CreateFolderOptions{})
			wantErr(t, "CreateFolder "+name, err, store.ErrInvalidArgument)
		}
		err := e.s.CreateFolder(e.ctx, folder(a, "Bin"), store.CreateFolderOptions{SpecialUse: `\Bin`})
		wantErr(t, "CreateFolder with \\Bin", err, store.ErrInvalidArgument)
	},
	"names under INBOX are stored under the canonical INBOX spelling": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		e.createFolder(folder(a, "inbox/Lists"))
		if !slices.Contains(e.folderNames(a), "INBOX/Lists") {
			t.Fatalf("folders %v, want INBOX/Lists", e.folderNames(a))
		}
		err := e.s.CreateFolder(e.ctx, folder(a, "Inbox/Lists"), store.CreateFolderOptions{})
		wantErr(t, "CreateFolder Inbox/Lists", err, store.ErrFolderExists)
		e.deliver(folder(a, "iNbOx/Lists"), body(1))
		if st := e.status(folder(a, "INBOX/Lists")); st.Messages != 1 {
			t.Fatalf("INBOX/Lists status %+v, want the message delivered to iNbOx/Lists", st)
		}
	},
	"DeleteFolder removes the folder and its messages and releases usage": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		e.createFolder(folder(a, "Old"))
		e.fill(folder(a, "Old"), 2)
		keep := e.deliver(inbox(a), body(7))
		wantErr(t, "DeleteFolder", e.s.DeleteFolder(e.ctx, folder(a, "Old")), nil)
		if slices.Contains(e.folderNames(a), "Old") {
			t.Fatal("deleted folder still listed")
		}
		_, err := e.s.FolderStatus(e.ctx, folder(a, "Old"))
		wantErr(t, "FolderStatus of deleted folder", err, store.ErrFolderNotFound)
		if u := e.usage(a); u != (store.Usage{Bytes: int64(len(body(7))), Messages: 1}) {
			t.Fatalf("usage %+v after delete, want only the INBOX message", u)
		}
		if got := e.body(inbox(a), keep); string(got) != string(body(7)) {
			t.Fatalf("INBOX body changed: %q", got)
		}
	},
	"DeleteFolder refuses INBOX, unknown folders and folders with inferiors": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		e.createFolder(folder(a, "P/Q"))
		wantErr(t, "DeleteFolder INBOX", e.s.DeleteFolder(e.ctx, folder(a, "inbox")), store.ErrFolderProtected)
		wantErr(t, "DeleteFolder unknown", e.s.DeleteFolder(e.ctx, folder(a, "Nope")), store.ErrFolderNotFound)
		wantErr(t, "DeleteFolder parent", e.s.DeleteFolder(e.ctx, folder(a, "P")), store.ErrFolderHasChildren)
		wantErr(t, "DeleteFolder child", e.s.DeleteFolder(e.ctx, folder(a, "P/Q")), nil)
		wantErr(t, "DeleteFolder emptied parent", e.s.DeleteFolder(e.ctx, folder(a, "P")), nil)
	},
	"a folder re-created under a deleted name gets a new UIDVALIDITY and starts at UID 1": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		seen := map[uint32]bool{}
		for round := range 3 {
			e.createFolder(folder(a, "Temp"))
			st := e.status(folder(a, "Temp"))
			if seen[st.UIDValidity] || st.UIDNext != 1 {
				t.Fatalf("round %d: status %+v reuses a UIDVALIDITY or UID (seen %v)", round, st, seen)
			}
			seen[st.UIDValidity] = true
			if uid := e.deliver(folder(a, "Temp"), body(round)); uid != 1 {
				t.Fatalf("round %d: first UID %d, want 1", round, uid)
			}
			wantErr(t, "DeleteFolder", e.s.DeleteFolder(e.ctx, folder(a, "Temp")), nil)
		}
	},
	"SetSubscribed subscribes and unsubscribes existing folders only": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		e.createFolder(folder(a, "News"))
		subscribed := func() bool {
			folders, err := e.s.ListFolders(e.ctx, a)
			wantErr(t, "ListFolders", err, nil)
			for _, f := range folders {
				if f.Name == "News" {
					return f.Subscribed
				}
			}
			t.Fatal("News not listed")
			return false
		}
		wantErr(t, "subscribe", e.s.SetSubscribed(e.ctx, folder(a, "News"), true), nil)
		if !subscribed() {
			t.Fatal("News not subscribed")
		}
		wantErr(t, "unsubscribe", e.s.SetSubscribed(e.ctx, folder(a, "News"), false), nil)
		if subscribed() {
			t.Fatal("News still subscribed")
		}
		wantErr(t, "subscribe unknown", e.s.SetSubscribed(e.ctx, folder(a, "Nope"), true), store.ErrFolderNotFound)
	},
	"FolderStatus counts messages, unseen, size, UIDNEXT and HIGHESTMODSEQ": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		uids := e.fill(inbox(a), 3)
		res := e.updateFlags(store.FlagUpdate{Folder: inbox(a), UIDs: store.UIDSetOf(uids[0]),
			Op: store.FlagsAdd, Flags: store.Flags{System: store.FlagSeen}})
		st := e.status(inbox(a))
		size := int64(len(body(1)) + len(body(2)) + len(body(3)))
		want := store.FolderStatus{Messages: 3, Unseen: 2, UIDNext: 4, UIDValidity: st.UIDValidity,
			HighestModSeq: res.ModSeq, Size: size}
		if st != want {
			t.Fatalf("status %+v, want %+v", st, want)
		}
		list := e.list(inbox(a))
		if list.Status != st {
			t.Fatalf("ListMessages status %+v, want %+v", list.Status, st)
		}
	},
}

var renameTests = map[string]func(t *testing.T, e *env){
	"RenameFolder renames inferiors and keeps messages, UIDs and UIDVALIDITY": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		for _, n := range []string{"W/B/C", "WB"} {
			e.createFolder(folder(a, n))
		}
		uids := e.fill(folder(a, "W/B"), 2)
		before := e.status(folder(a, "W/B"))
		wantErr(t, "RenameFolder", e.s.RenameFolder(e.ctx, a, "W", "X/Y"), nil)
		names := e.folderNames(a)
		for _, n := range []string{"X", "X/Y", "X/Y/B", "X/Y/B/C", "WB"} {
			if !slices.Contains(names, n) {
				t.Fatalf("folder %q missing after rename: %v", n, names)
			}
		}
		for _, n := range []string{"W", "W/B", "W/B/C"} {
			if slices.Contains(names, n) {
				t.Fatalf("old folder %q still listed: %v", n, names)
			}
		}
		after := e.status(folder(a, "X/Y/B"))
		if after != before {
			t.Fatalf("renamed folder status %+v, want %+v", after, before)
		}
		wantUIDs(t, "renamed folder", e.uids(folder(a, "X/Y/B")), uids)
		if got := e.body(folder(a, "X/Y/B"), uids[1]); string(got) != string(body(2)) {
			t.Fatalf("body after rename %q", got)
		}
	},
	"RenameFolder refuses an existing target, an unknown source and a target inside the source": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		e.createFolder(folder(a, "M"))
		wantErr(t, "onto existing", e.s.RenameFolder(e.ctx, a, "M", "Sent"), store.ErrFolderExists)
		wantErr(t, "onto INBOX", e.s.RenameFolder(e.ctx, a, "M", "Inbox"), store.ErrFolderExists)
		wantErr(t, "unknown source", e.s.RenameFolder(e.ctx, a, "Nope", "Z"), store.ErrFolderNotFound)
		wantErr(t, "into itself", e.s.RenameFolder(e.ctx, a, "M", "M/N"), store.ErrInvalidArgument)
		if !slices.Contains(e.folderNames(a), "M") {
			t.Fatal("failed renames changed the folder")
		}
	},
	"renaming INBOX moves its messages to the new folder and leaves INBOX empty": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		e.createFolder(folder(a, "INBOX/Sub"))
		uids := e.fill(inbox(a), 3)
		before := e.status(inbox(a))
		usage := e.usage(a)
		wantErr(t, "RenameFolder", e.s.RenameFolder(e.ctx, a, "inbox", "Old Mail"), nil)

		moved := folder(a, "Old Mail")
		if got := e.uids(moved); len(got) != 3 {
			t.Fatalf("new folder holds %v, want 3 messages", got)
		}
		for i, m := range e.list(moved).Messages {
			if got := e.body(moved, m.UID); string(got) != string(body(i+1)) {
				t.Fatalf("moved message %d body %q", m.UID, got)
			}
		}
		st := e.status(inbox(a))
		if st.Messages != 0 || st.Unseen != 0 || st.Size != 0 || st.UIDValidity != before.UIDValidity ||
			st.UIDNext < before.UIDNext || st.HighestModSeq <= before.HighestModSeq {
			t.Fatalf("INBOX status after rename %+v (before %+v)", st, before)
		}
		if uid := e.deliver(inbox(a), body(9)); uid < before.UIDNext {
			t.Fatalf("INBOX reused UID %d after rename (UIDNEXT was %d)", uid, before.UIDNext)
		}
		vanished, err := e.s.Vanished(e.ctx, inbox(a), before.HighestModSeq, store.AllUIDs())
		wantErr(t, "Vanished", err, nil)
		wantUIDs(t, "vanished from INBOX", vanished, uids)
		if !slices.Contains(e.folderNames(a), "INBOX/Sub") {
			t.Fatal("INBOX's inferior was affected by the rename")
		}
		if u := e.usage(a); u.Messages != usage.Messages+1 {
			t.Fatalf("usage %+v, want %+v plus one message", u, usage)
		}
	},
}
