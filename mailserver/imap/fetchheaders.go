package imap

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kubemail/kubemail/mailserver/store"
)

// fetchHeaders answers a FETCH whose items need at most the header:
// fetchReaders goroutines read and parse the headers of the next batches
// while the session's goroutine writes the responses of the current one, so
// reading, parsing and writing run at once. At most fetchAhead batches are
// read and not yet written.
func (s *session) fetchHeaders(ctx context.Context, w *imapserver.FetchWriter, msgs []fetched, plan *fetchPlan, hr store.HeaderReader) error {
	batches := (len(msgs) + fetchBatch - 1) / fetchBatch
	batch := func(b int) []fetched { return msgs[b*fetchBatch : min((b+1)*fetchBatch, len(msgs))] }
	ready := make([]chan error, batches)
	for b := range ready {
		ready[b] = make(chan error, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	// Readers take batches in order, each after a slot in ahead, so the
	// batch the writer waits for is always taken or about to be.
	ahead := make(chan struct{}, fetchAhead)
	var next atomic.Int64
	for range min(fetchReaders, batches) {
		wg.Go(func() {
			for {
				select {
				case ahead <- struct{}{}:
				case <-ctx.Done():
					return
				}
				b := int(next.Add(1)) - 1
				if b >= batches {
					return
				}
				ready[b] <- s.readHeaders(ctx, hr, batch(b), plan)
			}
		})
	}
	for b := range batches {
		if err := <-ready[b]; err != nil {
			return err
		}
		if err := s.writeBatch(ctx, w, batch(b), plan); err != nil {
			return err
		}
		<-ahead
	}
	return nil
}

// readHeaders fills a batch's envelopes (from parseCache or parsed from
// the header) and, when sections are written, its headers up to
// maxHeldHeader (from headerCache or the store), with one store call for
// what the caches lack; the headers read go into headerCache. It runs
// beside the session's goroutine: it touches only the batch, the caches
// and the selected folder's immutable identity.
func (s *session) readHeaders(ctx context.Context, hr store.HeaderReader, batch []fetched, plan *fetchPlan) (err error) {
	defer s.recoverWorker(&err)
	m := s.sel
	var need []int // positions in batch
	for i := range batch {
		f := &batch[i]
		key := cacheKey{uidValidity: m.uidValidity, uid: f.uid}
		if plan.options.Envelope {
			f.parsed = s.srv.cache.get(key)
		}
		if plan.sections {
			f.header = s.srv.headers.get(key)
		}
		if (plan.sections && f.header == nil) || plan.missing(f.parsed) {
			need = append(need, i)
			f.vanished = true // until the store returns it
		}
	}
	if len(need) == 0 {
		return nil
	}
	// Runs of consecutive view positions hold no other message of the
	// folder (see storeSet).
	var set store.UIDSet
	for k, i := range need {
		if k > 0 && i == need[k-1]+1 && batch[i].seq == batch[need[k-1]].seq+1 {
			set[len(set)-1].Stop = batch[i].uid
			continue
		}
		set = append(set, store.UIDRange{Start: batch[i].uid, Stop: batch[i].uid})
	}
	k := 0
	return hr.Headers(ctx, m.ref, set, func(uid store.UID, header []byte) error {
		for k < len(need) && batch[need[k]].uid < uid {
			k++
		}
		if k == len(need) || batch[need[k]].uid != uid {
			return nil
		}
		f := &batch[need[k]]
		f.vanished = false
		key := cacheKey{uidValidity: m.uidValidity, uid: uid}
		if plan.options.Envelope && f.parsed.envelope == nil {
			f.parsed.envelope = parseEnvelope(header)
			s.srv.cache.put(key, parsed{envelope: f.parsed.envelope})
		}
		cached := s.srv.headers.put(key, header)
		if plan.sections && len(header) <= maxHeldHeader {
			f.header = cached
			if f.header == nil {
				f.header = bytes.Clone(header)
			}
			if f.header == nil {
				f.header = []byte{}
			}
		}
		return nil
	})
}

// maxHeldHeader bounds the headers kept for the batches read ahead, so a
// folder of messages with huge headers cannot make a FETCH hold gigabytes;
// fetchOne reads such a message's body itself, one at a time.
const maxHeldHeader = 16 << 10
