package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// idleOpenParallelism bounds concurrent logins while the idle connections are opened.
const idleOpenParallelism = 16

// phaseIdle holds idleConns IMAP connections in IDLE on the read mailbox and reports the server's
// memory per connection: the growth of summed RSS and of summed Pss over all its processes (median of
// three samples) while the second half of the connections opens, divided by their number. Measuring
// the second half leaves out what the first half's allocations shake loose: a garbage-collected
// server collects the previous phase's garbage and hands pages back to the system then, which would
// otherwise cancel part of the growth. For a forking server both halves cost the same.
func (b *bench) phaseIdle(ctx context.Context, t *target) error {
	mailbox, k := b.opts.readMailbox(), b.opts.idleConns
	if err := b.fill(ctx, t, mailbox, b.opts.readMessages); err != nil {
		return err
	}
	// One raw session learns whether the server offers STARTTLS, as the timed IMAP sessions do.
	probe, err := dialRawIMAP(ctx, t.imap, mailbox, b.opts.password, b.conn())
	if err != nil {
		return err
	}
	useTLS := probe.tls
	probe.close()
	b.noteTLS(t, "imap", useTLS)

	sessions := make([]*idleSession, k)
	defer closeIdle(sessions)
	open := func(from, to int) (time.Duration, error) {
		start := time.Now()
		err := b.openIdleSessions(ctx, t, mailbox, useTLS, sessions, from, to)
		return time.Since(start), err
	}
	measure := func() (memory, error) {
		if err := t.procs.settle(500*time.Millisecond, b.opts.settleLimit); err != nil {
			return memory{}, err
		}
		return t.procs.stableMemory(3, 300*time.Millisecond)
	}
	before, err := measure()
	if err != nil {
		return err
	}
	half := k / 2
	d1, err := open(0, half)
	if err != nil {
		return err
	}
	mid, err := measure()
	if err != nil {
		return err
	}
	d2, err := open(half, k)
	if err != nil {
		return err
	}
	after, err := measure() // settling also lets the server finish per-connection setup
	if err != nil {
		return err
	}
	second := float64(k - half)
	b.res.set(t.name, metricDef{"idle.rss_per_conn", fmt.Sprintf("Memory per idle IMAP connection (%d in IDLE), RSS", k), "KiB", lowerBetter}, float64(after.rssKiB-mid.rssKiB)/second)
	b.res.set(t.name, metricDef{"idle.pss_per_conn", fmt.Sprintf("Memory per idle IMAP connection (%d in IDLE), Pss", k), "KiB", lowerBetter}, float64(after.pssKiB-mid.pssKiB)/second)
	b.res.set(t.name, metricDef{"idle.open_rate", "IMAP logins + SELECT + IDLE, 16 in parallel", "conns/s", higherBetter}, float64(k)/(d1+d2).Seconds())
	b.res.note("idle."+t.name+".rss_kib", map[string]int64{"before": before.rssKiB, "half": mid.rssKiB, "all": after.rssKiB})
	b.res.note("idle."+t.name+".pss_kib", map[string]int64{"before": before.pssKiB, "half": mid.pssKiB, "all": after.pssKiB})
	b.log.Info("Idle connections measured", "target", t.name, "connections", k, "opened_in", (d1 + d2).Round(time.Millisecond),
		"rss_kib", []int64{before.rssKiB, mid.rssKiB, after.rssKiB}, "pss_kib", []int64{before.pssKiB, mid.pssKiB, after.pssKiB},
		"processes", []int{before.procs, mid.procs, after.procs})
	return nil
}

// openIdleSessions opens sessions[from:to], idleOpenParallelism at a time.
func (b *bench) openIdleSessions(ctx context.Context, t *target, mailbox string, useTLS bool, sessions []*idleSession, from, to int) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		openErrs []error
	)
	sem := make(chan struct{}, idleOpenParallelism)
	for i := from; i < to; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := openIdle(ctx, t.imap, mailbox, b.opts.password, b.opts.ioTimeout, useTLS)
			if err != nil {
				mu.Lock()
				openErrs = append(openErrs, fmt.Errorf("idle connection %d: %w", i, err))
				mu.Unlock()
				return
			}
			sessions[i] = s
		}()
	}
	wg.Wait()
	if len(openErrs) > 0 {
		return fmt.Errorf("%d of %d idle connections failed: %w", len(openErrs), to-from, openErrs[0])
	}
	return nil
}

// closeIdle ends every open idle session, 64 at a time.
func closeIdle(sessions []*idleSession) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, s := range sessions {
		if s == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = s.close()
		}()
	}
	wg.Wait()
}
