package imap

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kubemail/kubemail/mailserver/store"
)

// Search implements imapserver.Session (RFC 9051 §6.4.4 with ESEARCH
// RFC 4731 and SEARCHRES RFC 5182, both part of IMAP4rev2). Criteria on
// flags, size, dates, UIDs and sequence numbers use the store's listing;
// body and text criteria read the bodies of the messages that are still
// candidates, one at a time, and a search whose criteria need at most the
// header reads the headers in bulk (store.HeaderReader, see
// searchHeaders) when the store can. Strings match as case-insensitive
// substrings of the decoded text (RFC 2047 words, transfer encodings and
// charsets are decoded).
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (_ *imap.SearchData, err error) {
	ctx := s.begin()
	defer s.end("SEARCH", &err)
	m := s.sel
	crit, err := compileCriteria(m, criteria, 0)
	if err != nil {
		return nil, err
	}
	msgs, err := s.lookup(ctx, m.allTargets())
	if err != nil {
		return nil, err
	}
	matched := make([]bool, len(msgs))
	if hr, ok := s.srv.opts.Store.(store.HeaderReader); ok && crit.readsContent() && !crit.readsBody() {
		if err := s.searchHeaders(ctx, hr, msgs, crit, matched); err != nil {
			return nil, err
		}
	} else {
		for i := range msgs {
			c := &candidate{msg: &msgs[i], load: s.bodyLoader(ctx)}
			matched[i] = crit.match(c)
			if c.err != nil {
				return nil, c.err
			}
		}
	}
	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uids imap.UIDSet
	var saved []store.UID
	for i := range msgs {
		if !matched[i] {
			continue
		}
		f := &msgs[i]
		saved = append(saved, f.uid)
		num := f.seq
		if kind == imapserver.NumKindUID {
			num = uint32(f.uid)
			uids.AddNum(imap.UID(f.uid))
		} else {
			seqs.AddNum(f.seq)
		}
		if data.Min == 0 {
			data.Min = num
		}
		data.Max = num
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uids
	} else {
		data.All = seqs
	}
	if options.ReturnSave {
		m.searchRes = saved
	}
	return data, nil
}

// bodyLoader reads a body for a search candidate; a message expunged
// meanwhile reads as empty (and matches nothing that needs its text).
func (s *session) bodyLoader(ctx context.Context) func(uid store.UID) ([]byte, error) {
	return func(uid store.UID) ([]byte, error) {
		body, err := s.srv.opts.Store.Body(ctx, s.sel.ref, uid)
		if errors.Is(err, store.ErrMessageNotFound) {
			return nil, nil
		}
		return body, err
	}
}

// searchHeaders sets matched for a search whose criteria need at most the
// header: the messages that pass the listing's tests are matched against
// their cached header (headerCache, filled by FETCH) when there is one; the
// others are read in batches of fetchBatch, one store call per batch, by
// fetchReaders goroutines, and each is matched inside the store's
// callback, so no header is held. Search does not fill the cache: copying
// and caching 10,000 headers would make a search that reads them a third
// dearer. A message expunged meanwhile matches as one with an empty
// header, as with bodyLoader.
func (s *session) searchHeaders(ctx context.Context, hr store.HeaderReader, msgs []fetched, crit *criteria, matched []bool) error {
	var cands []int // positions in msgs
	uidValidity := s.sel.uidValidity
	for i := range msgs {
		if !crit.matchMeta(&msgs[i]) {
			continue
		}
		if h := s.srv.headers.get(cacheKey{uidValidity: uidValidity, uid: msgs[i].uid}); h != nil {
			matched[i] = crit.match(&candidate{msg: &msgs[i], loaded: true, text: newMessageText(h)})
			continue
		}
		cands = append(cands, i)
	}
	batches := (len(cands) + fetchBatch - 1) / fetchBatch
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ref := s.sel.ref // workers touch no session state
	var next atomic.Int64
	errs := make(chan error, fetchReaders)
	workers := min(fetchReaders, batches)
	for range workers {
		go func() {
			var err error
			defer func() { errs <- err }()
			defer s.recoverWorker(&err)
			for err == nil && ctx.Err() == nil {
				b := int(next.Add(1)) - 1
				if b >= batches {
					return
				}
				err = searchHeaderBatch(ctx, hr, ref, msgs, cands[b*fetchBatch:min((b+1)*fetchBatch, len(cands))], crit, matched)
			}
		}()
	}
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// searchHeaderBatch matches the messages at positions batch (ascending) of
// msgs with one store call. It runs beside other batches: it writes only
// its own positions of matched.
func searchHeaderBatch(ctx context.Context, hr store.HeaderReader, ref store.FolderRef, msgs []fetched, batch []int, crit *criteria, matched []bool) error {
	targets := make([]target, len(batch))
	for k, i := range batch {
		targets[k] = msgs[i].target
	}
	seen := make([]bool, len(batch))
	matchText := func(k int, header []byte) {
		c := &candidate{msg: &msgs[batch[k]], loaded: true, text: newMessageText(header)}
		matched[batch[k]] = crit.match(c)
	}
	k := 0
	err := hr.Headers(ctx, ref, storeSet(targets), func(uid store.UID, header []byte) error {
		for k < len(batch) && msgs[batch[k]].uid < uid {
			k++
		}
		if k == len(batch) || msgs[batch[k]].uid != uid {
			return nil
		}
		seen[k] = true
		matchText(k, header)
		return nil
	})
	if err != nil {
		return err
	}
	for k := range batch {
		if !seen[k] {
			matchText(k, nil)
		}
	}
	return nil
}

// criteria is a SEARCH program with its number sets resolved against the
// view, so "*" and "$" mean what they meant when the command arrived.
type criteria struct {
	c    *imap.SearchCriteria
	sets [][]store.UID // each sorted; a message must be in all of them
	not  []*criteria
	or   [][2]*criteria
	// needle strings, lower-cased once.
	body, text []string
	header     []imap.SearchCriteriaHeaderField
}

// compileCriteria resolves c; it fails when NOT and OR nest deeper than
// MaxSearchDepth (the library bounds only parenthesised lists).
func compileCriteria(m *mailbox, c *imap.SearchCriteria, depth int) (*criteria, error) {
	if depth > MaxSearchDepth {
		return nil, errSearchTooDeep
	}
	out := &criteria{c: c}
	for _, set := range c.SeqNum {
		out.sets = append(out.sets, uidsOf(m.resolve(set)))
	}
	for _, set := range c.UID {
		out.sets = append(out.sets, uidsOf(m.resolve(set)))
	}
	for _, b := range c.Body {
		out.body = append(out.body, strings.ToLower(b))
	}
	for _, t := range c.Text {
		out.text = append(out.text, strings.ToLower(t))
	}
	for _, h := range c.Header {
		out.header = append(out.header, imap.SearchCriteriaHeaderField{Key: h.Key, Value: strings.ToLower(h.Value)})
	}
	for i := range c.Not {
		n, err := compileCriteria(m, &c.Not[i], depth+1)
		if err != nil {
			return nil, err
		}
		out.not = append(out.not, n)
	}
	for i := range c.Or {
		a, err := compileCriteria(m, &c.Or[i][0], depth+1)
		if err != nil {
			return nil, err
		}
		b, err := compileCriteria(m, &c.Or[i][1], depth+1)
		if err != nil {
			return nil, err
		}
		out.or = append(out.or, [2]*criteria{a, b})
	}
	return out, nil
}

func uidsOf(targets []target) []store.UID {
	out := make([]store.UID, len(targets))
	for i, t := range targets {
		out[i] = t.uid
	}
	return out
}

// candidate is a message being searched, with its text loaded lazily.
type candidate struct {
	msg  *fetched
	load func(store.UID) ([]byte, error)
	err  error // first load failure; the search fails with it

	loaded bool
	text   *messageText
}

// headerContains is messageText.headerContains with a quick rejection
// first (mayHold), as most messages lack most needles.
func (c *candidate) headerContains(key, value string) bool {
	t := c.content()
	if value != "" && !strings.ContainsRune(value, ' ') && !mayHold(t.body[:store.HeaderLen(t.body)], key, value) {
		return false
	}
	return t.headerContains(key, value)
}

func (c *candidate) content() *messageText {
	if !c.loaded {
		c.loaded = true
		body, err := c.load(c.msg.uid)
		if err != nil && c.err == nil {
			c.err = err
		}
		c.text = newMessageText(body)
	}
	return c.text
}

// match evaluates the criteria, cheap tests first.
func (cr *criteria) match(c *candidate) bool {
	crit := cr.c
	if !cr.matchMeta(c.msg) {
		return false
	}
	if !crit.SentSince.IsZero() || !crit.SentBefore.IsZero() {
		sent, ok := c.content().sentDate()
		if !ok || !matchDate(sent, crit.SentSince, crit.SentBefore) {
			return false
		}
	}
	for _, h := range cr.header {
		if !c.headerContains(h.Key, h.Value) {
			return false
		}
	}
	for _, b := range cr.body {
		if !strings.Contains(c.content().bodyText(), b) {
			return false
		}
	}
	for _, t := range cr.text {
		mt := c.content()
		if !strings.Contains(mt.headerText(), t) && !strings.Contains(mt.bodyText(), t) {
			return false
		}
	}
	for _, n := range cr.not {
		if n.match(c) {
			return false
		}
	}
	for _, o := range cr.or {
		if !o[0].match(c) && !o[1].match(c) {
			return false
		}
	}
	return true
}

// matchMeta evaluates the criteria of this level that need only the
// store's listing (not those under NOT and OR): a message failing them
// does not match, whatever its text.
func (cr *criteria) matchMeta(m *fetched) bool {
	crit := cr.c
	for _, set := range cr.sets {
		if _, ok := slices.BinarySearch(set, m.uid); !ok {
			return false
		}
	}
	if !matchFlags(m.meta.Flags, crit.Flag, true) || !matchFlags(m.meta.Flags, crit.NotFlag, false) {
		return false
	}
	if (crit.Larger > 0 && m.meta.Size <= crit.Larger) || (crit.Smaller > 0 && m.meta.Size >= crit.Smaller) {
		return false
	}
	return matchDate(m.meta.InternalDate, crit.Since, crit.Before)
}

// readsContent reports whether any criterion, at any depth, looks at the
// message's text (header fields, sent date, body or text).
func (cr *criteria) readsContent() bool {
	if len(cr.header) > 0 || !cr.c.SentSince.IsZero() || !cr.c.SentBefore.IsZero() {
		return true
	}
	return cr.readsBody() || cr.any((*criteria).readsContent)
}

// readsBody reports whether any criterion, at any depth, looks past the
// header (RFC 9051 §6.4.4 BODY and TEXT).
func (cr *criteria) readsBody() bool {
	return len(cr.body) > 0 || len(cr.text) > 0 || cr.any((*criteria).readsBody)
}

// any reports whether f holds for a criteria under NOT or OR.
func (cr *criteria) any(f func(*criteria) bool) bool {
	for _, n := range cr.not {
		if f(n) {
			return true
		}
	}
	for _, o := range cr.or {
		if f(o[0]) || f(o[1]) {
			return true
		}
	}
	return false
}

// matchFlags checks that every flag is set (want true) or unset. \Recent
// is never set: this server has no session-owned flags (RFC 9051 dropped
// it).
func matchFlags(f store.Flags, flags []imap.Flag, want bool) bool {
	for _, fl := range flags {
		var set bool
		switch name := string(fl); {
		case strings.EqualFold(name, `\Recent`):
			set = false
		case strings.HasPrefix(name, `\`):
			parsed, err := store.ParseFlags([]string{name})
			set = err == nil && f.Has(parsed.System)
		default:
			set = f.HasKeyword(name)
		}
		if set != want {
			return false
		}
	}
	return true
}

// matchDate compares the date of t, in its own time zone, disregarding
// the time (RFC 9051 §6.4.4 SINCE, BEFORE, ON and their SENT forms).
func matchDate(t, since, before time.Time) bool {
	y, mo, d := t.Date()
	day := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && day.Before(dateOnly(since)) {
		return false
	}
	if !before.IsZero() && !day.Before(dateOnly(before)) {
		return false
	}
	return true
}

func dateOnly(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}
