package storetest

import (
	"slices"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store"
)

var flagTests = map[string]func(t *testing.T, e *env){
	"UpdateFlags adds, removes and replaces system flags and keywords": func(t *testing.T, e *env) {
		seenWork := store.Flags{System: store.FlagSeen, Keywords: []string{"Work"}}
		cases := map[string]struct {
			start, flags store.Flags
			op           store.FlagOp
			want         store.Flags
		}{
			"adding to no flags": {
				flags: seenWork, op: store.FlagsAdd, want: seenWork},
			"adding a keyword in another case changes nothing": {
				start: seenWork, flags: store.Flags{Keywords: []string{"WORK"}}, op: store.FlagsAdd, want: seenWork},
			"removing one system flag and one keyword": {
				start: store.Flags{System: store.FlagSeen | store.FlagFlagged, Keywords: []string{"a", "b"}},
				flags: store.Flags{System: store.FlagSeen, Keywords: []string{"A"}}, op: store.FlagsRemove,
				want: store.Flags{System: store.FlagFlagged, Keywords: []string{"b"}}},
			"replacing everything": {
				start: seenWork, flags: store.Flags{System: store.FlagDeleted | store.FlagDraft}, op: store.FlagsReplace,
				want: store.Flags{System: store.FlagDeleted | store.FlagDraft}},
			"replacing with nothing": {
				start: seenWork, op: store.FlagsReplace, want: store.Flags{}},
		}
		a := e.account("a@example.org")
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				res, err := e.s.Append(e.ctx, store.AppendRequest{Folder: inbox(a), Body: body(1), Flags: tc.start})
				wantErr(t, "Append", err, nil)
				before := e.status(inbox(a))
				got := e.updateFlags(store.FlagUpdate{Folder: inbox(a), UIDs: store.UIDSetOf(res.UID), Op: tc.op, Flags: tc.flags})
				if len(got.Messages) != 1 || !got.Messages[0].Flags.Equal(tc.want) {
					t.Fatalf("result %+v, want flags %v", got, tc.want)
				}
				list, err := e.s.ListMessages(e.ctx, inbox(a), store.ListOptions{UIDs: store.UIDSetOf(res.UID)})
				wantErr(t, "ListMessages", err, nil)
				m := list.Messages[0]
				if !m.Flags.Equal(tc.want) {
					t.Fatalf("stored flags %v, want %v", m.Flags, tc.want)
				}
				changed := !tc.start.Equal(tc.want)
				switch {
				case changed && (got.ModSeq <= before.HighestModSeq || m.ModSeq != got.ModSeq):
					t.Fatalf("change took mod-sequence %d (message %d), folder was at %d", got.ModSeq, m.ModSeq, before.HighestModSeq)
				case !changed && (got.ModSeq != 0 || m.ModSeq != res.ModSeq || list.Status.HighestModSeq != before.HighestModSeq):
					t.Fatalf("a no-op update changed mod-sequences: result %d, message %d (was %d)", got.ModSeq, m.ModSeq, res.ModSeq)
				}
				wantUnseen := before.Unseen
				if tc.start.Has(store.FlagSeen) != tc.want.Has(store.FlagSeen) {
					if tc.want.Has(store.FlagSeen) {
						wantUnseen--
					} else {
						wantUnseen++
					}
				}
				if list.Status.Unseen != wantUnseen {
					t.Fatalf("unseen %d, want %d", list.Status.Unseen, wantUnseen)
				}
			})
		}
	},
	"UNCHANGEDSINCE leaves messages changed since then alone and reports them": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		f := inbox(a)
		uids := e.fill(f, 3)
		base := e.status(f).HighestModSeq
		e.updateFlags(store.FlagUpdate{Folder: f, UIDs: store.UIDSetOf(uids[1]), Op: store.FlagsAdd,
			Flags: store.Flags{Keywords: []string{"other-session"}}})
		res := e.updateFlags(store.FlagUpdate{Folder: f, UIDs: store.AllUIDs(), Op: store.FlagsAdd,
			Flags: store.Flags{System: store.FlagDeleted}, UnchangedSince: base})
		wantUIDs(t, "modified", res.Modified, []store.UID{uids[1]})
		var updated []store.UID
		for _, m := range res.Messages {
			updated = append(updated, m.UID)
		}
		wantUIDs(t, "updated", updated, []store.UID{uids[0], uids[2]})
		for _, m := range e.list(f).Messages {
			if got, want := m.Flags.Has(store.FlagDeleted), m.UID != uids[1]; got != want {
				t.Fatalf("UID %d \\Deleted=%v, want %v", m.UID, got, want)
			}
		}
	},
	"UpdateFlags refuses invalid keywords and reports unknown folders": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		e.fill(inbox(a), 1)
		_, err := e.s.UpdateFlags(e.ctx, store.FlagUpdate{Folder: inbox(a), UIDs: store.AllUIDs(), Op: store.FlagsAdd,
			Flags: store.Flags{Keywords: []string{"two words"}}})
		wantErr(t, "bad keyword", err, store.ErrInvalidArgument)
		_, err = e.s.UpdateFlags(e.ctx, store.FlagUpdate{Folder: folder(a, "Nope"), UIDs: store.AllUIDs(), Op: store.FlagsAdd})
		wantErr(t, "unknown folder", err, store.ErrFolderNotFound)
	},
}

var expungeTests = map[string]func(t *testing.T, e *env){
	"Expunge with OnlyDeleted removes only \\Deleted messages among the candidates": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		f := inbox(a)
		e.fill(f, 5)
		e.updateFlags(store.FlagUpdate{Folder: f, UIDs: store.UIDSetOf(2, 3, 5), Op: store.FlagsAdd,
			Flags: store.Flags{System: store.FlagDeleted}})
		res, err := e.s.Expunge(e.ctx, store.ExpungeRequest{Folder: f, UIDs: store.UIDSet{{Start: 1, Stop: 4}}, OnlyDeleted: true})
		wantErr(t, "UID EXPUNGE", err, nil)
		wantUIDs(t, "expunged", res.UIDs, []store.UID{2, 3})
		res, err = e.s.Expunge(e.ctx, store.ExpungeRequest{Folder: f, UIDs: store.AllUIDs(), OnlyDeleted: true})
		wantErr(t, "EXPUNGE", err, nil)
		wantUIDs(t, "expunged", res.UIDs, []store.UID{5})
		wantUIDs(t, "left", e.uids(f), []store.UID{1, 4})
		if st := e.status(f); st.Messages != 2 || st.HighestModSeq != res.ModSeq {
			t.Fatalf("status %+v, want 2 messages at mod-sequence %d", st, res.ModSeq)
		}
	},
	"Expunge without OnlyDeleted removes exactly the given UIDs": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		f := inbox(a)
		e.fill(f, 4)
		res, err := e.s.Expunge(e.ctx, store.ExpungeRequest{Folder: f, UIDs: store.UIDSetOf(1, 3, 42)})
		wantErr(t, "Expunge", err, nil)
		wantUIDs(t, "expunged", res.UIDs, []store.UID{1, 3})
		wantUIDs(t, "left", e.uids(f), []store.UID{2, 4})
		before := e.status(f)
		res, err = e.s.Expunge(e.ctx, store.ExpungeRequest{Folder: f})
		wantErr(t, "Expunge of an empty set", err, nil)
		if len(res.UIDs) != 0 || e.status(f) != before {
			t.Fatalf("an empty expunge changed something: %+v", res)
		}
	},
	"Vanished answers from tombstones by mod-sequence and UID set": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		f := inbox(a)
		e.fill(f, 6)
		m0 := e.status(f).HighestModSeq
		first, err := e.s.Expunge(e.ctx, store.ExpungeRequest{Folder: f, UIDs: store.UIDSetOf(2, 4)})
		wantErr(t, "first Expunge", err, nil)
		_, err = e.s.Expunge(e.ctx, store.ExpungeRequest{Folder: f, UIDs: store.UIDSetOf(5)})
		wantErr(t, "second Expunge", err, nil)
		cases := map[string]struct {
			since store.ModSeq
			uids  store.UIDSet
			want  []store.UID
		}{
			"since before both expunges":       {m0, store.AllUIDs(), []store.UID{2, 4, 5}},
			"since the first expunge":          {first.ModSeq, store.AllUIDs(), []store.UID{5}},
			"restricted to a UID range":        {m0, store.UIDSet{{Start: 3, Stop: 5}}, []store.UID{4, 5}},
			"with nothing expunged since then": {first.ModSeq + 1, store.AllUIDs(), nil},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				got, err := e.s.Vanished(e.ctx, f, tc.since, tc.uids)
				wantErr(t, "Vanished", err, nil)
				wantUIDs(t, "vanished", got, tc.want)
			})
		}
		if m := e.list(f).Messages; !slices.EqualFunc(m, []store.MessageMeta{{UID: 1}, {UID: 3}, {UID: 6}},
			func(a, b store.MessageMeta) bool { return a.UID == b.UID }) {
			t.Fatalf("messages left %+v", m)
		}
	},
}
