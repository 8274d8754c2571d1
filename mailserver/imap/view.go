package imap

import (
	"math"
	"slices"

	"github.com/emersion/go-imap/v2"

	"github.com/kubemail/kubemail/mailserver/store"
)

// mailbox is a session's view of its selected folder: the UIDs the client
// has been told about, in order, so message sequence number n is
// uids.at(n-1) (RFC 9051 §2.3.1.2). The view changes only when the client
// is told: new messages by EXISTS, removed ones by EXPUNGE, so sequence
// numbers always mean what the client thinks they mean. uids is immutable
// and shared with other sessions (uidList): a change replaces it.
type mailbox struct {
	ref         store.FolderRef
	readOnly    bool
	uidValidity uint32
	uids        *uidList
	// modSeq is the folder's mod-sequence the view reflects: every change
	// with a mod-sequence at most this is already in the view.
	modSeq store.ModSeq
	sub    *store.Subscription
	// pending are events taken from sub and not yet applied (an expunge
	// waits while EXPUNGE responses are not allowed, RFC 9051 §7.5.1).
	pending []store.Event
	// resync means events were lost: compare the view with the store.
	resync bool
	// gone means the folder was deleted; the view has been emptied.
	gone bool
	// own are mod-sequences of flag changes this session made and already
	// reported, so their events are not echoed back.
	own []store.ModSeq
	// searchRes is the result saved by SEARCH RETURN (SAVE) (RFC 5182).
	searchRes []store.UID
}

// target is one message a command addresses.
type target struct {
	seq uint32
	uid store.UID
}

// index returns the position of uid in the view.
func (m *mailbox) index(uid store.UID) (int, bool) {
	return m.uids.index(uid)
}

// count is the number of messages in the view.
func (m *mailbox) count() int { return m.uids.len() }

// maxUID is the largest UID in the view, 0 when it is empty.
func (m *mailbox) maxUID() store.UID { return m.uids.max() }

// resolve turns a sequence set, UID set or "$" into the addressed messages
// of the view, in ascending order. "*" is the last message (or largest UID)
// of the view; numbers outside the view address nothing, as RFC 9051 §9
// seq-range allows "n:*" with n beyond the last message to mean "*".
func (m *mailbox) resolve(numSet imap.NumSet) []target {
	var ranges [][2]int // half-open index ranges into the view
	switch set := numSet.(type) {
	case imap.SeqSet:
		n := num32(m.count())
		if n == 0 {
			return nil
		}
		for _, r := range set {
			lo, hi := starTo(r.Start, n), starTo(r.Stop, n)
			if lo > hi {
				lo, hi = hi, lo
			}
			if lo > n {
				continue
			}
			ranges = append(ranges, [2]int{int(max(lo, 1)) - 1, int(min(hi, n))})
		}
	case imap.UIDSet:
		if imap.IsSearchRes(set) {
			return m.targetsOf(m.searchRes)
		}
		last := uint32(m.maxUID())
		for _, r := range set {
			lo, hi := starTo(uint32(r.Start), last), starTo(uint32(r.Stop), last)
			if lo > hi {
				lo, hi = hi, lo
			}
			a, _ := m.uids.index(store.UID(lo))
			b, found := m.uids.index(store.UID(hi))
			if found {
				b++
			}
			ranges = append(ranges, [2]int{a, b})
		}
	}
	return m.targetsOfRanges(ranges)
}

// starTo replaces "*" (0) by last.
func starTo(n, last uint32) uint32 {
	if n == 0 {
		return last
	}
	return n
}

func (m *mailbox) targetsOfRanges(ranges [][2]int) []target {
	slices.SortFunc(ranges, func(a, b [2]int) int { return a[0] - b[0] })
	var out []target
	next := 0 // first index not yet emitted
	for _, r := range ranges {
		out = m.uids.appendTargets(out, max(r[0], next), r[1])
		next = max(next, r[1])
	}
	return out
}

// targetsOf returns the messages of the view among uids (ascending).
func (m *mailbox) targetsOf(uids []store.UID) []target {
	var out []target
	for _, u := range uids {
		if i, ok := m.index(u); ok {
			out = append(out, target{seq: num32(i + 1), uid: u})
		}
	}
	return out
}

// storeSet is the store's UID set for targets: runs of consecutive view
// positions become one range, which holds no other message of the folder.
func storeSet(targets []target) store.UIDSet {
	var set store.UIDSet
	for i, t := range targets {
		if i > 0 && t.seq == targets[i-1].seq+1 {
			set[len(set)-1].Stop = t.uid
			continue
		}
		set = append(set, store.UIDRange{Start: t.uid, Stop: t.uid})
	}
	return set
}

// allTargets addresses the whole view.
func (m *mailbox) allTargets() []target {
	return m.uids.appendTargets(make([]target, 0, m.count()), 0, m.count())
}

// add appends new messages (ascending, above every UID of the view).
func (m *mailbox) add(uids []store.UID) {
	m.uids = m.uids.with(uids)
}

// remove takes the expunged UIDs (ascending) out of the view and calls
// write with the sequence number each had at its turn, in the order the
// client must apply them (RFC 9051 §7.5.1). It runs in one pass; after a
// failed write it stops writing but still removes every UID.
func (m *mailbox) remove(expunged []store.UID, write func(seq uint32) error) error {
	var failed error
	before := m.count()
	m.uids = m.uids.without(expunged, func(seq uint32) {
		if failed == nil {
			failed = write(seq)
		}
	})
	if m.count() < before {
		m.searchRes = slices.DeleteFunc(m.searchRes, func(u store.UID) bool {
			_, found := slices.BinarySearch(expunged, u)
			return found
		})
	}
	return failed
}

// markOwn remembers a flag change this session reported itself.
func (m *mailbox) markOwn(ms store.ModSeq) {
	if ms != 0 {
		m.own = append(m.own, ms)
	}
}

// takeOwn reports whether ms is a change of this session, forgetting it.
func (m *mailbox) takeOwn(ms store.ModSeq) bool {
	if i := slices.Index(m.own, ms); i >= 0 {
		m.own = slices.Delete(m.own, i, i+1)
		return true
	}
	return false
}

// num32 converts a message count or position for the wire: a folder holds
// fewer than 2^32 messages, since UIDs are 32-bit.
func num32[T int | int64](n T) uint32 {
	return uint32(min(max(n, 0), math.MaxUint32))
}

// flagList converts store flags to the library's. Lists of system flags
// only, what nearly every message has, are shared: the library only reads
// them.
func flagList(f store.Flags) []imap.Flag {
	if len(f.Keywords) == 0 && f.System&^store.AllSystemFlags == 0 {
		return systemFlagLists[f.System]
	}
	names := f.Strings()
	out := make([]imap.Flag, len(names))
	for i, n := range names {
		out[i] = imap.Flag(n)
	}
	return out
}

// parseFlags converts the library's flags to the store's; an unknown
// system flag is a BAD (RFC 9051 §2.3.2).
func parseFlags(flags []imap.Flag) (store.Flags, error) {
	names := make([]string, len(flags))
	for i, f := range flags {
		names[i] = string(f)
	}
	f, err := store.ParseFlags(names)
	if err != nil {
		return store.Flags{}, errBadFlag
	}
	return f, nil
}

// systemFlagLists holds flagList's answer for every combination of system
// flags.
var systemFlagLists = func() (lists [store.AllSystemFlags + 1][]imap.Flag) {
	for sys := range lists {
		names := store.Flags{System: store.SystemFlags(sys)}.Strings()
		lists[sys] = make([]imap.Flag, len(names))
		for i, n := range names {
			lists[sys][i] = imap.Flag(n)
		}
	}
	return lists
}()
