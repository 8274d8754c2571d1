package sqlite

import (
	"bytes"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

// FuzzListingChunk feeds arbitrary chunk data to the parsers of the
// listing: they must refuse what is not a chunk, never panic, and read
// back what appendEntry wrote.
func FuzzListingChunk(f *testing.F) {
	m := store.MessageMeta{UID: 300, ModSeq: 7, Size: 10240, InternalDate: time.Unix(1700000000, 0),
		Flags: store.Flags{System: store.FlagSeen, Keywords: []string{"$Work"}}}
	f.Add(appendEntry(appendEntry(nil, entryHead(m.Flags), encodeMeta(m)), 0, encodeMeta(store.MessageMeta{UID: 301})))
	f.Add([]byte{0x81, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var heads []byte
		var metas [][]byte
		for rest := data; len(rest) > 0; {
			head, meta, next, err := nextEntry(rest)
			if err != nil {
				return
			}
			if len(next) >= len(rest) {
				t.Fatalf("nextEntry did not advance: %d bytes left of %d", len(next), len(rest))
			}
			rest = next
			if _, err := metaUID(meta); err == nil {
				_, _, _ = indexFields(meta)
			}
			heads, metas = append(heads, head), append(metas, meta)
		}
		var again []byte
		for i := range metas {
			again = appendEntry(again, heads[i], metas[i])
		}
		// A length written with more bytes than needed reads back shorter:
		// compare what the entries hold, not the encoding.
		for i, rest := 0, again; len(rest) > 0; i++ {
			head, meta, next, err := nextEntry(rest)
			if err != nil || head != heads[i] || !bytes.Equal(meta, metas[i]) {
				t.Fatalf("entry %d reads back as %#x %x (%v), want %#x %x", i, head, meta, err, heads[i], metas[i])
			}
			rest = next
		}
	})
}
