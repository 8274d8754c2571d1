package sqlite

import (
	"strings"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

func TestMetaRoundTrip(t *testing.T) {
	tests := map[string]store.MessageMeta{
		"a plain message in UTC": {UID: 1, ModSeq: 2, Size: 10, InternalDate: time.Unix(1700000000, 0).UTC()},
		"every flag, keywords and a negative zone": {UID: store.MaxUID, ModSeq: 1 << 62, Size: 50 << 20,
			Flags:        store.Flags{System: store.AllSystemFlags, Keywords: []string{"$Forwarded", "Work"}},
			InternalDate: time.Date(1969, 7, 20, 20, 17, 40, 0, time.FixedZone("", -(9*3600+30*60)))},
	}
	for name, m := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := decodeMeta(encodeMeta(m), zoneCache{})
			_, wantOff := m.InternalDate.Zone()
			_, gotOff := got.InternalDate.Zone()
			if err != nil || got.UID != m.UID || got.ModSeq != m.ModSeq || got.Size != m.Size ||
				!got.Flags.Equal(m.Flags) || !got.InternalDate.Equal(m.InternalDate) || gotOff != wantOff {
				t.Fatalf("decodeMeta(encodeMeta(%+v)) = %+v, %v", m, got, err)
			}
		})
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta(store.MessageMeta{UID: 7, ModSeq: 9, Size: 100, InternalDate: time.Unix(1, 0),
		Flags: store.Flags{System: store.FlagSeen, Keywords: []string{"k"}}}))
	f.Add([]byte{metaVersion, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b, zoneCache{})
		if err != nil {
			return
		}
		if strings.Contains(strings.Join(m.Flags.Keywords, ""), " ") {
			t.Fatalf("decoded keywords hold a space: %q", m.Flags.Keywords)
		}
		again, err := decodeMeta(encodeMeta(m), zoneCache{})
		if err != nil || again.UID != m.UID || again.ModSeq != m.ModSeq || again.Size != m.Size ||
			again.Flags.System != m.Flags.System || !again.InternalDate.Equal(m.InternalDate) {
			t.Fatalf("re-encoding %+v gave %+v, %v", m, again, err)
		}
	})
}
