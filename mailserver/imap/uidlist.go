package imap

import (
	"iter"
	"slices"
	"sort"

	"github.com/kubemail/kubemail/mailserver/store"
)

// uidBlockSize is the most UIDs a block of a uidList holds.
const uidBlockSize = 256

// uidList is an immutable ascending list of UIDs: a selected folder's
// view. It is stored in blocks that lists share: a list derived from
// another by adding or removing UIDs copies only the blocks that change
// (and the small block index), so a thousand sessions viewing one
// 10,000-message folder hold one copy of its UIDs (see snapshots), and a
// new message costs each of them a copy of one block, not of the list. A
// nil *uidList is empty.
type uidList struct {
	blocks [][]store.UID // non-empty, ascending; never written once in a list
	ends   []int         // ends[i] is the number of UIDs in blocks[:i+1]
}

// newUIDList returns the list of uids (ascending), which it keeps: the
// caller must not change uids afterwards.
func newUIDList(uids []store.UID) *uidList {
	if len(uids) == 0 {
		return nil
	}
	l := &uidList{}
	for i := 0; i < len(uids); i += uidBlockSize {
		j := min(i+uidBlockSize, len(uids))
		l.blocks = append(l.blocks, uids[i:j:j])
		l.ends = append(l.ends, j)
	}
	return l
}

// len is the number of UIDs.
func (l *uidList) len() int {
	if l == nil || len(l.ends) == 0 {
		return 0
	}
	return l.ends[len(l.ends)-1]
}

// start is the position of the first UID of block b.
func (l *uidList) start(b int) int {
	if b == 0 {
		return 0
	}
	return l.ends[b-1]
}

// at returns the UID at position i (0-based), which must exist.
func (l *uidList) at(i int) store.UID {
	b := sort.SearchInts(l.ends, i+1)
	return l.blocks[b][i-l.start(b)]
}

// max is the largest UID, 0 for an empty list.
func (l *uidList) max() store.UID {
	if l.len() == 0 {
		return 0
	}
	last := l.blocks[len(l.blocks)-1]
	return last[len(last)-1]
}

// index returns the position of uid, or where it would be inserted and
// false.
func (l *uidList) index(uid store.UID) (int, bool) {
	if l.len() == 0 {
		return 0, false
	}
	b := sort.Search(len(l.blocks), func(b int) bool {
		blk := l.blocks[b]
		return blk[len(blk)-1] >= uid
	})
	if b == len(l.blocks) {
		return l.len(), false
	}
	i, ok := slices.BinarySearch(l.blocks[b], uid)
	return l.start(b) + i, ok
}

// all yields every position and UID in order.
func (l *uidList) all() iter.Seq2[int, store.UID] {
	return func(yield func(int, store.UID) bool) {
		if l == nil {
			return
		}
		i := 0
		for _, blk := range l.blocks {
			for _, u := range blk {
				if !yield(i, u) {
					return
				}
				i++
			}
		}
	}
}

// values yields every UID in order.
func (l *uidList) values() iter.Seq[store.UID] {
	return func(yield func(store.UID) bool) {
		for _, u := range l.all() {
			if !yield(u) {
				return
			}
		}
	}
}

// appendTargets appends the messages at positions [lo, hi) to out.
func (l *uidList) appendTargets(out []target, lo, hi int) []target {
	if lo >= hi {
		return out
	}
	b := sort.SearchInts(l.ends, lo+1)
	for i := lo; i < hi; b++ {
		blk := l.blocks[b][i-l.start(b):]
		for _, u := range blk[:min(len(blk), hi-i)] {
			i++
			out = append(out, target{seq: num32(i), uid: u})
		}
	}
	return out
}

// with returns the list with added (ascending, all above max) appended,
// sharing every block but the last.
func (l *uidList) with(added []store.UID) *uidList {
	if len(added) == 0 {
		return l
	}
	out := &uidList{}
	if l != nil {
		out.blocks = slices.Clone(l.blocks)
		out.ends = slices.Clone(l.ends)
	}
	if n := len(out.blocks); n > 0 && len(out.blocks[n-1]) < uidBlockSize {
		last := out.blocks[n-1]
		k := min(uidBlockSize-len(last), len(added))
		grown := make([]store.UID, len(last)+k)
		copy(grown[copy(grown, last):], added[:k])
		out.blocks[n-1] = grown
		out.ends[n-1] += k
		added = added[k:]
	}
	total := out.len()
	for len(added) > 0 {
		k := min(uidBlockSize, len(added))
		out.blocks = append(out.blocks, slices.Clone(added[:k]))
		total += k
		out.ends = append(out.ends, total)
		added = added[k:]
	}
	return out
}

// without returns the list without the UIDs of expunged (ascending) and
// calls removed with the sequence number each had at its turn, in the
// order the client must apply them (RFC 9051 §7.5.1). Blocks that lose no
// UID are shared; neighbouring blocks that did are merged while they fit
// in one.
func (l *uidList) without(expunged []store.UID, removed func(seq uint32)) *uidList {
	if l.len() == 0 || len(expunged) == 0 {
		return l
	}
	out := &uidList{}
	gone, pos, j := 0, 0, 0
	fresh := false // the last block of out was made here
	for _, blk := range l.blocks {
		for j < len(expunged) && expunged[j] < blk[0] {
			j++
		}
		if j == len(expunged) || expunged[j] > blk[len(blk)-1] {
			out.blocks = append(out.blocks, blk)
			pos += len(blk)
			fresh = false
			continue
		}
		kept := make([]store.UID, 0, len(blk))
		for _, u := range blk {
			pos++
			for j < len(expunged) && expunged[j] < u {
				j++
			}
			if j < len(expunged) && expunged[j] == u {
				removed(num32(pos - gone))
				gone++
				continue
			}
			kept = append(kept, u)
		}
		switch n := len(out.blocks); {
		case len(kept) == 0:
		case fresh && len(out.blocks[n-1])+len(kept) <= uidBlockSize:
			out.blocks[n-1] = append(out.blocks[n-1], kept...)
		default:
			out.blocks = append(out.blocks, kept)
			fresh = true
		}
	}
	if gone == 0 {
		return l
	}
	total := 0
	for _, blk := range out.blocks {
		total += len(blk)
		out.ends = append(out.ends, total)
	}
	if total == 0 {
		return nil
	}
	return out
}
