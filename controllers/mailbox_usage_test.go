package controllers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemail/kubemail/mailserver/config"
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

func TestUsageReportsDecodeOncePerVersion(t *testing.T) {
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	enc, err := config.EncodeUsage(map[string]int64{"alice@example.com": 5000}, at)
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "mx1-status-mx1-0", ResourceVersion: "7"},
		BinaryData: map[string][]byte{config.StatusUsageKey: enc}}
	var u usageReports
	used, when, ok, err := u.decode(cm)
	if err != nil || !ok || used["alice@example.com"] != 5000 || !when.Equal(at) {
		t.Fatalf("decode = %v, %v, %v, %v", used, when, ok, err)
	}
	cm.BinaryData[config.StatusUsageKey] = []byte("not gzip") // the same version is not read again
	if used, _, ok, err := u.decode(cm); err != nil || !ok || used["alice@example.com"] != 5000 {
		t.Fatalf("the same version decoded again: %v, %v, %v", used, ok, err)
	}
	cm.ResourceVersion = "8"
	if _, _, _, err := u.decode(cm); err == nil {
		t.Fatal("a malformed report of a new version was accepted")
	}
	cm.ResourceVersion, cm.BinaryData = "9", nil
	if _, _, ok, err := u.decode(cm); ok || err != nil {
		t.Fatalf("a ConfigMap without a report: ok %v, %v", ok, err)
	}
}
