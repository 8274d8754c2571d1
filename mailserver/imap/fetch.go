package imap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime/debug"
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
	// parsed and header are filled ahead of writing (prefetch,
	// readHeaders) and dropped once written; vanished means the message
	// was gone by then.
	parsed   parsed
	header   []byte
	vanished bool
}

// fetchPlan is what a FETCH needs from the messages' bodies.
type fetchPlan struct {
	options *imap.FetchOptions
	// sections: body data is written (BODY[...], BINARY[...], BINARY.SIZE).
	sections bool
	// headerOnly: every item needs at most the header (ENVELOPE and
	// top-level BODY[HEADER], BODY[HEADER.FIELDS ...], RFC822.HEADER).
	headerOnly bool
}

func newFetchPlan(options *imap.FetchOptions) *fetchPlan {
	p := &fetchPlan{
		options:  options,
		sections: len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0,
		headerOnly: options.BodyStructure == nil && len(options.BinarySection) == 0 &&
			len(options.BinarySectionSize) == 0,
	}
	for _, bs := range options.BodySection {
		if len(bs.Part) > 0 || bs.Specifier != imap.PartSpecifierHeader {
			p.headerOnly = false
		}
	}
	return p
}

// missing reports whether p lacks what the plan's ENVELOPE or
// BODYSTRUCTURE needs.
func (plan *fetchPlan) missing(p parsed) bool {
	return (plan.options.Envelope && p.envelope == nil) || (plan.options.BodyStructure != nil && p.structure == nil)
}

// Fetch implements imapserver.Session (RFC 9051 §6.4.5, BINARY RFC 3516).
// Metadata of all addressed messages comes from one store listing. When
// the items need at most the header, the headers are read and parsed by
// other goroutines, batch by batch ahead of the responses, with one store
// call per batch (store.HeaderReader, see fetchHeaders); otherwise bodies
// are read one message at a time, and only when an item needs them. Parsed ENVELOPE and
// BODYSTRUCTURE are kept in the server's parseCache. Messages expunged by
// another session but not yet reported are skipped (RFC 2180 §4.1.1).
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
	defer s.batch(&err)()
	plan := newFetchPlan(options)
	if hr, ok := s.srv.opts.Store.(store.HeaderReader); ok && plan.headerOnly && (options.Envelope || plan.sections) {
		return s.fetchHeaders(ctx, w, msgs, plan, hr)
	}
	for start := 0; start < len(msgs); start += fetchBatch {
		batch := msgs[start:min(start+fetchBatch, len(msgs))]
		if err := s.prefetch(ctx, batch, plan); err != nil {
			return err
		}
		if err := s.writeBatch(ctx, w, batch, plan); err != nil {
			return err
		}
	}
	return nil
}

// FETCH works through the messages in batches: the parsed data a batch
// misses in the cache is read and parsed (bodies by fetchWorkers
// goroutines, headers by one store call per batch, fetchReaders batches at
// a time), then the batch's responses are written in order.
const (
	fetchBatch   = 256
	fetchWorkers = 4 // the SQLite store has 4 read connections by default
	fetchReaders = 2
	fetchAhead   = 4
)

// writeBatch writes the responses of a batch and drops what was read for
// them, so a FETCH of a large folder holds at most a few batches of parsed
// data besides the cache.
func (s *session) writeBatch(ctx context.Context, w *imapserver.FetchWriter, batch []fetched, plan *fetchPlan) error {
	for i := range batch {
		if err := s.fetchOne(ctx, w, &batch[i], plan); err != nil {
			return err
		}
		batch[i].parsed, batch[i].header = parsed{}, nil
	}
	return nil
}

// prefetch fills msgs' parsed data (ENVELOPE, BODYSTRUCTURE) in parallel
// when the items need no other body data; otherwise fetchOne reads each
// body once anyway.
func (s *session) prefetch(ctx context.Context, msgs []fetched, plan *fetchPlan) error {
	options := plan.options
	if !options.Envelope && options.BodyStructure == nil {
		return nil
	}
	if plan.sections {
		return nil
	}
	m := s.sel
	var missing []int
	for i := range msgs {
		p := s.srv.cache.get(cacheKey{uidValidity: m.uidValidity, uid: msgs[i].uid})
		msgs[i].parsed = p
		if plan.missing(p) {
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
			var err error
			defer func() {
				mu.Lock()
				ferr = firstErr(ferr, err)
				mu.Unlock()
				wg.Done()
			}()
			defer s.recoverWorker(&err)
			for {
				k := int(next.Add(1)) - 1
				if k >= len(missing) {
					return
				}
				f := &msgs[missing[k]]
				var body []byte
				body, err = s.srv.opts.Store.Body(ctx, m.ref, f.uid)
				if errors.Is(err, store.ErrMessageNotFound) {
					f.vanished, err = true, nil
					continue
				}
				if err != nil {
					return
				}
				f.parsed = s.parse(cacheKey{uidValidity: m.uidValidity, uid: f.uid}, f.parsed, body, options)
			}
		}()
	}
	wg.Wait()
	return ferr
}

// recoverWorker, deferred in a goroutine working for a command, turns a
// panic into NO [SERVERBUG] for the command, logged and counted as end does
// for the command's own goroutine.
func (s *session) recoverWorker(errp *error) {
	if v := recover(); v != nil {
		s.log.Error("IMAP command worker panicked", "panic", v, "stack", string(debug.Stack()))
		s.srv.obs.Panicked(s.info, v)
		*errp = errServerBug
	}
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
// The body is read here unless what was read ahead is enough: the parsed
// data, and the header when the plan is header-only.
func (s *session) fetchOne(ctx context.Context, w *imapserver.FetchWriter, f *fetched, plan *fetchPlan) error {
	m := s.sel
	options := plan.options
	if f.vanished {
		return nil // expunged since the listing
	}
	key := cacheKey{uidValidity: m.uidValidity, uid: f.uid}
	p := f.parsed
	if plan.missing(p) {
		p = s.srv.cache.get(key)
	}
	body := f.header
	if (plan.sections && body == nil) || plan.missing(p) {
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
