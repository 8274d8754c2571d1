package sqlite

import (
	"cmp"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/kubemail/kubemail/mailserver/store"
)

// The listing table holds a second copy of every message's meta (meta.go),
// packed into one row per folder and run of 2^chunkShift UIDs, so listing
// a folder reads one row per chunk instead of one per message: with
// modernc.org/sqlite a row costs about 0.6 µs however small it is, which
// made a 10,000-message listing cost 7 ms in rows alone, and the 80 chunk
// rows of such a folder cost 0.1 ms. The messages table stays the source
// of truth of the writer; reads of metadata (ListMessages, FolderIndex)
// use only the listing. Both are written by the same operations in the
// same transaction (listingEdits), and checkInvariants compares them. A
// delivery rewrites its chunk, at most 128 entries of about 18 bytes: it
// dirties one more page, as a new message row does, whatever the chunk
// size (BenchmarkDeliver with 64 and 128 UIDs per chunk: no difference).
//
// A chunk's data is its messages' entries in ascending UID order: each a
// head byte (entryHead), the length of the meta encoding as a uvarint, and
// the meta encoding. A chunk with no message has no row.
const chunkShift = 7

// entryKeywords is the bit of an entry's head set when the message has
// keywords; the other bits are its system flags. The head lets FolderIndex
// skip decoding the meta of every message without keywords.
const entryKeywords = 0x80

// entryHead is the head byte of an entry for a message with flags f.
func entryHead(f store.Flags) byte {
	h := byte(f.System)
	if len(f.Keywords) > 0 {
		h |= entryKeywords
	}
	return h
}

// chunkOf is the chunk holding uid.
func chunkOf(uid store.UID) int64 { return int64(uid >> chunkShift) }

// appendEntry appends one message's entry to chunk data.
func appendEntry(data []byte, head byte, meta []byte) []byte {
	data = append(data, head)
	data = binary.AppendUvarint(data, uint64(len(meta)))
	return append(data, meta...)
}

// nextEntry splits the first entry off chunk data.
func nextEntry(data []byte) (head byte, meta, rest []byte, err error) {
	if len(data) == 0 {
		return 0, nil, nil, errBadMeta
	}
	head = data[0]
	var n uint64
	var k int
	if len(data) > 1 && data[1] < 0x80 { // nearly every meta is shorter than 128 bytes
		n, k = uint64(data[1]), 1
	} else {
		n, k = binary.Uvarint(data[1:])
	}
	if k <= 0 || n > math.MaxInt32 {
		return 0, nil, nil, errBadMeta
	}
	data = data[1+k:]
	if int(n) > len(data) {
		return 0, nil, nil, errBadMeta
	}
	return head, data[:n], data[n:], nil
}

// metaUID reads the UID of a meta encoding without decoding the rest.
func metaUID(meta []byte) (store.UID, error) {
	if len(meta) == 0 || meta[0] != metaVersion {
		return 0, errBadMeta
	}
	v, n := binary.Uvarint(meta[1:])
	if n <= 0 || v > uint64(store.MaxUID) {
		return 0, errBadMeta
	}
	return store.UID(v), nil
}

// chunkKey names a listing row.
type chunkKey struct {
	folder int64
	chunk  int64
}

// chunkEntry is one message of a chunk being edited.
type chunkEntry struct {
	uid  store.UID
	head byte
	meta []byte
}

// listingChunk is a chunk as the batch transaction holds it.
type listingChunk struct {
	entries []chunkEntry
	stored  bool // a row exists in the transaction
	dirty   bool // entries differ from the row
}

// listingEdits holds the chunks the batch transaction has read or written
// and which of them are not written yet: each chunk is read once per
// batch, and the edits of an op are written once, when it ends, so an op
// on many messages of a chunk (COPY, STORE, EXPUNGE of a range) rewrites
// it once and the deliveries of a batch into one folder read it once. The
// writer flushes at the end of every op and at both ends of every
// savepoint; when an op or savepoint fails, SQLite rolls back what was
// written since it began, so the writer then forgets every chunk and
// reads them again.
type listingEdits struct {
	chunks map[chunkKey]*listingChunk
	dirty  []chunkKey
}

// listPut adds or replaces the entry of a message in folder: its UID, the
// head byte for its flags and its meta encoding.
func (tx *wtx) listPut(folder int64, uid store.UID, head byte, meta []byte) error {
	c, err := tx.chunk(chunkKey{folder, chunkOf(uid)})
	if err != nil {
		return err
	}
	i, found := slices.BinarySearchFunc(c.entries, uid, compareEntry)
	e := chunkEntry{uid: uid, head: head, meta: meta}
	if found {
		c.entries[i] = e
	} else {
		c.entries = slices.Insert(c.entries, i, e)
	}
	return nil
}

// listRemove removes the entry of uid from folder's listing, if any.
func (tx *wtx) listRemove(folder int64, uid store.UID) error {
	c, err := tx.chunk(chunkKey{folder, chunkOf(uid)})
	if err != nil {
		return err
	}
	if i, found := slices.BinarySearchFunc(c.entries, uid, compareEntry); found {
		c.entries = slices.Delete(c.entries, i, i+1)
	}
	return nil
}

func compareEntry(e chunkEntry, uid store.UID) int { return cmp.Compare(e.uid, uid) }

// chunk returns the chunk of key, reading it the first time, and marks it
// dirty: the caller is about to change it.
func (tx *wtx) chunk(key chunkKey) (*listingChunk, error) {
	l := &tx.listing
	c := l.chunks[key]
	if c == nil {
		var err error
		if c, err = tx.readChunk(key); err != nil {
			return nil, err
		}
		if l.chunks == nil {
			l.chunks = map[chunkKey]*listingChunk{}
		}
		l.chunks[key] = c
	}
	if !c.dirty {
		c.dirty = true
		l.dirty = append(l.dirty, key)
	}
	return c, nil
}

func (tx *wtx) readChunk(key chunkKey) (*listingChunk, error) {
	var data []byte
	err := tx.w.selectChunk.QueryRowContext(tx.ctx, key.folder, key.chunk).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return &listingChunk{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading listing chunk: %w", err)
	}
	c := &listingChunk{stored: true}
	for len(data) > 0 {
		var e chunkEntry
		if e.head, e.meta, data, err = nextEntry(data); err == nil {
			e.uid, err = metaUID(e.meta)
		}
		if err != nil {
			return nil, fmt.Errorf("reading listing chunk %d of folder %d: %w", key.chunk, key.folder, err)
		}
		c.entries = append(c.entries, e)
	}
	return c, nil
}

// flushListing writes every changed chunk. A failure means the transaction
// no longer matches what its ops did, so it aborts the batch.
func (tx *wtx) flushListing() error {
	l := &tx.listing
	var data []byte
	for _, key := range l.dirty {
		c := l.chunks[key]
		c.dirty = false
		var err error
		switch {
		case len(c.entries) == 0 && c.stored:
			_, err = tx.w.deleteChunk.ExecContext(tx.ctx, key.folder, key.chunk)
			c.stored = false
		case len(c.entries) > 0:
			data = data[:0]
			for _, e := range c.entries {
				data = appendEntry(data, e.head, e.meta)
			}
			if c.stored {
				_, err = tx.w.updateChunk.ExecContext(tx.ctx, data, key.folder, key.chunk)
			} else {
				_, err = tx.w.insertChunk.ExecContext(tx.ctx, key.folder, key.chunk, data)
				c.stored = true
			}
		}
		if err != nil {
			l.dirty = nil
			return &abortError{fmt.Errorf("writing listing chunk %d of folder %d: %w", key.chunk, key.folder, err)}
		}
	}
	l.dirty = l.dirty[:0]
	return nil
}

// dropListing forgets every chunk, after an op or savepoint was rolled
// back.
func (tx *wtx) dropListing() { tx.listing = listingEdits{} }
