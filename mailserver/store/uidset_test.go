package store

import (
	"slices"
	"testing"
)

func TestUIDSet(t *testing.T) {
	tests := map[string]struct {
		set        UIDSet
		normalized UIDSet
		str        string
		in, out    []UID
	}{
		"overlapping, adjacent and reversed ranges merge": {
			set:        UIDSet{{7, 9}, {1, 3}, {4, 4}, {12, 10}, {8, 11}},
			normalized: UIDSet{{1, 4}, {7, 12}},
			str:        "1:4,7:12",
			in:         []UID{1, 4, 7, 10, 12}, out: []UID{0, 5, 6, 13}},
		"an open range reaches MaxUID": {
			set:        UIDSet{{5, MaxUID}},
			normalized: UIDSet{{5, MaxUID}},
			str:        "5:*",
			in:         []UID{5, MaxUID}, out: []UID{4}},
		"the empty set holds nothing": {
			set: nil, normalized: nil, str: "", out: []UID{1, MaxUID}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n := tc.set.Normalize()
			if !slices.Equal(n, tc.normalized) || n.String() != tc.str {
				t.Fatalf("Normalize() = %v (%q), want %v (%q)", n, n.String(), tc.normalized, tc.str)
			}
			for _, u := range tc.in {
				if !tc.set.Contains(u) || !n.Contains(u) {
					t.Errorf("set does not contain %d", u)
				}
			}
			for _, u := range tc.out {
				if tc.set.Contains(u) || n.Contains(u) {
					t.Errorf("set contains %d", u)
				}
			}
		})
	}
	if lo, hi, ok := (UIDSet{{9, 3}, {20, 12}}).Bounds(); lo != 3 || hi != 20 || !ok {
		t.Fatalf("Bounds() = %d, %d, %v", lo, hi, ok)
	}
	if got := UIDSetOf(3, 1, 2, 9); !slices.Equal(got, UIDSet{{1, 3}, {9, 9}}) {
		t.Fatalf("UIDSetOf = %v", got)
	}
}

func TestNormalizeAndValidateNames(t *testing.T) {
	for in, want := range map[string]string{"inbox": "INBOX", "InBoX": "INBOX", "Inbox/Sub/inbox": "INBOX/Sub/inbox", "Inboxes": "Inboxes", "Sent/inbox": "Sent/inbox"} {
		if got := NormalizeFolder(in); got != want {
			t.Errorf("NormalizeFolder(%q) = %q, want %q", in, got, want)
		}
	}
	for u, valid := range map[SpecialUse]bool{SpecialNone: true, SpecialTrash: true, `\Inbox`: false, "Trash": false} {
		if u.Valid() != valid {
			t.Errorf("SpecialUse(%q).Valid() = %v", u, !valid)
		}
	}
	for name, valid := range map[string]bool{"a": true, "a/b c": true, "": false, "/a": false, "a/": false, "a//b": false, "a\x00b": false} {
		if err := ValidateFolderName(name); (err == nil) != valid {
			t.Errorf("ValidateFolderName(%q) = %v, want valid=%v", name, err, valid)
		}
	}
}
