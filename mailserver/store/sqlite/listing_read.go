package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/kubemail/kubemail/mailserver/store"
)

var _ store.FolderIndexer = (*Store)(nil)

// ListMessages implements store.MessageStore from the listing (listing.go).
// Status and listing come from one read transaction, so they agree.
func (s *Store) ListMessages(ctx context.Context, f store.FolderRef, opts store.ListOptions) (store.MessageList, error) {
	f = ref(f.Account, f.Folder)
	list, err := s.listMessages(ctx, f, opts)
	if err != nil {
		return store.MessageList{}, fmt.Errorf("listing messages of %s: %w", f, err)
	}
	return list, nil
}

func (s *Store) listMessages(ctx context.Context, f store.FolderRef, opts store.ListOptions) (store.MessageList, error) {
	var list store.MessageList
	if err := s.readable(); err != nil {
		return list, err
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return list, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	id, st, err := s.r.readStatus(ctx, tx, f)
	if err != nil {
		return list, err
	}
	list.Status = st
	lo, hi, ok := opts.UIDs.Bounds()
	if !ok || st.Messages == 0 {
		return list, nil
	}
	hi = min(hi, st.UIDNext)
	list.Messages = make([]store.MessageMeta, 0, min(int(st.Messages), int(hi-lo)+1))
	zones := zoneCache{}
	single := len(opts.UIDs) == 1
	err = s.scanListing(ctx, tx, id, lo, hi, func(uid store.UID, _ byte, meta []byte) error {
		if uid < lo || uid > hi || (!single && !opts.UIDs.Contains(uid)) {
			return nil
		}
		m, err := decodeMeta(meta, zones)
		if err != nil {
			return err
		}
		if m.ModSeq > opts.ChangedSince {
			list.Messages = append(list.Messages, m)
		}
		return nil
	})
	return list, err
}

// scanListing calls fn, in ascending UID order, with the UID, entry head
// and meta of every message in the chunks holding lo..hi (some may lie
// outside). meta is valid only during the call.
func (s *Store) scanListing(ctx context.Context, tx *sql.Tx, folder int64, lo, hi store.UID, fn func(store.UID, byte, []byte) error) error {
	rows, err := in(ctx, tx, s.r.listing).QueryContext(ctx, folder, chunkOf(lo), chunkOf(hi))
	if err != nil {
		return err
	}
	defer rows.Close()
	var raw sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&raw); err != nil {
			return err
		}
		// data is a local copy of raw, which escapes through Scan: the
		// loop then moves a stack slice, without GC write barriers.
		for data := []byte(raw); len(data) > 0; {
			var head byte
			var meta []byte
			if head, meta, data, err = nextEntry(data); err != nil {
				return err
			}
			uid, err := metaUID(meta)
			if err != nil {
				return err
			}
			if err := fn(uid, head, meta); err != nil {
				return err
			}
		}
	}
	return rows.Err()
}

// FolderIndex implements store.FolderIndexer from the listing, decoding of
// each message only its UID and entry head, and its keywords when the head
// says it has some.
func (s *Store) FolderIndex(ctx context.Context, f store.FolderRef) (store.FolderIndex, error) {
	f = ref(f.Account, f.Folder)
	idx, err := s.folderIndex(ctx, f)
	if err != nil {
		return store.FolderIndex{}, fmt.Errorf("reading the index of %s: %w", f, err)
	}
	return idx, nil
}

func (s *Store) folderIndex(ctx context.Context, f store.FolderRef) (store.FolderIndex, error) {
	var idx store.FolderIndex
	if err := s.readable(); err != nil {
		return idx, err
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return idx, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	id, st, err := s.r.readStatus(ctx, tx, f)
	if err != nil {
		return idx, err
	}
	idx.Status = st
	if st.Messages == 0 {
		return idx, nil
	}
	idx.UIDs = make([]store.UID, 0, st.Messages)
	var kw store.KeywordSet
	err = s.scanListing(ctx, tx, id, 0, store.MaxUID, func(uid store.UID, head byte, meta []byte) error {
		idx.UIDs = append(idx.UIDs, uid)
		if idx.FirstUnseen == 0 && store.SystemFlags(head)&store.FlagSeen == 0 {
			idx.FirstUnseen = uid
		}
		if head&entryKeywords == 0 {
			return nil
		}
		_, keywords, err := indexFields(meta)
		if err != nil {
			return err
		}
		for len(keywords) > 0 {
			var k []byte
			k, keywords, _ = bytes.Cut(keywords, []byte(" "))
			if !kw.Has(string(k)) {
				kw.Add(string(k))
			}
		}
		return nil
	})
	idx.Keywords = kw.Sorted()
	return idx, err
}

// indexFields decodes the system flags and the keywords (space-separated,
// empty for none) of a meta encoding (meta.go).
func indexFields(meta []byte) (store.SystemFlags, []byte, error) {
	if len(meta) == 0 || meta[0] != metaVersion {
		return 0, nil, errBadMeta
	}
	b := meta[1:]
	var flags uint64
	for i := range 6 { // UID, ModSeq, flags, size, seconds, zone offset
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, nil, errBadMeta
		}
		if i == 2 {
			flags = v
		}
		b = b[n:]
	}
	if flags > math.MaxUint8 || store.SystemFlags(flags)&^store.AllSystemFlags != 0 {
		return 0, nil, errBadMeta
	}
	return store.SystemFlags(flags), b, nil
}
