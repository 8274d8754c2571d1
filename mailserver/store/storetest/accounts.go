package storetest

import (
	"slices"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store"
)

var accountTests = map[string]func(t *testing.T, e *env){
	"EnsureAccount creates the default folders with their special use, subscribed": func(t *testing.T, e *env) {
		created, err := e.s.EnsureAccount(e.ctx, "alice@example.org")
		wantErr(t, "EnsureAccount", err, nil)
		if !created {
			t.Fatal("EnsureAccount reported an existing account")
		}
		folders, err := e.s.ListFolders(e.ctx, "alice@example.org")
		wantErr(t, "ListFolders", err, nil)
		want := map[string]store.SpecialUse{
			"INBOX": store.SpecialNone, "Sent": store.SpecialSent, "Drafts": store.SpecialDrafts,
			"Trash": store.SpecialTrash, "Junk": store.SpecialJunk, "Archive": store.SpecialArchive,
		}
		if len(folders) != len(want) {
			t.Fatalf("got %d folders, want %d: %+v", len(folders), len(want), folders)
		}
		validities := map[uint32]bool{}
		for i, f := range folders {
			use, ok := want[f.Name]
			switch {
			case !ok:
				t.Errorf("unexpected folder %q", f.Name)
			case f.SpecialUse != use:
				t.Errorf("folder %q special use %q, want %q", f.Name, f.SpecialUse, use)
			case !f.Subscribed:
				t.Errorf("folder %q is not subscribed", f.Name)
			case f.Status.Messages != 0 || f.Status.UIDNext != 1 || f.Status.UIDValidity == 0 || f.Status.HighestModSeq == 0:
				t.Errorf("folder %q has status %+v, want empty with UIDNEXT 1", f.Name, f.Status)
			}
			if i > 0 && folders[i-1].Name >= f.Name {
				t.Errorf("folders not ordered by name: %q before %q", folders[i-1].Name, f.Name)
			}
			validities[f.Status.UIDValidity] = true
		}
		if len(validities) != len(folders) {
			t.Errorf("folders share UIDVALIDITY values: %+v", folders)
		}
	},
	"EnsureAccount is idempotent and keys accounts by the lower-cased address": func(t *testing.T, e *env) {
		created, err := e.s.EnsureAccount(e.ctx, " Bob@Example.ORG ")
		wantErr(t, "first EnsureAccount", err, nil)
		if !created {
			t.Fatal("first EnsureAccount did not create the account")
		}
		created, err = e.s.EnsureAccount(e.ctx, "bob@example.org")
		wantErr(t, "second EnsureAccount", err, nil)
		if created {
			t.Fatal("second EnsureAccount created the account again")
		}
		e.deliver(inbox("BOB@example.org"), body(1))
		if u := e.usage("bob@EXAMPLE.org"); u.Messages != 1 {
			t.Fatalf("usage %+v, want 1 message", u)
		}
		accounts, err := e.s.Accounts(e.ctx)
		wantErr(t, "Accounts", err, nil)
		if len(accounts) != 1 || accounts[0].Address != "bob@example.org" {
			t.Fatalf("accounts %+v, want only bob@example.org", accounts)
		}
	},
	"EnsureAccount does not re-create a default folder the user deleted": func(t *testing.T, e *env) {
		a := e.account("carol@example.org")
		wantErr(t, "DeleteFolder", e.s.DeleteFolder(e.ctx, folder(a, "Junk")), nil)
		created, err := e.s.EnsureAccount(e.ctx, a)
		wantErr(t, "EnsureAccount", err, nil)
		if created || slices.Contains(e.folderNames(a), "Junk") {
			t.Fatalf("EnsureAccount re-created the account or Junk: created=%v folders=%v", created, e.folderNames(a))
		}
	},
	"DeleteAccount purges folders, messages and usage": func(t *testing.T, e *env) {
		a := e.account("dave@example.org")
		other := e.account("erin@example.org")
		e.fill(inbox(a), 3)
		e.createFolder(folder(a, "Projects/2024"))
		e.deliver(folder(a, "Projects/2024"), body(9))
		e.deliver(inbox(other), body(1))
		oldValidity := e.status(inbox(a)).UIDValidity

		wantErr(t, "DeleteAccount", e.s.DeleteAccount(e.ctx, "Dave@example.org"), nil)
		_, err := e.s.Usage(e.ctx, a)
		wantErr(t, "Usage after delete", err, store.ErrAccountNotFound)
		_, err = e.s.ListFolders(e.ctx, a)
		wantErr(t, "ListFolders after delete", err, store.ErrAccountNotFound)
		_, err = e.s.ListMessages(e.ctx, inbox(a), store.ListOptions{UIDs: store.AllUIDs()})
		wantErr(t, "ListMessages after delete", err, store.ErrAccountNotFound)
		wantErr(t, "second DeleteAccount", e.s.DeleteAccount(e.ctx, a), store.ErrAccountNotFound)
		if u := e.usage(other); u.Messages != 1 {
			t.Fatalf("other account's usage %+v, want 1 message", u)
		}
		if got := e.body(inbox(other), 1); string(got) != string(body(1)) {
			t.Fatalf("other account's body changed: %q", got)
		}

		e.account(a)
		st := e.status(inbox(a))
		if st.Messages != 0 || st.UIDNext != 1 || st.UIDValidity == oldValidity {
			t.Fatalf("re-created INBOX status %+v, want empty with a new UIDVALIDITY (old %d)", st, oldValidity)
		}
		if u := e.usage(a); u != (store.Usage{}) {
			t.Fatalf("re-created account usage %+v, want zero", u)
		}
	},
	"operations on an unknown account fail with ErrAccountNotFound": func(t *testing.T, e *env) {
		f := inbox("nobody@example.org")
		_, err := e.s.FolderStatus(e.ctx, f)
		wantErr(t, "FolderStatus", err, store.ErrAccountNotFound)
		wantErr(t, "CreateFolder", e.s.CreateFolder(e.ctx, folder(f.Account, "x"), store.CreateFolderOptions{}), store.ErrAccountNotFound)
		_, err = e.s.Append(e.ctx, store.AppendRequest{Folder: f, Body: body(1)})
		wantErr(t, "Append", err, store.ErrAccountNotFound)
		_, err = e.s.Body(e.ctx, f, 1)
		wantErr(t, "Body", err, store.ErrAccountNotFound)
		_, err = e.s.Usage(e.ctx, f.Account)
		wantErr(t, "Usage", err, store.ErrAccountNotFound)
		res, err := e.s.Submit(e.ctx, store.Submission{Body: body(1), BestEffort: true, Local: []store.DeliveryTarget{{Account: f.Account}}})
		wantErr(t, "Submit", err, nil)
		wantErr(t, "Submit result", res[0].Err, store.ErrAccountNotFound)
	},
	"Accounts lists every account with its usage, ordered by address": func(t *testing.T, e *env) {
		b, a := e.account("b@example.org"), e.account("a@example.org")
		e.fill(inbox(b), 2)
		accounts, err := e.s.Accounts(e.ctx)
		wantErr(t, "Accounts", err, nil)
		size := int64(len(body(1)) + len(body(2)))
		want := []store.Account{{Address: a}, {Address: b, Usage: store.Usage{Bytes: size, Messages: 2}}}
		if !slices.Equal(accounts, want) {
			t.Fatalf("accounts %+v, want %+v", accounts, want)
		}
	},
}
