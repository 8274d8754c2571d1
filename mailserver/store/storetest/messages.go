package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

var messageTests = map[string]func(t *testing.T, e *env){
	"Submit best effort stores the message for every target and reports each target's failure": func(t *testing.T, e *env) {
		a, b, c := e.account("a@example.org"), e.account("b@example.org"), e.account("c@example.org")
		msg := bytes.Repeat([]byte("0123456789abcdef"), 64)
		e.deliver(inbox(b), body(1)) // b's usage makes the quota below too small
		targets := []store.DeliveryTarget{
			{Account: "A@example.org"},
			{Account: b, QuotaBytes: int64(len(msg))},
			{Account: c, Folder: "Archive", Flags: store.Flags{System: store.FlagSeen}, QuotaBytes: int64(len(msg))},
			{Account: "nobody@example.org"},
			{Account: a, Folder: "No Such Folder"},
			{Account: a, Folder: "Sent", Flags: store.Flags{Keywords: []string{"bad keyword"}}},
		}
		want := []error{nil, store.ErrOverQuota, nil, store.ErrAccountNotFound, store.ErrFolderNotFound, store.ErrInvalidArgument}
		res, err := e.s.Submit(e.ctx, store.Submission{Body: msg, Local: targets, BestEffort: true})
		wantErr(t, "Submit", err, nil)
		if len(res) != len(targets) {
			t.Fatalf("got %d results for %d targets", len(res), len(targets))
		}
		for i, r := range res {
			wantErr(t, "target "+targets[i].Account+":"+targets[i].Folder, r.Err, want[i])
		}
		if got := e.body(inbox(a), res[0].UID); !bytes.Equal(got, msg) {
			t.Fatal("body for a differs")
		}
		archive := e.list(folder(c, "Archive"))
		if len(archive.Messages) != 1 || !archive.Messages[0].Flags.Has(store.FlagSeen) ||
			archive.Messages[0].UID != res[2].UID || archive.Status.UIDValidity != res[2].UIDValidity {
			t.Fatalf("c's Archive %+v, want the \\Seen message %+v", archive, res[2])
		}
		if u := e.usage(b); u.Messages != 1 {
			t.Fatalf("over-quota target's usage %+v, want only its earlier message", u)
		}
		if u := e.usage(a); u != (store.Usage{Bytes: int64(len(msg)), Messages: 1}) {
			t.Fatalf("a's usage %+v, want one message of %d bytes", u, len(msg))
		}
	},
	"Submit best effort with every target failing stores nothing and still returns the results": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		res, err := e.s.Submit(e.ctx, store.Submission{Body: body(1), BestEffort: true, Local: []store.DeliveryTarget{
			{Account: a, QuotaBytes: 1}, {Account: "nobody@example.org"},
		}})
		wantErr(t, "Submit", err, nil)
		wantErr(t, "first target", res[0].Err, store.ErrOverQuota)
		wantErr(t, "second target", res[1].Err, store.ErrAccountNotFound)
		if u := e.usage(a); u != (store.Usage{}) {
			t.Fatalf("usage %+v, want zero", u)
		}
		if st := e.status(inbox(a)); st.UIDNext != 1 {
			t.Fatalf("a failed delivery consumed a UID: %+v", st)
		}
	},
	"UIDs increase strictly and are never reused after an expunge": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		uids := e.fill(inbox(a), 3)
		wantUIDs(t, "first deliveries", uids, []store.UID{1, 2, 3})
		_, err := e.s.Expunge(e.ctx, store.ExpungeRequest{Folder: inbox(a), UIDs: store.UIDSetOf(3)})
		wantErr(t, "Expunge", err, nil)
		if uid := e.deliver(inbox(a), body(4)); uid != 4 {
			t.Fatalf("UID after expunging the last message %d, want 4", uid)
		}
		if st := e.status(inbox(a)); st.UIDNext != 5 {
			t.Fatalf("UIDNEXT %d, want 5", st.UIDNext)
		}
	},
	"every change takes a new, larger mod-sequence": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		f := inbox(a)
		m0 := e.status(f).HighestModSeq
		r1, err := e.s.Append(e.ctx, store.AppendRequest{Folder: f, Body: body(1)})
		wantErr(t, "Append", err, nil)
		uid2 := e.deliver(f, body(2))
		m2 := e.status(f).HighestModSeq
		r3 := e.updateFlags(store.FlagUpdate{Folder: f, UIDs: store.UIDSetOf(r1.UID), Op: store.FlagsAdd,
			Flags: store.Flags{System: store.FlagFlagged}})
		x, err := e.s.Expunge(e.ctx, store.ExpungeRequest{Folder: f, UIDs: store.UIDSetOf(uid2)})
		wantErr(t, "Expunge", err, nil)
		seq := []store.ModSeq{m0, r1.ModSeq, m2, r3.ModSeq, x.ModSeq}
		for i := 1; i < len(seq); i++ {
			if seq[i] <= seq[i-1] {
				t.Fatalf("mod-sequences not strictly increasing: %v", seq)
			}
		}
		if st := e.status(f); st.HighestModSeq != x.ModSeq {
			t.Fatalf("HIGHESTMODSEQ %d, want the expunge's %d", st.HighestModSeq, x.ModSeq)
		}
		if m := e.list(f).Messages; len(m) != 1 || m[0].ModSeq != r3.ModSeq {
			t.Fatalf("messages %+v, want UID %d at mod-sequence %d", m, r1.UID, r3.ModSeq)
		}
	},
	"Append keeps flags and the internal date with its zone and checks the quota": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		date := time.Date(2024, 2, 29, 13, 14, 15, 0, time.FixedZone("", -7*3600))
		flags := store.Flags{System: store.FlagDraft | store.FlagSeen, Keywords: []string{"$Forwarded", "Work"}}
		res, err := e.s.Append(e.ctx, store.AppendRequest{Folder: folder(a, "Drafts"), Body: body(1), Flags: flags, InternalDate: date})
		wantErr(t, "Append", err, nil)
		list := e.list(folder(a, "Drafts"))
		if res.UIDValidity != list.Status.UIDValidity || len(list.Messages) != 1 {
			t.Fatalf("append result %+v, folder %+v", res, list)
		}
		m := list.Messages[0]
		_, off := m.InternalDate.Zone()
		if m.UID != res.UID || m.ModSeq != res.ModSeq || !m.Flags.Equal(flags) || !m.InternalDate.Equal(date) ||
			off != -7*3600 || m.Size != int64(len(body(1))) {
			t.Fatalf("appended message %+v, want UID %d flags %v date %v", m, res.UID, flags, date)
		}
		_, err = e.s.Append(e.ctx, store.AppendRequest{Folder: inbox(a), Body: body(2), QuotaBytes: m.Size + 1})
		wantErr(t, "Append over quota", err, store.ErrOverQuota)
		_, err = e.s.Append(e.ctx, store.AppendRequest{Folder: folder(a, "Nope"), Body: body(2)})
		wantErr(t, "Append to unknown folder", err, store.ErrFolderNotFound)
	},
	"ListMessages selects by UID set and CHANGEDSINCE, in UID order": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		f := inbox(a)
		e.fill(f, 10)
		changed := e.updateFlags(store.FlagUpdate{Folder: f, UIDs: store.UIDSetOf(4, 9), Op: store.FlagsAdd,
			Flags: store.Flags{System: store.FlagAnswered}})
		cases := map[string]struct {
			opts store.ListOptions
			want []store.UID
		}{
			"every message":         {store.ListOptions{UIDs: store.AllUIDs()}, []store.UID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
			"an empty set":          {store.ListOptions{}, nil},
			"ranges and singles":    {store.ListOptions{UIDs: store.UIDSet{{Start: 2, Stop: 3}, {Start: 7, Stop: 7}, {Start: 9, Stop: store.MaxUID}}}, []store.UID{2, 3, 7, 9, 10}},
			"a range beyond UIDs":   {store.ListOptions{UIDs: store.UIDSet{{Start: 11, Stop: 20}}}, nil},
			"changed since a flag":  {store.ListOptions{UIDs: store.AllUIDs(), ChangedSince: changed.ModSeq - 1}, []store.UID{4, 9}},
			"changed since and set": {store.ListOptions{UIDs: store.UIDSetOf(1, 4), ChangedSince: changed.ModSeq - 1}, []store.UID{4}},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				l, err := e.s.ListMessages(e.ctx, f, tc.opts)
				wantErr(t, "ListMessages", err, nil)
				var got []store.UID
				for _, m := range l.Messages {
					got = append(got, m.UID)
				}
				wantUIDs(t, name, got, tc.want)
			})
		}
	},
	"Body returns the stored bytes, owned by the caller": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		big := bytes.Repeat([]byte("x"), 256<<10)
		uid := e.deliver(inbox(a), big)
		empty := e.deliver(inbox(a), []byte{})
		got := e.body(inbox(a), uid)
		if !bytes.Equal(got, big) {
			t.Fatalf("body of %d bytes differs from the %d delivered", len(got), len(big))
		}
		got[0] = 'y'
		if again := e.body(inbox(a), uid); !bytes.Equal(again, big) {
			t.Fatal("changing a returned body changed the stored one")
		}
		if got := e.body(inbox(a), empty); len(got) != 0 {
			t.Fatalf("empty body came back as %q", got)
		}
		_, err := e.s.Body(e.ctx, inbox(a), 99)
		wantErr(t, "Body of unknown UID", err, store.ErrMessageNotFound)
		_, err = e.s.Body(e.ctx, folder(a, "Nope"), 1)
		wantErr(t, "Body in unknown folder", err, store.ErrFolderNotFound)
	},
	"usage follows deliveries, copies, moves, expunges and folder deletes": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		size := int64(len(body(1)))
		steps := []struct {
			what string
			do   func()
			want store.Usage
		}{
			{"deliver 3", func() { e.fill(inbox(a), 3) }, store.Usage{Bytes: 3 * size, Messages: 3}},
			{"copy 2", func() {
				_, err := e.s.Copy(e.ctx, store.CopyRequest{Account: a, From: store.Inbox, To: "Archive", UIDs: store.UIDSetOf(1, 2)})
				wantErr(t, "Copy", err, nil)
			}, store.Usage{Bytes: 5 * size, Messages: 5}},
			{"move 1", func() {
				_, err := e.s.Move(e.ctx, store.CopyRequest{Account: a, From: store.Inbox, To: "Trash", UIDs: store.UIDSetOf(3)})
				wantErr(t, "Move", err, nil)
			}, store.Usage{Bytes: 5 * size, Messages: 5}},
			{"expunge 1", func() {
				_, err := e.s.Expunge(e.ctx, store.ExpungeRequest{Folder: inbox(a), UIDs: store.UIDSetOf(1)})
				wantErr(t, "Expunge", err, nil)
			}, store.Usage{Bytes: 4 * size, Messages: 4}},
			{"delete Archive", func() {
				wantErr(t, "DeleteFolder", e.s.DeleteFolder(e.ctx, folder(a, "Archive")), nil)
			}, store.Usage{Bytes: 2 * size, Messages: 2}},
		}
		for _, st := range steps {
			st.do()
			if u := e.usage(a); u != st.want {
				t.Fatalf("after %s: usage %+v, want %+v", st.what, u, st.want)
			}
		}
	},
}
