package imap

import (
	"bytes"
	"container/list"
	"sync"
)

// maxCachedHeader is the largest header section headerCache keeps: most
// headers are a few KiB; the few larger ones (long trace and signature
// fields) would crowd out many others.
const maxCachedHeader = 4 << 10

// headerCache is a size-bounded LRU of header sections shared by all
// sessions, apart from parseCache so that headers never crowd out parsed
// envelopes. FETCH fills it as it reads headers (ENVELOPE and
// BODY[HEADER...] of a folder, what clients fetch on opening one), and
// SEARCH HEADER and later header fetches read it instead of the store. A
// nil *headerCache caches nothing. Keys are those of parseCache: bodies
// never change.
type headerCache struct {
	max int64

	mu      sync.Mutex
	used    int64
	entries map[cacheKey]*list.Element
	lru     list.List // front is most recent
}

type headerEntry struct {
	key    cacheKey
	header []byte
}

// headerEntryOverhead is what an entry costs besides its bytes: the map
// entry, the list element and headerEntry (calibrated with
// BenchmarkLargeFolder's heap measurement).
const headerEntryOverhead = 120

func newHeaderCache(maxBytes int64) *headerCache {
	if maxBytes < 0 {
		return nil
	}
	return &headerCache{max: maxBytes, entries: make(map[cacheKey]*list.Element)}
}

// get returns the cached header of k, nil if there is none. The slice is
// shared: never write it.
func (c *headerCache) get(k cacheKey) []byte {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(e)
	return e.Value.(*headerEntry).header
}

// put caches a copy of header unless it is over maxCachedHeader, and
// returns the cached copy (nil when not cached), which the caller may
// share but not write.
func (c *headerCache) put(k cacheKey, header []byte) []byte {
	if c == nil || len(header) > maxCachedHeader {
		return nil
	}
	h := bytes.Clone(header)
	if h == nil {
		h = []byte{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*headerEntry).header
	}
	c.entries[k] = c.lru.PushFront(&headerEntry{key: k, header: h})
	c.used += int64(cap(h)) + headerEntryOverhead
	for c.used > c.max && c.lru.Len() > 0 {
		e := c.lru.Back()
		ent := e.Value.(*headerEntry)
		c.lru.Remove(e)
		delete(c.entries, ent.key)
		c.used -= int64(cap(ent.header)) + headerEntryOverhead
	}
	if _, ok := c.entries[k]; !ok {
		return nil // larger than the whole cache
	}
	return h
}

// bytes is what the cache holds, by its own estimate.
func (c *headerCache) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
