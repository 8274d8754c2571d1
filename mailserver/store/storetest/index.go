package storetest

import (
	"reflect"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store"
)

// listingOnly hides every optional interface of a store, so
// store.ReadFolderIndex takes its fallback.
type listingOnly struct{ store.MessageStore }

// index reads a folder's index through the backend's FolderIndexer; the
// test is skipped when the backend does not implement it.
func (e *env) index(f store.FolderRef) (store.FolderIndex, error) {
	e.t.Helper()
	fi, ok := e.s.(store.FolderIndexer)
	if !ok {
		e.t.Skip("the store does not implement store.FolderIndexer")
	}
	return fi.FolderIndex(e.ctx, f)
}

// indexFromListing is the index the listing implies.
func (e *env) indexFromListing(f store.FolderRef) store.FolderIndex {
	e.t.Helper()
	idx, err := store.ReadFolderIndex(e.ctx, listingOnly{e.s}, f)
	if err != nil {
		e.t.Fatalf("ReadFolderIndex(%s) from the listing: %v", f, err)
	}
	return idx
}

// checkIndex compares the backend's index of f with want and with what
// the listing implies.
func (e *env) checkIndex(f store.FolderRef, want store.FolderIndex) {
	e.t.Helper()
	got, err := e.index(f)
	wantErr(e.t, "FolderIndex", err, nil)
	if !reflect.DeepEqual(got, want) {
		e.t.Fatalf("FolderIndex(%s) = %+v, want %+v", f, got, want)
	}
	if fallback := e.indexFromListing(f); !reflect.DeepEqual(fallback, want) {
		e.t.Fatalf("ReadFolderIndex(%s) from the listing = %+v, want %+v", f, fallback, want)
	}
}

var indexTests = map[string]func(t *testing.T, e *env){
	"FolderIndex reports the UIDs, the first unseen message and the keywords in use": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		f := inbox(a)
		e.checkIndex(f, store.FolderIndex{Status: e.status(f)})
		uids := e.fill(f, 300) // several hundred, so a backend's pages or chunks are crossed
		seen := store.Flags{System: store.FlagSeen}
		e.updateFlags(store.FlagUpdate{Folder: f, UIDs: store.UIDSet{{Start: 1, Stop: 150}}, Op: store.FlagsAdd, Flags: seen})
		e.updateFlags(store.FlagUpdate{Folder: f, UIDs: store.UIDSetOf(uids[200]), Op: store.FlagsAdd,
			Flags: store.Flags{Keywords: []string{"Work", "$Later"}}})
		e.updateFlags(store.FlagUpdate{Folder: f, UIDs: store.UIDSetOf(uids[100], uids[250]), Op: store.FlagsAdd,
			Flags: store.Flags{Keywords: []string{"work", "Zebra"}}})
		// The first unseen message is expunged: the next one is first.
		_, err := e.s.Expunge(e.ctx, store.ExpungeRequest{Folder: f, UIDs: store.UIDSet{{Start: uids[150], Stop: uids[160]}}})
		wantErr(t, "Expunge", err, nil)
		want := store.FolderIndex{Status: e.status(f), FirstUnseen: uids[161], Keywords: []string{"$Later", "Zebra", "work"}}
		want.UIDs = append(append(want.UIDs, uids[:150]...), uids[161:]...)
		e.checkIndex(f, want)

		// A keyword no message holds any more is gone; one on another
		// message keeps its first spelling.
		e.updateFlags(store.FlagUpdate{Folder: f, UIDs: store.UIDSetOf(uids[100]), Op: store.FlagsRemove,
			Flags: store.Flags{Keywords: []string{"work", "zebra"}}})
		e.updateFlags(store.FlagUpdate{Folder: f, UIDs: store.UIDSet{{Start: 1, Stop: store.MaxUID}}, Op: store.FlagsAdd, Flags: seen})
		want.Status, want.FirstUnseen, want.Keywords = e.status(f), 0, []string{"$Later", "Work", "Zebra"}
		e.checkIndex(f, want)
	},
	"FolderIndex follows renames, moves and deletes and reports missing folders": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		uids := e.fill(inbox(a), 100)
		_, err := e.s.Move(e.ctx, store.CopyRequest{Account: a, From: store.Inbox, To: "Archive", UIDs: store.UIDSet{{Start: uids[90], Stop: uids[99]}}})
		wantErr(t, "Move", err, nil)
		wantErr(t, "RenameFolder", e.s.RenameFolder(e.ctx, a, store.Inbox, "Old"), nil)
		e.checkIndex(inbox(a), store.FolderIndex{Status: e.status(inbox(a))})
		old := folder(a, "Old")
		e.checkIndex(old, store.FolderIndex{Status: e.status(old), UIDs: uids[:90], FirstUnseen: uids[0]})
		archive := e.uids(folder(a, "Archive"))
		e.checkIndex(folder(a, "Archive"), store.FolderIndex{Status: e.status(folder(a, "Archive")), UIDs: archive, FirstUnseen: archive[0]})

		wantErr(t, "DeleteFolder", e.s.DeleteFolder(e.ctx, old), nil)
		_, err = e.index(old)
		wantErr(t, "FolderIndex of a deleted folder", err, store.ErrFolderNotFound)
		e.createFolder(old)
		e.checkIndex(old, store.FolderIndex{Status: e.status(old)})
		_, err = e.index(inbox("nobody@example.org"))
		wantErr(t, "FolderIndex of a missing account", err, store.ErrAccountNotFound)
	},
}
