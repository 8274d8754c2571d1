package imap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kubemail/kubemail/mailserver/store"
)

// fetched is one message a FETCH answers for, with its metadata.
type fetched struct {
	target
	meta store.MessageMeta
	// flagsChanged: FETCH set \Seen, so FLAGS is sent even if not asked
	// (RFC 9051 §6.4.5).
	flagsChanged bool
	// parsed is filled by prefetch; vanished means the body was gone.
	parsed   parsed
	vanished bool
}

// Fetch implements imapserver.Session (RFC 9051 §6.4.5, BINARY RFC 3516).
// Metadata of all addressed messages comes from one store listing; bodies
// are read one message at a time, and only when an item needs them: the
// parsed ENVELOPE and BODYSTRUCTURE are kept in the server's parseCache.
// Messages expunged by another session but not yet reported are skipped
// (RFC 2180 §4.1.1).
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) (err error) {
	ctx := s.begin()
	defer s.end("FETCH", &err)
	msgs, err := s.lookup(ctx, s.sel.resolve(numSet))
	if err != nil || len(msgs) == 0 {
		return err
	}
	if wantsSeen(options) && !s.sel.readOnly {
		if err := s.markSeen(ctx, msgs); err != nil {
			return err
		}
	}
	for start := 0; start < len(msgs); start += fetchBatch {
		batch := msgs[start:min(start+fetchBatch, len(msgs))]
		if err := s.prefetch(ctx, batch, options); err != nil {
			return err
		}
		for i := range batch {
			if err := s.fetchOne(ctx, w, &batch[i], options); err != nil {
				return err
			}
		}
	}
	return nil
}

// FETCH works through the messages in batches: the parsed data a batch
// misses in the cache is read and parsed by a few goroutines, then the
// batch's responses are written in order.
const (
	fetchBatch   = 256
	fetchWorkers = 4 // the SQLite store has 4 read connections by default
)

// prefetch fills msgs' parsed data (ENVELOPE, BODYSTRUCTURE) in parallel
// when the items need no other body data; otherwise fetchOne reads each
// body once anyway.
func (s *session) prefetch(ctx context.Context, msgs []fetched, options *imap.FetchOptions) error {
	if !options.Envelope && options.BodyStructure == nil {
		return nil
	}
	if len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0 {
		return nil
	}
	m := s.sel
	var missing []int
	for i := range msgs {
		p := s.srv.cache.get(cacheKey{uidValidity: m.uidValidity, uid: msgs[i].uid})
		msgs[i].parsed = p
		if (options.Envelope && p.envelope == nil) || (options.BodyStructure != nil && p.structure == nil) {
			missing = append(missing, i)
		}
	}
	if len(missing) < 2 {
		return nil
	}
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		mu   sync.Mutex
		ferr error
	)
	for range min(fetchWorkers, len(missing)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(missing) {
					return
				}
				f := &msgs[missing[k]]
				body, err := s.srv.opts.Store.Body(ctx, m.ref, f.uid)
				if errors.Is(err, store.ErrMessageNotFound) {
					f.vanished = true
					continue
				}
				if err != nil {
					mu.Lock()
					ferr = firstErr(ferr, err)
					mu.Unlock()
					return
				}
				f.parsed = s.parse(cacheKey{uidValidity: m.uidValidity, uid: f.uid}, f.parsed, body, options)
			}
		}()
	}
	wg.Wait()
	return ferr
}

// parse completes p from body as options need and caches what it parsed.
func (s *session) parse(key cacheKey, p parsed, body []byte, options *imap.FetchOptions) parsed {
	fresh := parsed{}
	if options.Envelope && p.envelope == nil {
		fresh.envelope = parseEnvelope(body)
		p.envelope = fresh.envelope
	}
	if options.BodyStructure != nil && p.structure == nil {
		fresh.structure = imapserver.ExtractBodyStructure(bytes.NewReader(body))
		p.structure = fresh.structure
	}
	if fresh.envelope != nil || fresh.structure != nil {
		s.srv.cache.put(key, fresh)
	}
	return p
}

// lookup pairs targets with their metadata; targets the store no longer
// holds are dropped.
func (s *session) lookup(ctx context.Context, targets []target) ([]fetched, error) {
	m := s.sel
	if len(targets) == 0 {
		return nil, nil
	}
	list, err := s.srv.opts.Store.ListMessages(ctx, m.ref, store.ListOptions{UIDs: storeSet(targets)})
	if errors.Is(err, store.ErrFolderNotFound) || (err == nil && list.Status.UIDValidity != m.uidValidity) {
		return nil, errMailboxGone
	}
	if err != nil {
		return nil, err
	}
	out := make([]fetched, 0, len(list.Messages))
	j := 0
	for _, t := range targets {
		for j < len(list.Messages) && list.Messages[j].UID < t.uid {
			j++
		}
		if j < len(list.Messages) && list.Messages[j].UID == t.uid {
			out = append(out, fetched{target: t, meta: list.Messages[j]})
		}
	}
	return out, nil
}

// wantsSeen reports whether FETCH sets \Seen: BODY[...] and BINARY[...]
// without .PEEK do (RFC 9051 §6.4.5).
func wantsSeen(options *imap.FetchOptions) bool {
	for _, bs := range options.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range options.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

// markSeen sets \Seen on the messages that lack it.
func (s *session) markSeen(ctx context.Context, msgs []fetched) error {
	var uids []store.UID
	for _, f := range msgs {
		if !f.meta.Flags.Has(store.FlagSeen) {
			uids = append(uids, f.uid)
		}
	}
	if len(uids) == 0 {
		return nil
	}
	res, err := s.srv.opts.Store.UpdateFlags(ctx, store.FlagUpdate{
		Folder: s.sel.ref, UIDs: store.UIDSetOf(uids...), Op: store.FlagsAdd,
		Flags: store.Flags{System: store.FlagSeen},
	})
	if err != nil {
		return err
	}
	s.sel.markOwn(res.ModSeq)
	j := 0
	for _, st := range res.Messages {
		for j < len(msgs) && msgs[j].uid < st.UID {
			j++
		}
		if j < len(msgs) && msgs[j].uid == st.UID {
			msgs[j].flagsChanged = !msgs[j].meta.Flags.Equal(st.Flags)
			msgs[j].meta.Flags = st.Flags
		}
	}
	return nil
}

// fetchOne writes one FETCH response. Everything that can fail is read
// before the response starts, since a started response must be finished.
func (s *session) fetchOne(ctx context.Context, w *imapserver.FetchWriter, f *fetched, options *imap.FetchOptions) error {
	m := s.sel
	if f.vanished {
		return nil // expunged since the listing
	}
	key := cacheKey{uidValidity: m.uidValidity, uid: f.uid}
	p := f.parsed
	if (options.Envelope && p.envelope == nil) || (options.BodyStructure != nil && p.structure == nil) {
		p = s.srv.cache.get(key)
	}
	needBody := len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0
	var body []byte
	if needBody || (options.Envelope && p.envelope == nil) || (options.BodyStructure != nil && p.structure == nil) {
		var err error
		body, err = s.srv.opts.Store.Body(ctx, m.ref, f.uid)
		if errors.Is(err, store.ErrMessageNotFound) {
			return nil // expunged since the listing
		}
		if err != nil {
			return err
		}
		p = s.parse(key, p, body, options)
	}

	rw := w.CreateMessage(f.seq)
	if options.UID {
		rw.WriteUID(imap.UID(f.uid))
	}
	if options.Flags || f.flagsChanged {
		rw.WriteFlags(flagList(f.meta.Flags))
	}
	if options.InternalDate {
		rw.WriteInternalDate(f.meta.InternalDate)
	}
	if options.RFC822Size {
		rw.WriteRFC822Size(f.meta.Size)
	}
	if options.Envelope {
		rw.WriteEnvelope(p.envelope)
	}
	if options.BodyStructure != nil {
		rw.WriteBodyStructure(p.structure)
	}
	var werr error
	for _, bs := range options.BodySection {
		data := bodySection(body, bs)
		werr = firstErr(werr, writeAll(rw.WriteBodySection(bs, int64(len(data))), data))
	}
	for _, bs := range options.BinarySection {
		data := imapserver.ExtractBinarySection(bytes.NewReader(body), bs)
		werr = firstErr(werr, writeAll(rw.WriteBinarySection(bs, int64(len(data))), data))
	}
	for _, bss := range options.BinarySectionSize {
		rw.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(body), bss))
	}
	return firstErr(werr, rw.Close())
}

func writeAll(wc io.WriteCloser, data []byte) error {
	_, err := wc.Write(data)
	return firstErr(err, wc.Close())
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
