package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

// op is one write operation waiting for the writer. fn runs inside the
// batch transaction under its own SAVEPOINT; it reports results through
// variables it captures and records events with tx.emit.
type op struct {
	ctx    context.Context
	size   int64 // body bytes, for the batch size cap
	fn     func(tx *wtx) error
	done   chan error
	err    error
	events []store.Event
}

// wtx is what an op sees of the batch transaction. Its ctx is the
// writer's, never a caller's: a caller giving up must not interrupt the
// batch other callers are waiting for.
type wtx struct {
	ctx     context.Context
	w       *writeStmts
	now     time.Time
	events  []store.Event
	listing listingEdits // see listing.go
}

// emit records an event, published only if the op and the batch commit.
func (tx *wtx) emit(ev store.Event) { tx.events = append(tx.events, ev) }

// savepoint runs fn under a nested SAVEPOINT, rolling back only fn's
// changes and events when it fails.
func (tx *wtx) savepoint(fn func() error) error {
	ctx := tx.ctx
	if err := tx.flushListing(); err != nil {
		return err
	}
	if _, err := tx.w.savepointTarget.ExecContext(ctx); err != nil {
		return &abortError{fmt.Errorf("opening savepoint: %w", err)}
	}
	n := len(tx.events)
	err := fn()
	if err == nil {
		err = tx.flushListing()
	}
	if err != nil {
		tx.dropListing()
		tx.events = tx.events[:n]
		if _, rerr := tx.w.rollbackTarget.ExecContext(ctx); rerr != nil {
			return &abortError{fmt.Errorf("rolling back savepoint after %v: %w", err, rerr)}
		}
		if _, rerr := tx.w.releaseTarget.ExecContext(ctx); rerr != nil {
			return &abortError{fmt.Errorf("releasing savepoint after %v: %w", err, rerr)}
		}
		return err
	}
	if _, err := tx.w.releaseTarget.ExecContext(ctx); err != nil {
		return &abortError{fmt.Errorf("releasing savepoint: %w", err)}
	}
	return nil
}

// abortError means the batch transaction itself is broken (SQLite may have
// rolled it back on an I/O error): every op of the batch fails.
type abortError struct{ err error }

func (e *abortError) Error() string { return e.err.Error() }
func (e *abortError) Unwrap() error { return e.err }

// do hands fn to the writer and waits until its batch has committed. When
// ctx ends first it returns ctx's error; the op may still commit.
func (s *Store) do(ctx context.Context, fn func(tx *wtx) error) error {
	return s.doSized(ctx, 0, fn)
}

// doSized is do for an op that writes size bytes of bodies.
func (s *Store) doSized(ctx context.Context, size int, fn func(tx *wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &op{ctx: ctx, size: int64(size), fn: fn, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return store.ErrClosed
	}
	select {
	case s.ops <- o:
		s.closeMu.RUnlock()
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		select {
		case err := <-o.done:
			return err
		default:
			return ctx.Err()
		}
	}
}

// writeLoop is the single writer: it takes every op waiting, up to
// maxBatch ops and maxBatchBytes of bodies, and commits them together,
// until Close closes the queue.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	batch := make([]*op, 0, s.maxBatch)
	var carry *op // taken from the queue but over the byte cap: next batch
	for {
		first := carry
		carry = nil
		if first == nil {
			var ok bool
			if first, ok = <-s.ops; !ok {
				return
			}
		}
		batch = append(batch[:0], first)
		bytes := first.size
	fill:
		for len(batch) < s.maxBatch && bytes < s.maxBatchBytes {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break fill
				}
				if bytes+o.size > s.maxBatchBytes {
					carry = o
					break fill
				}
				batch = append(batch, o)
				bytes += o.size
			default:
				break fill
			}
		}
		s.commitBatch(batch)
		clear(batch)
	}
}

// commitBatch runs the batch in one transaction and acknowledges each op
// after COMMIT has returned.
func (s *Store) commitBatch(batch []*op) {
	s.batches.Add(1)
	ctx := s.wctx
	tx := &wtx{ctx: ctx, w: s.w, now: s.now()}
	if _, err := s.w.begin.ExecContext(ctx); err != nil {
		s.failBatch(batch, fmt.Errorf("starting transaction: %w", err))
		return
	}
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.err = err
			continue
		}
		if err := s.runOp(tx, o); err != nil {
			var abort *abortError
			if errors.As(err, &abort) {
				_, _ = s.w.rollback.ExecContext(ctx)
				s.failBatch(batch, fmt.Errorf("write transaction aborted: %w", err))
				return
			}
			o.err = err
		}
	}
	if _, err := s.w.commit.ExecContext(ctx); err != nil {
		_, _ = s.w.rollback.ExecContext(ctx)
		s.failBatch(batch, fmt.Errorf("committing: %w", err))
		return
	}
	for _, o := range batch {
		if o.err == nil && len(o.events) > 0 {
			s.hub.Publish(o.events...)
		}
	}
	for _, o := range batch {
		o.done <- o.err
	}
}

// runOp runs one op under the op SAVEPOINT. A panic is contained to the op.
func (s *Store) runOp(tx *wtx, o *op) (err error) {
	ctx := tx.ctx
	if _, err := s.w.savepointOp.ExecContext(ctx); err != nil {
		return &abortError{fmt.Errorf("opening savepoint: %w", err)}
	}
	tx.events = nil
	func() {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("Store write operation panicked", "panic", r, "stack", string(debug.Stack()))
				err = fmt.Errorf("store write operation panicked: %v", r)
			}
		}()
		err = o.fn(tx)
	}()
	if err == nil {
		err = tx.flushListing()
	}
	if err != nil {
		tx.dropListing()
		var abort *abortError
		if errors.As(err, &abort) {
			return err
		}
		if _, rerr := s.w.rollbackOp.ExecContext(ctx); rerr != nil {
			return &abortError{fmt.Errorf("rolling back savepoint after %v: %w", err, rerr)}
		}
		if _, rerr := s.w.releaseOp.ExecContext(ctx); rerr != nil {
			return &abortError{fmt.Errorf("releasing savepoint after %v: %w", err, rerr)}
		}
		return err
	}
	if _, err := s.w.releaseOp.ExecContext(ctx); err != nil {
		return &abortError{fmt.Errorf("releasing savepoint: %w", err)}
	}
	o.events = tx.events
	return nil
}

func (s *Store) failBatch(batch []*op, err error) {
	s.log.Error("Store write batch failed", "ops", len(batch), "error", err)
	for _, o := range batch {
		o.done <- err
	}
}
