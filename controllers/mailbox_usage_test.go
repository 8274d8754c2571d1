package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

func TestUsedChanged(t *testing.T) {
	q := func(s string) *resource.Quantity { v := resource.MustParse(s); return &v }
	tests := map[string]struct {
		old   *resource.Quantity
		bytes int64
		want  bool
	}{
		"an unset status.used stays unset while the mailbox is empty": {nil, 0, false},
		"an unset status.used is written with the first message":      {nil, 300, true},
		"the same value is not written again":                         {q("100Ki"), 100 << 10, false},
		"a value that rounds to the same KiB is not":                  {q("100Ki"), 100<<10 + 100, false},
		"the first message into an empty mailbox is":                  {q("0"), 5000, true},
		"an emptied mailbox is":                                       {q("5Ki"), 0, true},
		"a small message into a mailbox that holds mail":              {q("1Mi"), 1<<20 + 5000, false},
		"64 KiB and 1% more is written":                               {q("1Mi"), 1<<20 + 64<<10, true},
		"64 KiB but under 1% of a large mailbox is not":               {q("100Mi"), 100<<20 + 64<<10, false},
		"1% of a large mailbox is written":                            {q("100Mi"), 101 << 20, true},
		"a large expunge is written":                                  {q("100Mi"), 50 << 20, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := usedChanged(tc.old, tc.bytes); got != tc.want {
				t.Errorf("usedChanged(%v, %d) = %v, want %v", tc.old, tc.bytes, got, tc.want)
			}
		})
	}
}

func TestUsedQuantityRoundsUpToKiB(t *testing.T) {
	for bytes, want := range map[int64]string{0: "0", 100: "1Ki", 1024: "1Ki", 1025: "2Ki", 104857: "103Ki", 5 << 20: "5Mi"} {
		if got := usedQuantity(bytes).String(); got != want {
			t.Errorf("usedQuantity(%d) = %s, want %s", bytes, got, want)
		}
	}
}
