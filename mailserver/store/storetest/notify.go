package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

// next waits for n events and fails on a resync or a hang.
func next(t *testing.T, sub *store.Subscription, n int) []store.Event {
	t.Helper()
	var got []store.Event
	timeout := time.After(eventTimeout)
	for len(got) < n {
		select {
		case <-sub.Ready():
			events, resync := sub.Take()
			if resync {
				t.Fatalf("unexpected resync after %d events", len(got))
			}
			got = append(got, events...)
		case <-timeout:
			t.Fatalf("got %d events %+v, want %d", len(got), got, n)
		}
	}
	if len(got) > n {
		t.Fatalf("got %d events %+v, want %d", len(got), got, n)
	}
	return got
}

func (e *env) subscribe(opts store.SubscribeOptions) *store.Subscription {
	e.t.Helper()
	sub, err := e.s.Subscribe(opts)
	if err != nil {
		e.t.Fatalf("Subscribe(%+v): %v", opts, err)
	}
	e.t.Cleanup(sub.Close)
	return sub
}

type wantEvent struct {
	kind      store.EventKind
	folder    string
	oldFolder string
	uids      []store.UID
}

func checkEvents(t *testing.T, got []store.Event, want []wantEvent) {
	t.Helper()
	for i, w := range want {
		g := got[i]
		uids := g.UIDs
		for _, f := range g.Flags {
			uids = append(uids, f.UID)
		}
		if g.Kind != w.kind || g.Folder != w.folder || g.OldFolder != w.oldFolder || !slices.Equal(uids, w.uids) {
			t.Fatalf("event %d is %+v, want %+v", i, g, w)
		}
	}
}

var notifyTests = map[string]func(t *testing.T, e *env){
	"events arrive after commit, in commit order, describing each change": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		sub := e.subscribe(store.SubscribeOptions{Account: "A@Example.org"})
		f := inbox(a)
		steps := []struct {
			what string
			do   func()
			want []wantEvent
		}{
			{"deliver", func() { e.deliver(f, body(1)) }, []wantEvent{{store.EventMessagesAdded, "INBOX", "", []store.UID{1}}}},
			{"flag", func() {
				e.updateFlags(store.FlagUpdate{Folder: f, UIDs: store.AllUIDs(), Op: store.FlagsAdd, Flags: store.Flags{System: store.FlagSeen}})
			}, []wantEvent{{store.EventFlagsChanged, "INBOX", "", []store.UID{1}}}},
			{"copy", func() {
				_, err := e.s.Copy(e.ctx, store.CopyRequest{Account: a, From: store.Inbox, To: "Archive", UIDs: store.AllUIDs()})
				wantErr(t, "Copy", err, nil)
			}, []wantEvent{{store.EventMessagesAdded, "Archive", "", []store.UID{1}}}},
			{"move", func() {
				_, err := e.s.Move(e.ctx, store.CopyRequest{Account: a, From: "Archive", To: "Trash", UIDs: store.AllUIDs()})
				wantErr(t, "Move", err, nil)
			}, []wantEvent{{store.EventMessagesAdded, "Trash", "", []store.UID{1}}, {store.EventExpunged, "Archive", "", []store.UID{1}}}},
			{"expunge", func() {
				_, err := e.s.Expunge(e.ctx, store.ExpungeRequest{Folder: f, UIDs: store.AllUIDs()})
				wantErr(t, "Expunge", err, nil)
			}, []wantEvent{{store.EventExpunged, "INBOX", "", []store.UID{1}}}},
			{"create", func() { e.createFolder(folder(a, "X/Y")) },
				[]wantEvent{{store.EventFolderCreated, "X", "", nil}, {store.EventFolderCreated, "X/Y", "", nil}}},
			{"rename", func() { wantErr(t, "RenameFolder", e.s.RenameFolder(e.ctx, a, "X", "Z"), nil) },
				[]wantEvent{{store.EventFolderRenamed, "Z", "X", nil}, {store.EventFolderRenamed, "Z/Y", "X/Y", nil}}},
			{"delete", func() { wantErr(t, "DeleteFolder", e.s.DeleteFolder(e.ctx, folder(a, "Z/Y")), nil) },
				[]wantEvent{{store.EventFolderDeleted, "Z/Y", "", nil}}},
			{"delete account", func() { wantErr(t, "DeleteAccount", e.s.DeleteAccount(e.ctx, a), nil) },
				[]wantEvent{{store.EventAccountDeleted, "", "", nil}}},
		}
		for _, st := range steps {
			st.do()
			checkEvents(t, next(t, sub, len(st.want)), st.want)
		}
	},
	"an event is published only after its change is visible to readers": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		sub := e.subscribe(store.SubscribeOptions{Account: a, Folder: store.Inbox})
		done := make(chan error, 1)
		go func() {
			for i := range 20 {
				if _, err := e.s.Append(e.ctx, store.AppendRequest{Folder: inbox(a), Body: body(i)}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		timeout := time.After(eventTimeout)
		for seen := 0; seen < 20; {
			select {
			case <-sub.Ready():
			case <-timeout:
				t.Fatalf("got %d events, want 20", seen)
			}
			events, resync := sub.Take()
			if resync {
				t.Fatal("unexpected resync")
			}
			for _, ev := range events {
				seen++
				l, err := e.s.ListMessages(e.ctx, inbox(a), store.ListOptions{UIDs: store.UIDSetOf(ev.UIDs...)})
				wantErr(t, "ListMessages", err, nil)
				if len(l.Messages) != 1 || l.Status.HighestModSeq < ev.ModSeq {
					t.Fatalf("event %+v arrived before its message was readable: %+v", ev, l)
				}
			}
		}
		wantErr(t, "appending", <-done, nil)
	},
	"a subscription sees only its account and, if given, its folder": func(t *testing.T, e *env) {
		a, b := e.account("a@example.org"), e.account("b@example.org")
		archive := e.subscribe(store.SubscribeOptions{Account: a, Folder: "Archive"})
		all := e.subscribe(store.SubscribeOptions{Account: a})
		e.deliver(inbox(b), body(1))
		e.deliver(inbox(a), body(2))
		e.deliver(folder(a, "Archive"), body(3))
		checkEvents(t, next(t, all, 2), []wantEvent{
			{store.EventMessagesAdded, "INBOX", "", []store.UID{1}},
			{store.EventMessagesAdded, "Archive", "", []store.UID{1}},
		})
		// Events are delivered in commit order, so INBOX's would be first.
		checkEvents(t, next(t, archive, 1), []wantEvent{{store.EventMessagesAdded, "Archive", "", []store.UID{1}}})
	},
	"an overflowing subscription asks for a resync and never blocks writers": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		sub := e.subscribe(store.SubscribeOptions{Account: a, Buffer: 2})
		e.fill(inbox(a), 5) // would block here if publishing waited for the reader
		events, resync := sub.Take()
		if !resync || events != nil {
			t.Fatalf("Take after overflow = %d events, resync %v; want a resync and no events", len(events), resync)
		}
		if events, resync := sub.Take(); resync || len(events) != 0 {
			t.Fatalf("second Take = %d events, resync %v; want nothing", len(events), resync)
		}
		e.deliver(inbox(a), body(6))
		checkEvents(t, next(t, sub, 1), []wantEvent{{store.EventMessagesAdded, "INBOX", "", []store.UID{6}}})
	},
	"Close ends a subscription, and closing the store ends all and refuses writes": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		one := e.subscribe(store.SubscribeOptions{Account: a})
		two := e.subscribe(store.SubscribeOptions{Account: a})
		one.Close()
		one.Close()
		select {
		case <-one.Done():
		default:
			t.Fatal("closed subscription not done")
		}
		e.deliver(inbox(a), body(1))
		next(t, two, 1)
		if events, resync := one.Take(); len(events) != 0 || resync {
			t.Fatal("a closed subscription received events")
		}
		wantErr(t, "Close", e.s.Close(), nil)
		select {
		case <-two.Done():
		case <-time.After(eventTimeout):
			t.Fatal("closing the store did not end the subscription")
		}
		_, err := e.s.Submit(e.ctx, store.Submission{Body: body(2), Local: []store.DeliveryTarget{{Account: a}}})
		if !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Deliver after Close: %v, want ErrClosed", err)
		}
		_, err = e.s.Subscribe(store.SubscribeOptions{Account: a})
		wantErr(t, "Subscribe after Close", err, store.ErrClosed)
	},
}
