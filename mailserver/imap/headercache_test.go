package imap

import (
	"bytes"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store"
)

func TestHeaderCacheKeepsRecentHeadersWithinItsSize(t *testing.T) {
	header := bytes.Repeat([]byte("h"), 1024) // a size class: no spare capacity
	key := func(uid int) cacheKey { return cacheKey{uidValidity: 7, uid: store.UID(uid)} }
	// Room for three entries.
	c := newHeaderCache(3 * (1024 + headerEntryOverhead))
	for uid := 1; uid <= 3; uid++ {
		if got := c.put(key(uid), header); !bytes.Equal(got, header) {
			t.Fatalf("put %d returned %q", uid, got)
		}
	}
	c.get(key(1)) // 1 is now more recent than 2
	c.put(key(4), header)
	for uid, want := range map[int]bool{1: true, 2: false, 3: true, 4: true} {
		if got := c.get(key(uid)) != nil; got != want {
			t.Errorf("header %d cached: %v, want %v", uid, got, want)
		}
	}
	if got := c.bytes(); got > 3*(1024+headerEntryOverhead) {
		t.Errorf("cache holds %d bytes, more than its size", got)
	}

	// A header over maxCachedHeader is not kept, and an empty one is.
	if got := c.put(key(5), bytes.Repeat([]byte("h"), maxCachedHeader+1)); got != nil || c.get(key(5)) != nil {
		t.Error("a header over maxCachedHeader was cached")
	}
	if got := c.put(key(6), nil); got == nil || c.get(key(6)) == nil {
		t.Error("an empty header was not cached")
	}

	// The cached copy is the cache's own.
	h := []byte("Subject: x\r\n\r\n")
	c.put(key(7), h)
	h[0] = 'X'
	if got := c.get(key(7)); string(got) != "Subject: x\r\n\r\n" {
		t.Errorf("the cache shares the caller's slice: %q", got)
	}

	var disabled *headerCache
	if disabled.put(key(1), header) != nil || disabled.get(key(1)) != nil {
		t.Error("a nil cache cached")
	}
}
