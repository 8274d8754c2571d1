package store

import (
	"errors"
	"sync"
	"testing"
)

func TestHubRoutesByAccountAndFolder(t *testing.T) {
	h := NewHub()
	defer h.Close()
	all, err := h.Subscribe(SubscribeOptions{Account: "A@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := h.Subscribe(SubscribeOptions{Account: "a@example.org", Folder: "inbox"})
	if err != nil {
		t.Fatal(err)
	}
	work, err := h.Subscribe(SubscribeOptions{Account: "a@example.org", Folder: "Work"})
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(
		Event{Kind: EventMessagesAdded, Account: "a@example.org", Folder: "INBOX", UIDs: []UID{1}},
		Event{Kind: EventMessagesAdded, Account: "b@example.org", Folder: "INBOX", UIDs: []UID{1}},
		Event{Kind: EventFolderRenamed, Account: "a@example.org", Folder: "Jobs", OldFolder: "Work"},
		Event{Kind: EventAccountDeleted, Account: "a@example.org"},
	)
	tests := map[string]struct {
		sub  *Subscription
		want []EventKind
	}{
		"the account subscription sees all of its account's events":     {all, []EventKind{EventMessagesAdded, EventFolderRenamed, EventAccountDeleted}},
		"a folder subscription sees its folder and account-wide events": {inbox, []EventKind{EventMessagesAdded, EventAccountDeleted}},
		"a folder subscription sees its folder renamed away":            {work, []EventKind{EventFolderRenamed, EventAccountDeleted}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			select {
			case <-tc.sub.Ready():
			default:
				t.Fatal("Ready not signalled")
			}
			events, resync := tc.sub.Take()
			var kinds []EventKind
			for _, ev := range events {
				kinds = append(kinds, ev.Kind)
			}
			if resync || len(kinds) != len(tc.want) {
				t.Fatalf("got %v (resync %v), want %v", kinds, resync, tc.want)
			}
			for i := range kinds {
				if kinds[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", kinds, tc.want)
				}
			}
		})
	}
}

func TestSubscriptionOverflowRequestsResync(t *testing.T) {
	h := NewHub()
	defer h.Close()
	sub, err := h.Subscribe(SubscribeOptions{Account: "a@example.org", Buffer: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		h.Publish(Event{Kind: EventMessagesAdded, Account: "a@example.org", Folder: "INBOX", UIDs: []UID{UID(i + 1)}})
	}
	if events, resync := sub.Take(); !resync || events != nil {
		t.Fatalf("Take() = %d events, resync %v; want only a resync", len(events), resync)
	}
	h.Publish(Event{Kind: EventExpunged, Account: "a@example.org", Folder: "INBOX", UIDs: []UID{1}})
	if events, resync := sub.Take(); resync || len(events) != 1 || events[0].Kind != EventExpunged {
		t.Fatalf("Take() after resync = %+v, %v; want the new event", events, resync)
	}
}

func TestHubCloseEndsSubscriptions(t *testing.T) {
	h := NewHub()
	sub, err := h.Subscribe(SubscribeOptions{Account: "a@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	<-sub.Done()
	sub.Close()
	h.Publish(Event{Kind: EventMessagesAdded, Account: "a@example.org"})
	if events, resync := sub.Take(); len(events) != 0 || resync {
		t.Fatal("a finished subscription received events")
	}
	if _, err := h.Subscribe(SubscribeOptions{Account: "a@example.org"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
	}
	if _, err := NewHub().Subscribe(SubscribeOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Subscribe without account: %v, want ErrInvalidArgument", err)
	}
}

func TestHubConcurrentPublishAndTake(t *testing.T) {
	h := NewHub()
	defer h.Close()
	const publishers, each = 4, 500
	var wg sync.WaitGroup
	subs := make([]*Subscription, 4)
	for i := range subs {
		s, err := h.Subscribe(SubscribeOptions{Account: "a@example.org", Buffer: publishers * each})
		if err != nil {
			t.Fatal(err)
		}
		subs[i] = s
	}
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				h.Publish(Event{Kind: EventMessagesAdded, Account: "a@example.org", UIDs: []UID{UID(p*each + i)}})
			}
		})
	}
	counts := make([]int, len(subs))
	for i, s := range subs {
		wg.Go(func() {
			for counts[i] < publishers*each {
				<-s.Ready()
				events, resync := s.Take()
				if resync {
					t.Error("unexpected resync")
					return
				}
				counts[i] += len(events)
			}
		})
	}
	wg.Wait()
	for i, n := range counts {
		if n != publishers*each {
			t.Errorf("subscription %d received %d events, want %d", i, n, publishers*each)
		}
	}
}
