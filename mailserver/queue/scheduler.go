package queue

import (
	"context"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/store"
)

// rescanInterval bounds how long the scheduler works from the due list it
// read instead of reading the queue again from its start. Between rescans
// it reads only what follows the last recipient it read, so the cost of a
// dispatch does not grow with the backlog.
const rescanInterval = time.Second

// scheduler is Run's state: the attempts in progress, and the recipients
// read from the store as due that wait for capacity. Only Run's goroutine
// touches it.
//
// Reading the whole due list at every finished attempt made each dispatch
// cost O(backlog): with thousands of messages waiting for one destination
// the scheduler spent its time re-reading rows it could not start. Instead
// the pending list is kept between dispatches and extended from the last
// position read (new mail, retries made due now and released leases all
// sort after it); a full rescan every rescanInterval, or when the list is
// empty and something kicked the queue, catches what a concurrent commit
// placed before that position.
type scheduler struct {
	active map[string]int // route key → attempts in progress
	total  int
	// handed holds the recipients given to a worker whose attempt has not
	// finished: they stay due in the store until the worker's Lease
	// commits, so a read meanwhile must not hand them out again.
	handed map[int64]struct{}

	pending     []group // read as due, not started, in due order
	pendingRows int
	after       store.DuePosition // the last recipient read since the rescan
	more        bool              // that read filled its page
	scannedAt   time.Time
	cfg         *config.Config // the configuration pending's routes come from
}

// finished is what a worker reports to Run when its attempt ends.
type finished struct {
	key string
	ids []int64
}

func newScheduler() *scheduler {
	return &scheduler{active: map[string]int{}, handed: map[int64]struct{}{}}
}

func (s *scheduler) finish(f finished) {
	s.total--
	if s.active[f.key]--; s.active[f.key] <= 0 {
		delete(s.active, f.key)
	}
	for _, id := range f.ids {
		delete(s.handed, id)
	}
}

// start takes g's slots and marks its recipients handed.
func (s *scheduler) start(g group) {
	s.active[g.route.Key]++
	s.total++
	for _, r := range g.rcpts {
		s.handed[r.ID] = struct{}{}
	}
}

// rescan forgets the pending list: the next read starts from the earliest.
func (s *scheduler) rescan(cfg *config.Config, now time.Time) {
	clear(s.pending)
	s.pending, s.pendingRows = s.pending[:0], 0
	s.after, s.more = store.DuePosition{}, false
	s.scannedAt, s.cfg = now, cfg
}

// add appends due recipients to the pending list, grouped by message and
// route, skipping those handed to a worker. A message whose recipients a
// page boundary split joins its group again when the pieces are adjacent.
func (s *scheduler) add(due []store.QueuedRecipient) {
	for _, r := range due {
		if _, ok := s.handed[r.ID]; ok {
			continue
		}
		route := s.cfg.Route(r.Domain)
		if n := len(s.pending); n > 0 && s.pending[n-1].messageID == r.MessageID && s.pending[n-1].route.Key == route.Key {
			s.pending[n-1].rcpts = append(s.pending[n-1].rcpts, r)
		} else {
			s.pending = append(s.pending, group{messageID: r.MessageID, route: route, rcpts: []store.QueuedRecipient{r}})
		}
		s.pendingRows++
	}
}

// dispatch reads what is due as needed, starts what capacity allows, and
// returns how long Run may sleep before calling it again. kicked means
// something may have become due (new mail, a retry, a timer).
func (q *Queue) dispatch(ctx context.Context, s *scheduler, kicked bool) time.Duration {
	cfg := q.opts.Config.Current()
	policy := cfg.OutboundPolicy()
	now := q.clock.Now()
	if s.total >= policy.Workers {
		return q.opts.PollInterval // a finishing attempt wakes Run
	}
	window := max(policy.Workers*16, 256)
	if cfg != s.cfg || now.Sub(s.scannedAt) >= rescanInterval || (kicked && len(s.pending) == 0) {
		s.rescan(cfg, now)
		kicked = true
	}
	blocked := false // something pending waits for a free slot
	for {
		if (kicked || s.more) && s.pendingRows < window {
			n := window - s.pendingRows
			due, err := q.opts.Store.DueRecipients(ctx, now, s.after, n)
			if err != nil {
				if ctx.Err() == nil {
					q.log.Error("Cannot read the queue", "error", err)
				}
				return q.opts.PollInterval
			}
			s.more = len(due) == n
			if len(due) > 0 {
				s.after = due[len(due)-1].Position()
			}
			s.add(due)
			kicked = false
		}
		blocked = q.startPending(ctx, s, policy)
		if blocked || len(s.pending) > 0 || !s.more || s.total >= policy.Workers {
			break
		}
	}
	if blocked || len(s.pending) > 0 {
		// A finishing attempt wakes Run; the bound makes the rescan that
		// finds what a read missed happen even if none finishes soon.
		return min(q.opts.PollInterval, rescanInterval)
	}
	return q.nextWake(ctx, now)
}

// startPending hands pending groups to workers in due order while
// capacity allows, keeping the ones whose destination is at its limit. It
// reports whether any group had to wait.
func (q *Queue) startPending(ctx context.Context, s *scheduler, policy config.OutboundPolicy) (blocked bool) {
	kept := s.pending[:0]
	for i, g := range s.pending {
		if s.total >= policy.Workers {
			kept = append(kept, s.pending[i:]...)
			blocked = true
			break
		}
		if s.active[g.route.Key] >= policy.MaxPerDestination {
			kept = append(kept, g)
			blocked = true
			continue
		}
		s.start(g)
		s.pendingRows -= len(g.rcpts)
		q.wg.Add(1)
		go q.work(ctx, g)
	}
	clear(s.pending[len(kept):])
	s.pending = kept
	return blocked
}
