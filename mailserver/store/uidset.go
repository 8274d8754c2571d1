package store

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
)

// UID is a message's unique identifier within a folder (RFC 9051 §2.3.1.1).
// Valid UIDs are 1 to [MaxUID].
type UID uint32

// MaxUID is the largest UID; a range ending at MaxUID stands for "n:*".
const MaxUID = UID(math.MaxUint32)

// ModSeq is a mod-sequence value (RFC 7162 §3.1.1).
type ModSeq uint64

// UIDRange is the inclusive range Start..Stop (Start <= Stop).
type UIDRange struct {
	Start, Stop UID
}

// UIDSet is a set of UIDs as ranges. An empty set selects no message; use
// [AllUIDs] for every message. Adapters resolve IMAP's "*" before calling
// the store (RFC 9051 §9 seq-range: "n:*" includes the largest UID even
// when n is larger): a range ending at [MaxUID] simply has no upper bound.
type UIDSet []UIDRange

// AllUIDs returns the set of every UID, 1:*.
func AllUIDs() UIDSet { return UIDSet{{Start: 1, Stop: MaxUID}} }

// UIDSetOf returns the set holding exactly the given UIDs.
func UIDSetOf(uids ...UID) UIDSet {
	s := make(UIDSet, 0, len(uids))
	for _, u := range uids {
		s = append(s, UIDRange{Start: u, Stop: u})
	}
	return s.Normalize()
}

// Contains reports whether uid is in the set.
func (s UIDSet) Contains(uid UID) bool {
	for _, r := range s {
		if uid >= min(r.Start, r.Stop) && uid <= max(r.Start, r.Stop) {
			return true
		}
	}
	return false
}

// Bounds returns the smallest and largest UID the set can hold; ok is false
// for an empty set.
func (s UIDSet) Bounds() (lo, hi UID, ok bool) {
	for i, r := range s {
		start, stop := min(r.Start, r.Stop), max(r.Start, r.Stop)
		if i == 0 || start < lo {
			lo = start
		}
		if i == 0 || stop > hi {
			hi = stop
		}
	}
	return lo, hi, len(s) > 0
}

// Normalize returns the set sorted with overlapping and adjacent ranges
// merged, and reversed ranges turned around.
func (s UIDSet) Normalize() UIDSet {
	if len(s) == 0 {
		return nil
	}
	out := make(UIDSet, 0, len(s))
	for _, r := range s {
		if r.Start > r.Stop {
			r.Start, r.Stop = r.Stop, r.Start
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b UIDRange) int { return cmp.Compare(a.Start, b.Start) })
	merged := out[:1]
	for _, r := range out[1:] {
		last := &merged[len(merged)-1]
		if uint64(r.Start) <= uint64(last.Stop)+1 {
			last.Stop = max(last.Stop, r.Stop)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// String formats the set in IMAP syntax, "*" for MaxUID: "1:3,7,9:*".
func (s UIDSet) String() string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(uidString(r.Start))
		if r.Stop != r.Start {
			b.WriteByte(':')
			b.WriteString(uidString(r.Stop))
		}
	}
	return b.String()
}

func uidString(u UID) string {
	if u == MaxUID {
		return "*"
	}
	return strconv.FormatUint(uint64(u), 10)
}
