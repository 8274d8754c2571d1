package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kubemail/kubemail/mailserver/store"
)

// A body is stored split since schema version 3: its header section in the
// headers table, the rest in bodies.data. Headers then reads only the
// headers table, a row of a few hundred bytes to a few KiB per message,
// several to a page, instead of the pages of whole bodies (SQLite loads a
// column whole): for 10 KiB messages, a HEADER search or an ENVELOPE fetch
// over a folder reads a tenth of the bytes, and BenchmarkHeaders went from
// 100 ms to 15–20 ms of CPU for 10,000 messages.
//
// For a body stored whole before version 3, Headers asks SQLite for a
// prefix of the body rather than the body: only those bytes are copied out
// of SQLite and into Go. The prefix starts at
// headerPrefixMin, enough for a plain header; a message whose empty line is
// not within it is read again with headerPrefixMax (or whole, beyond that),
// and the prefix for the rest of the call grows to hold such a header with
// room to spare, since the headers of one folder tend to be alike (a Gmail
// or Microsoft 365 header with its trace and signature fields is 4–15 KiB).
// SQLite reads the whole body either way (it loads a column whole), but
// copying 8 KiB instead of 2 KiB per message out of it makes a bulk read
// of 10 KiB messages half again as costly (BenchmarkHeaders).
const (
	headerPrefixMin = 2 << 10
	headerPrefixMax = 64 << 10
)

var _ store.HeaderReader = (*Store)(nil)

// Headers implements store.HeaderReader: one read transaction and one
// query for the range, plus, for bodies stored whole, two queries for each
// message whose header is longer than the prefix in use.
func (s *Store) Headers(ctx context.Context, f store.FolderRef, uids store.UIDSet, fn func(store.UID, []byte) error) error {
	f = ref(f.Account, f.Folder)
	cb := &headerCallback{fn: fn}
	err := s.headers(ctx, f, uids, cb)
	if cb.err != nil {
		return cb.err // fn's own error, as is
	}
	if err != nil {
		return fmt.Errorf("reading headers of %s: %w", f, err)
	}
	return nil
}

// headerCallback tells fn's errors apart from the store's.
type headerCallback struct {
	fn  func(store.UID, []byte) error
	err error
}

func (c *headerCallback) call(uid store.UID, header []byte) error {
	c.err = c.fn(uid, header)
	return c.err
}

func (s *Store) headers(ctx context.Context, f store.FolderRef, uids store.UIDSet, cb *headerCallback) error {
	if err := s.readable(); err != nil {
		return err
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	id, st, err := s.r.readStatus(ctx, tx, f)
	if err != nil {
		return err
	}
	lo, hi, ok := uids.Bounds()
	if !ok || st.Messages == 0 {
		return nil
	}
	hi = min(hi, st.UIDNext)
	prefix := headerPrefixMin
	for lo <= hi {
		// long is a message whose header goes beyond the prefix; the scan
		// stops there, reads it alone and goes on after it, so no second
		// statement runs while the first one's rows are open.
		long, err := s.headerRange(ctx, tx, id, lo, hi, prefix, uids, cb)
		if err != nil || long == 0 {
			return err
		}
		header, err := s.longHeader(ctx, tx, id, long)
		if err != nil {
			return err
		}
		if header != nil {
			if err := cb.call(long, header); err != nil {
				return err
			}
			prefix = max(prefix, min(headerPrefixMax, nextPow2(len(header)+len(header)/2)))
		}
		if long == store.MaxUID {
			return nil
		}
		lo = long + 1
	}
	return nil
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// headerRange calls cb for the messages of lo..hi in uids, up to the first
// one whose header is not within its prefix, whose UID it returns.
func (s *Store) headerRange(ctx context.Context, tx *sql.Tx, folderID int64, lo, hi store.UID, prefixLen int,
	uids store.UIDSet, cb *headerCallback) (long store.UID, err error) {
	rows, err := in(ctx, tx, s.r.headers).QueryContext(ctx, prefixLen, folderID, lo, hi)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	single := len(uids) == 1
	var uid store.UID
	var split bool
	var header, prefix sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&uid, &split, &header, &prefix); err != nil {
			return 0, err
		}
		if !single && !uids.Contains(uid) {
			continue
		}
		if split {
			if err := cb.call(uid, header); err != nil {
				return 0, err
			}
			continue
		}
		n, found := store.FindHeaderEnd(prefix)
		if !found && len(prefix) >= prefixLen {
			return uid, rows.Close()
		}
		if err := cb.call(uid, prefix[:n]); err != nil {
			return 0, err
		}
	}
	return 0, rows.Err()
}

// longHeader reads the header of one message stored whole in tx: from its
// first headerPrefixMax bytes, or from the whole body when they hold no
// empty line. nil means the message is gone.
func (s *Store) longHeader(ctx context.Context, tx *sql.Tx, folderID int64, uid store.UID) ([]byte, error) {
	var header []byte // Scan copies it out of the driver's row
	var split bool    // false: tx saw it stored whole, and bodies never change
	var none []byte
	err := in(ctx, tx, s.r.headers).QueryRowContext(ctx, headerPrefixMax, folderID, uid, uid).Scan(&uid, &split, &none, &header)
	if n, found := store.FindHeaderEnd(header); err == nil && !found && n >= headerPrefixMax {
		err = in(ctx, tx, s.r.fullBody).QueryRowContext(ctx, folderID, uid).Scan(&header)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	case header == nil:
		return []byte{}, nil // an empty message
	}
	return header[:store.HeaderLen(header)], nil
}
