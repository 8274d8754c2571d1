package queue

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/resolver"
	"github.com/kubemail/kubemail/mailserver/smtpclient"
	"github.com/kubemail/kubemail/mailserver/store"
)

// Defaults of Options.
const (
	DefaultPollInterval   = time.Minute
	DefaultAttemptTimeout = 10 * time.Minute
	// leaseMargin is added to the attempt timeout for the lease, so a
	// recipient is never due again while its attempt may still run.
	leaseMargin = time.Minute
	// settleRetries is how often a failed Settle is repeated before the
	// lease is left to expire (and the recipient to be tried again).
	settleRetries = 3
)

// Options configure New.
type Options struct {
	// Store is where the queue lives. Required.
	Store store.Queue
	// Config is the served configuration (outbound settings, routes,
	// local domains for reports). Required.
	Config *config.Holder
	// Resolver answers MX, address and MTA-STS look-ups. Required.
	Resolver resolver.Resolver
	// Clock is the time source; nil means the system's.
	Clock Clock
	// Dial opens connections to mail servers; nil means a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// RootCAs verify mail servers' certificates where verification is
	// required (MTA-STS, REQUIRETLS, smarthosts without caFile); nil
	// means the system roots.
	RootCAs *x509.CertPool
	// HTTPClient fetches MTA-STS policies; nil means a default client.
	// Redirects are never followed.
	HTTPClient *http.Client
	// Logger receives the queue's logs; nil discards them.
	Logger *slog.Logger
	// Jitter overrides the retry jitter (see Schedule.Jitter).
	Jitter func(time.Duration) time.Duration
	// PollInterval is the longest the scheduler sleeps without looking at
	// the queue; zero means DefaultPollInterval.
	PollInterval time.Duration
	// AttemptTimeout bounds one delivery attempt; zero means
	// DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Observer receives delivery outcomes for metrics; nil ignores them.
	Observer Observer
	// SessionIdleTimeout is how long a session kept after a delivery
	// waits for the next message to its destination before it is closed;
	// zero means DefaultSessionIdleTimeout.
	SessionIdleTimeout time.Duration
	// MaxSessionMessages is how many messages one session carries at most;
	// zero means DefaultMaxSessionMessages, 1 turns session reuse off.
	MaxSessionMessages int
}

// Observer receives the queue's events for metrics. Methods must not block.
type Observer interface {
	// Attempted is called for each recipient's attempt outcome: "delivered",
	// "deferred", "bounced" or "expired".
	Attempted(outcome string)
	// Panicked is called when a worker recovers from a panic.
	Panicked()
}

type nopObserver struct{}

func (nopObserver) Attempted(string) {}
func (nopObserver) Panicked()        {}

// Queue delivers queued mail: a scheduler goroutine leases due recipients
// and hands them to workers, bounded in total and per destination. See
// the package documentation for the state machine.
type Queue struct {
	opts     Options
	clock    Clock
	log      *slog.Logger
	sts      *stsCache
	obs      Observer
	sessions *smtpclient.Cache[sessionKey]
	dead     *deadDestinations

	kick    chan struct{}
	done    chan finished // attempts that ended
	running atomic.Bool
	wg      sync.WaitGroup
}

// New returns a Queue; Run starts it.
func New(opts Options) (*Queue, error) {
	if opts.Store == nil || opts.Config == nil || opts.Resolver == nil {
		return nil, errors.New("creating the queue: Store, Config and Resolver are required")
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock()
	}
	if opts.Dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second}
		opts.Dial = d.DialContext
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = DefaultAttemptTimeout
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.SessionIdleTimeout <= 0 {
		opts.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if opts.MaxSessionMessages <= 0 {
		opts.MaxSessionMessages = DefaultMaxSessionMessages
	}
	return &Queue{
		opts:     opts,
		clock:    opts.Clock,
		log:      opts.Logger,
		sts:      newSTSCache(opts.Resolver, opts.HTTPClient, opts.Clock),
		obs:      opts.Observer,
		sessions: smtpclient.NewCache[sessionKey](opts.Clock.Now, opts.SessionIdleTimeout),
		dead:     newDeadDestinations(),
		kick:     make(chan struct{}, 1),
		done:     make(chan finished, 64),
	}, nil
}

// Kick wakes the scheduler: something may be due now.
func (q *Queue) Kick() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// schedule returns the retry schedule of cfg.
func (q *Queue) schedule(cfg *config.Config) Schedule {
	p := cfg.OutboundPolicy()
	return Schedule{Delays: p.RetrySchedule, Expiry: p.Expiry, DelayNotice: p.DelayNotice, Jitter: q.opts.Jitter}
}

// group is the recipients of one message for one destination, delivered
// in one SMTP transaction.
type group struct {
	messageID string
	route     config.Route
	rcpts     []store.QueuedRecipient
}

// Run schedules deliveries until ctx ends, then waits for the attempts in
// progress (which end with ctx), ends the idle sessions with QUIT and
// returns. It first releases the leases a previous process left (RFC 5321
// §4.5.4.1: retry, do not lose).
func (q *Queue) Run(ctx context.Context) error {
	if !q.running.CompareAndSwap(false, true) {
		return errors.New("queue: Run called twice")
	}
	defer func() {
		q.wg.Wait()
		q.sessions.Close()
	}()
	if n, err := q.opts.Store.ReleaseLeases(ctx, q.clock.Now()); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started: nothing was leased or lost
		}
		return fmt.Errorf("starting the queue: %w", err)
	} else if n > 0 {
		q.log.Info("Retrying deliveries interrupted by the last shutdown or crash", "recipients", n)
	}
	q.wg.Go(func() { q.housekeep(ctx) })
	s := newScheduler()
	kicked := true
	for {
		wait := q.dispatch(ctx, s, kicked)
		kicked = false
		select {
		case <-ctx.Done():
			return nil
		case f := <-q.done:
			s.finish(f)
		case <-q.kick:
			kicked = true
		case <-q.clock.After(wait):
			kicked = true
		}
		// Collect every finished attempt before looking again.
		for drained := false; !drained; {
			select {
			case f := <-q.done:
				s.finish(f)
			default:
				drained = true
			}
		}
	}
}

// housekeep ends idle sessions past their timeout and forgets dead marks
// that ran out, until ctx ends.
func (q *Queue) housekeep(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			q.obs.Panicked()
			q.log.Error("Panic in the queue's housekeeping; idle sessions now end only when found stale",
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.clock.After(q.opts.SessionIdleTimeout / 2):
			q.sessions.Expire()
			q.dead.sweep(q.clock.Now())
		}
	}
}

// nextWake is the time until the earliest recipient is due, bounded by
// the poll interval.
func (q *Queue) nextWake(ctx context.Context, now time.Time) time.Duration {
	wait := q.opts.PollInterval
	next, err := q.opts.Store.DueRecipients(ctx, farFuture, store.DuePosition{}, 1)
	if err == nil && len(next) == 1 {
		// A recipient already due here was just leased by another
		// scheduler or is racing its lease: poll, do not spin.
		if d := next[0].NextAttempt.Sub(now); d > 0 && d < wait {
			wait = d
		}
	}
	return wait
}

// farFuture is the latest time the store can represent (Unix nanoseconds).
var farFuture = time.Unix(0, math.MaxInt64)

func recipientIDs(rs []store.QueuedRecipient) []int64 {
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

// work leases g's recipients, runs one attempt and settles it. A panic is
// recovered: the lease then expires and the recipients are tried again.
// Leasing here rather than in the scheduler lets the leases of many
// workers share one commit of the store's writer.
func (q *Queue) work(ctx context.Context, g group) {
	defer q.wg.Done()
	ids := recipientIDs(g.rcpts)
	defer func() {
		select {
		case q.done <- finished{key: g.route.Key, ids: ids}:
		case <-ctx.Done(): // Run has stopped reading
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			q.obs.Panicked()
			q.log.Error("Panic in a delivery worker", "id", g.messageID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	now := q.clock.Now()
	leased, err := q.opts.Store.Lease(ctx, ids, now, now.Add(q.opts.AttemptTimeout+leaseMargin))
	if err != nil {
		if ctx.Err() == nil {
			q.log.Error("Cannot lease queued recipients", "id", g.messageID, "error", err)
		}
		return
	}
	if len(leased) == 0 {
		return // settled, deleted or leased since it was read
	}
	g.rcpts = leased
	actx, cancel := context.WithTimeout(ctx, q.opts.AttemptTimeout)
	defer cancel()
	msg, body, err := q.opts.Store.QueuedMessage(actx, g.messageID)
	if errors.Is(err, store.ErrQueueEntryNotFound) {
		return // deleted meanwhile
	}
	if err != nil {
		q.log.Error("Cannot read a queued message", "id", g.messageID, "error", err)
		return
	}
	cfg := q.opts.Config.Current()
	log := q.log.With("id", msg.ID, "route", g.route.Key)
	var statuses []rcptStatus
	reached := reachUnknown
	if mark, dead := q.dead.check(g.route.Key, q.clock.Now()); dead {
		statuses = all(len(g.rcpts), temp(mark.reply(), ""))
	} else {
		statuses, reached = q.deliver(actx, cfg, g, msg, body, log)
	}
	now = q.clock.Now()
	st := q.settlement(cfg, msg, body, g.rcpts, statuses, now)
	switch {
	case reached == reachSome:
		q.dead.clear(g.route.Key)
	case reached == reachNone && ctx.Err() == nil:
		m := deadMark{at: now, until: deadUntil(st, q.schedule(cfg), now), cause: statuses[0].reply.Text}
		if q.dead.mark(g.route.Key, m) {
			log.Warn("Destination unreachable; deferring its mail without connecting until the mark ends",
				"until", m.until, "error", m.cause)
		}
	}
	q.settle(ctx, st, log)
}

// settle stores the outcomes, retrying a few times; if it still fails the
// leases expire and the recipients are attempted again (at least once).
func (q *Queue) settle(ctx context.Context, st store.Settlement, log *slog.Logger) {
	var err error
	for range settleRetries {
		var res store.SettleResult
		if res, err = q.opts.Store.Settle(context.WithoutCancel(ctx), st); err == nil {
			for i, results := range res.Reports {
				for _, r := range results {
					if r.Err != nil {
						log.Warn("Cannot deliver a delivery report locally", "report", i, "error", r.Err)
					}
				}
			}
			if len(st.Reports) > 0 {
				q.Kick()
			}
			return
		}
	}
	log.Error("Cannot record delivery outcomes; the recipients will be attempted again", "error", err)
}
