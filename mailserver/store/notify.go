package store

import (
	"fmt"
	"sync"

	"github.com/kubemail/kubemail/mailserver/mail"
)

// EventKind says what changed.
type EventKind uint8

// The kinds of change a subscription receives.
const (
	// EventMessagesAdded: UIDs were added to Folder (delivery, append, copy, move).
	EventMessagesAdded EventKind = iota + 1
	// EventFlagsChanged: the messages in Flags have new flags.
	EventFlagsChanged
	// EventExpunged: UIDs were expunged from Folder.
	EventExpunged
	// EventFolderCreated: Folder was created.
	EventFolderCreated
	// EventFolderDeleted: Folder was deleted.
	EventFolderDeleted
	// EventFolderRenamed: OldFolder is now called Folder.
	EventFolderRenamed
	// EventAccountDeleted: the account and everything in it is gone.
	EventAccountDeleted
)

var eventKindNames = map[EventKind]string{
	EventMessagesAdded:  "MessagesAdded",
	EventFlagsChanged:   "FlagsChanged",
	EventExpunged:       "Expunged",
	EventFolderCreated:  "FolderCreated",
	EventFolderDeleted:  "FolderDeleted",
	EventFolderRenamed:  "FolderRenamed",
	EventAccountDeleted: "AccountDeleted",
}

// String returns the kind's name.
func (k EventKind) String() string {
	if n, ok := eventKindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one committed change. Events are shared between subscribers:
// treat them, and the slices they hold, as read-only.
type Event struct {
	Kind    EventKind
	Account string
	// Folder is the folder changed (the new name for EventFolderRenamed).
	Folder string
	// OldFolder is the previous name, for EventFolderRenamed.
	OldFolder   string
	UIDValidity uint32
	// ModSeq is the folder's highest mod-sequence after the change.
	ModSeq ModSeq
	// UIDs are the messages added or expunged, in ascending order.
	UIDs []UID
	// Flags are the changed messages' new flags, for EventFlagsChanged.
	Flags []FlagState
}

// DefaultSubscriptionBuffer is the number of events a subscription holds
// before it overflows, unless SubscribeOptions.Buffer says otherwise.
const DefaultSubscriptionBuffer = 256

// SubscribeOptions select the events of a subscription.
type SubscribeOptions struct {
	// Account is the account to watch (normalized with mail.Fold).
	Account string
	// Folder, when set, restricts events to that folder (by current or old
	// name); account-wide events are always delivered.
	Folder string
	// Buffer is how many events may wait before the subscription overflows;
	// 0 means DefaultSubscriptionBuffer.
	Buffer int
}

// Hub routes committed events to subscriptions. Publish never blocks on a
// subscriber. Backends embed one; a distributed backend feeds it from its
// notification channel.
type Hub struct {
	mu     sync.Mutex
	subs   map[string]map[*Subscription]struct{}
	closed bool
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{subs: make(map[string]map[*Subscription]struct{})}
}

// Subscribe registers a subscription; it fails with ErrClosed after Close.
func (h *Hub) Subscribe(opts SubscribeOptions) (*Subscription, error) {
	account := mail.Fold(opts.Account)
	if account == "" {
		return nil, fmt.Errorf("subscribing: empty account: %w", ErrInvalidArgument)
	}
	limit := opts.Buffer
	if limit <= 0 {
		limit = DefaultSubscriptionBuffer
	}
	s := &Subscription{
		hub:     h,
		account: account,
		folder:  opts.Folder,
		limit:   limit,
		ready:   make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	if opts.Folder != "" {
		s.folder = NormalizeFolder(opts.Folder)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("subscribing to %s: %w", account, ErrClosed)
	}
	m := h.subs[account]
	if m == nil {
		m = make(map[*Subscription]struct{})
		h.subs[account] = m
	}
	m[s] = struct{}{}
	return s, nil
}

// Publish hands committed events to the matching subscriptions, in order.
func (h *Hub) Publish(events ...Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range events {
		for s := range h.subs[ev.Account] {
			if s.matches(ev) {
				s.push(ev)
			}
		}
	}
}

// Close ends every subscription; later Subscribe calls fail.
func (h *Hub) Close() {
	h.mu.Lock()
	subs := h.subs
	h.subs = map[string]map[*Subscription]struct{}{}
	h.closed = true
	h.mu.Unlock()
	for _, m := range subs {
		for s := range m {
			s.finish()
		}
	}
}

func (h *Hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.subs[s.account]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.subs, s.account)
		}
	}
}

// Subscription receives the events of one account (or folder). Wait on
// Ready, then call Take; stop with Close.
type Subscription struct {
	hub     *Hub
	account string
	folder  string
	limit   int
	ready   chan struct{}
	done    chan struct{}

	mu       sync.Mutex
	pending  []Event
	resync   bool
	finished bool
}

func (s *Subscription) matches(ev Event) bool {
	if s.folder == "" || ev.Kind == EventAccountDeleted {
		return true
	}
	return ev.Folder == s.folder || (ev.Kind == EventFolderRenamed && ev.OldFolder == s.folder)
}

// push queues ev; on overflow it drops everything queued and flags a resync.
// Once a resync is pending, later events are redundant until Take.
func (s *Subscription) push(ev Event) {
	s.mu.Lock()
	switch {
	case s.finished || s.resync:
	case len(s.pending) >= s.limit:
		s.pending = nil
		s.resync = true
	default:
		s.pending = append(s.pending, ev)
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Ready receives a value when events or a resync are waiting for Take.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Done is closed when the subscription ends, by Close or because the store
// closed.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Take returns the waiting events in commit order and clears them. When
// resync is true, events were lost to overflow and events is nil: the
// consumer must re-read the state it tracks (for IMAP, the selected folder's
// UIDs, flags and counts) from the store, after this call.
func (s *Subscription) Take() (events []Event, resync bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	events, resync = s.pending, s.resync
	s.pending, s.resync = nil, false
	return events, resync
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.hub.remove(s)
	s.finish()
}

func (s *Subscription) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.finished {
		s.finished = true
		s.pending = nil
		close(s.done)
	}
}
