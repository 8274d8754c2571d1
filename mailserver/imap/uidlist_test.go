package imap

import (
	"slices"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store"
)

// checkList compares a uidList with the plain slice it must equal.
func checkList(t *testing.T, what string, l *uidList, want []store.UID) {
	t.Helper()
	if got := slices.Collect(l.values()); !slices.Equal(got, want) {
		t.Fatalf("%s: list %v, want %v", what, got, want)
	}
	if l.len() != len(want) {
		t.Fatalf("%s: len %d, want %d", what, l.len(), len(want))
	}
	var last store.UID
	if len(want) > 0 {
		last = want[len(want)-1]
	}
	if l.max() != last {
		t.Fatalf("%s: max %d, want %d", what, l.max(), last)
	}
	for i, u := range want {
		if got := l.at(i); got != u {
			t.Fatalf("%s: at(%d) = %d, want %d", what, i, got, u)
		}
		if i, ok := l.index(u); !ok || want[i] != u {
			t.Fatalf("%s: index(%d) = %d, %v", what, u, i, ok)
		}
		// The UID after u, when absent, is inserted after it.
		if i+1 < len(want) && want[i+1] == u+1 {
			continue
		}
		if j, ok := l.index(u + 1); ok || j != i+1 {
			t.Fatalf("%s: index(%d) = %d, %v, want %d, false", what, u+1, j, ok, i+1)
		}
	}
	if l != nil {
		for b, blk := range l.blocks {
			if len(blk) == 0 || len(blk) > uidBlockSize {
				t.Fatalf("%s: block %d holds %d UIDs", what, b, len(blk))
			}
		}
	}
}

// FuzzUIDList applies additions and expunges, as byte-coded operations, to
// a uidList and to a plain slice, and checks after each that they agree,
// that the sequence numbers written for an expunge are those RFC 9051
// §7.5.1 asks for, and that every earlier list is unchanged: lists share
// their blocks, so a change must never write into one.
func FuzzUIDList(f *testing.F) {
	f.Add(uint16(600), []byte{1, 200, 7, 255, 3})
	f.Add(uint16(0), []byte{9, 9, 9})
	f.Add(uint16(257), []byte{128, 64, 2, 250})
	f.Fuzz(func(t *testing.T, start uint16, ops []byte) {
		var model []store.UID
		for u := range store.UID(start) {
			model = append(model, u*2+1) // odd UIDs: room for gaps
		}
		l := newUIDList(slices.Clone(model))
		type version struct {
			l    *uidList
			want []store.UID
		}
		var history []version
		checkList(t, "new list", l, model)
		for k, op := range ops {
			history = append(history, version{l, slices.Clone(model)})
			if op&1 == 0 { // add op/2+1 UIDs
				next := store.UID(1)
				if len(model) > 0 {
					next = model[len(model)-1] + 1 + store.UID(op%3)
				}
				var added []store.UID
				for i := range int(op)/2 + 1 {
					added = append(added, next+store.UID(i))
				}
				l = l.with(added)
				model = append(model, added...)
			} else { // expunge every (op>>1)+1-th UID, and some absent ones
				step := int(op>>1) + 1
				var gone []store.UID
				for i := k % step; i < len(model); i += step {
					gone = append(gone, model[i])
				}
				gone = append(gone, 0, store.MaxUID)
				slices.Sort(gone)
				var wantSeqs, gotSeqs []uint32
				kept := model[:0:0]
				for _, u := range model {
					if _, found := slices.BinarySearch(gone, u); found {
						wantSeqs = append(wantSeqs, uint32(len(kept)+1)) // its position among the UIDs left

						continue
					}
					kept = append(kept, u)
				}
				l = l.without(gone, func(seq uint32) { gotSeqs = append(gotSeqs, seq) })
				model = kept
				if !slices.Equal(gotSeqs, wantSeqs) {
					t.Fatalf("op %d: expunge wrote %v, want %v", k, gotSeqs, wantSeqs)
				}
			}
			checkList(t, "after an op", l, model)
		}
		for _, v := range history {
			checkList(t, "an earlier list", v.l, v.want)
		}
	})
}

func TestUIDListTargets(t *testing.T) {
	var uids []store.UID
	for u := store.UID(1); u <= 1000; u++ {
		if u%3 != 0 {
			uids = append(uids, u)
		}
	}
	l := newUIDList(slices.Clone(uids))
	for _, r := range [][2]int{{0, 0}, {0, 1}, {255, 257}, {0, len(uids)}, {300, 600}, {len(uids) - 1, len(uids)}} {
		got := l.appendTargets(nil, r[0], r[1])
		var want []target
		for i := r[0]; i < r[1]; i++ {
			want = append(want, target{seq: uint32(i + 1), uid: uids[i]})
		}
		if !slices.Equal(got, want) {
			t.Fatalf("targets of positions %v: %v, want %v", r, got, want)
		}
	}
}
