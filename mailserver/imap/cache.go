package imap

import (
	"bufio"
	"bytes"
	"container/list"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"

	"github.com/kubemail/kubemail/mailserver/store"
)

// cacheKey identifies a message body for the whole store: the store never
// reuses a UIDVALIDITY, even for a re-created folder, nor a UID within a
// folder (store package documentation), and bodies never change.
type cacheKey struct {
	uidValidity uint32
	uid         store.UID
}

// parsed is what FETCH needs from a body besides its bytes. Either field
// may be missing: ENVELOPE needs only the header, BODYSTRUCTURE the body.
type parsed struct {
	envelope  *imap.Envelope
	structure imap.BodyStructure
}

type cacheEntry struct {
	key  cacheKey
	p    parsed
	size int64
}

// parseCache is a size-bounded LRU of parsed messages shared by all
// sessions, so a client that asks for every ENVELOPE of a large folder at
// each connection (as most do) does not make the server read and parse
// every body again. A nil *parseCache caches nothing.
type parseCache struct {
	max int64

	mu      sync.Mutex
	used    int64
	entries map[cacheKey]*list.Element
	lru     list.List // front is most recent
}

func newParseCache(maxBytes int64) *parseCache {
	if maxBytes < 0 {
		return nil
	}
	return &parseCache{max: maxBytes, entries: make(map[cacheKey]*list.Element)}
}

func (c *parseCache) get(k cacheKey) parsed {
	if c == nil {
		return parsed{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return parsed{}
	}
	c.lru.MoveToFront(e)
	return e.Value.(*cacheEntry).p
}

// put adds what p holds to the entry of k.
func (c *parseCache) put(k cacheKey, p parsed) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok {
		ent := e.Value.(*cacheEntry)
		if p.envelope == nil {
			p.envelope = ent.p.envelope
		}
		if p.structure == nil {
			p.structure = ent.p.structure
		}
		c.used -= ent.size
		ent.p, ent.size = p, p.cost()
		c.used += ent.size
		c.lru.MoveToFront(e)
	} else {
		ent := &cacheEntry{key: k, p: p, size: p.cost()}
		c.entries[k] = c.lru.PushFront(ent)
		c.used += ent.size
	}
	for c.used > c.max && c.lru.Len() > 0 {
		e := c.lru.Back()
		ent := e.Value.(*cacheEntry)
		c.lru.Remove(e)
		delete(c.entries, ent.key)
		c.used -= ent.size
	}
}

// cost estimates the bytes an entry holds: its strings plus a fixed
// overhead per object (the map and list entries included; calibrated with
// BenchmarkLargeFolder's heap measurement).
func (p parsed) cost() int64 {
	const entryOverhead, addressOverhead, partOverhead = 420, 48, 256
	n := int64(entryOverhead)
	if env := p.envelope; env != nil {
		n += int64(len(env.Subject) + len(env.MessageID))
		for _, l := range [][]imap.Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
			for _, a := range l {
				n += addressOverhead + int64(len(a.Name)+len(a.Mailbox)+len(a.Host))
			}
		}
		for _, id := range env.InReplyTo {
			n += int64(len(id)) + 16
		}
	}
	if p.structure != nil {
		p.structure.Walk(func(_ []int, _ imap.BodyStructure) bool {
			n += partOverhead
			return true
		})
	}
	return n
}

// parseHeader parses the message's header; a malformed header yields what
// could be read.
func parseHeader(body []byte) textproto.Header {
	hdr := body[:store.HeaderLen(body)]
	if !bytes.HasSuffix(hdr, []byte("\n\n")) && !bytes.HasSuffix(hdr, []byte("\n\r\n")) {
		hdr = append(bytes.Clone(hdr), "\r\n\r\n"...)
	}
	h, _ := textproto.ReadHeader(bufio.NewReaderSize(bytes.NewReader(hdr), 512))
	return h
}
