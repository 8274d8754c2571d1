package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"
)

// target is one server under test, reached only through its endpoints and its processes in /proc.
type target struct {
	name, label      string // name is "kubemail" or "peer"; label heads the report column
	smtp, pop3, imap string
	procs            serverProcs
}

// benchOptions are the sizes and limits of a run.
type benchOptions struct {
	sizing
	messages     int // N, messages per ingest run
	size         int // bytes per message
	readMessages int // messages in the mailbox the POP3, IMAP and idle benchmarks read
	idleConns    int
	reps         int // passes of each read benchmark: the first is reported alone, the rest as a median
	password     string
	waitTimeout  time.Duration // for a load to become retrievable
	ioTimeout    time.Duration // per protocol command
	startTLS     bool          // use STLS/STARTTLS for POP3 and IMAP when the server offers it
	sample       time.Duration // memory sampling interval
	poll         time.Duration // retrievability polling interval
	settleLimit  time.Duration // longest wait for the server's memory to settle before a memory sample
	run          string        // run id, part of every Message-ID
}

// bench runs the phases against every target and records the figures.
type bench struct {
	opts    benchOptions
	targets []*target
	res     *results
	log     *slog.Logger
}

// conn is how POP3 and IMAP sessions connect.
func (b *bench) conn() connOptions {
	return connOptions{timeout: b.opts.ioTimeout, startTLS: b.opts.startTLS}
}

// noteTLS records in the report whether a target's sessions of one protocol ran over TLS.
func (b *bench) noteTLS(t *target, proto string, used bool) {
	b.res.note("tls."+t.name+"."+proto, used)
}

// count returns the number of messages in a mailbox, as POP3 STAT reports it.
func (b *bench) count(ctx context.Context, t *target, mailbox string) (int, error) {
	c, err := dialPOP3(ctx, t.pop3, mailbox, b.opts.password, b.conn())
	if err != nil {
		return 0, err
	}
	b.noteTLS(t, "pop3", c.tls)
	n, err := c.stat()
	if qerr := c.quit(); err == nil && qerr != nil {
		err = qerr
	}
	return n, err
}

// Polling a mailbox is not free: on Dovecot a POP3 session with STAT on a 10,000-message Maildir takes
// ~50 ms and syncs the mailbox, work the measured server then does for the benchmark. waitCount therefore keeps the polls'
// share of the server's time under 1/pollCostFactor, and while deliveries progress it sleeps half the
// estimated time to completion, so a load of minutes needs a few dozen polls and ends within one
// short interval of the last delivery.
const (
	pollCostFactor = 10
	pollMaxSleep   = 30 * time.Second
)

// waitCount polls until the mailbox holds at least want messages.
func (b *bench) waitCount(ctx context.Context, t *target, mailbox string, want int) error {
	deadline := time.Now().Add(b.opts.waitTimeout)
	var (
		firstN  = -1
		firstAt time.Time
		polls   int
	)
	for {
		start := time.Now()
		n, err := b.count(ctx, t, mailbox)
		if err != nil {
			return fmt.Errorf("counting messages in %s: %w", mailbox, err)
		}
		polls++
		cost := time.Since(start)
		if n >= want {
			if n > want {
				b.log.Warn("Mailbox holds more messages than sent", "target", t.name, "mailbox", mailbox, "count", n, "want", want)
			}
			b.log.Info("Mailbox complete", "target", t.name, "mailbox", mailbox, "polls", polls)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s holds %d of %d messages after %s", mailbox, n, want, b.opts.waitTimeout)
		}
		sleep := max(b.opts.poll, pollCostFactor*cost)
		if firstN < 0 {
			firstN, firstAt = n, start
		} else if n > firstN {
			rate := float64(n-firstN) / start.Sub(firstAt).Seconds()
			eta := time.Duration(float64(want-n) / rate * float64(time.Second))
			sleep = max(sleep, eta/2)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(sleep, pollMaxSleep)):
		}
	}
}

// send delivers n messages to mailbox, numbered from first, and returns when all are acknowledged.
func (b *bench) send(ctx context.Context, t *target, mailbox string, first, n, sessions int) error {
	return sendAll(ctx, sendOptions{
		addr: t.smtp, from: "sender@mailbench.test", to: mailbox,
		count: n, firstSeq: first, sessions: sessions, size: b.opts.size, run: b.opts.run, timeout: b.opts.ioTimeout,
	})
}

// fill tops a mailbox up to want messages (not measured); it refuses a mailbox that already holds more.
func (b *bench) fill(ctx context.Context, t *target, mailbox string, want int) error {
	have, err := b.count(ctx, t, mailbox)
	if err != nil {
		return fmt.Errorf("counting messages in %s: %w", mailbox, err)
	}
	if have > want {
		return fmt.Errorf("%s already holds %d messages, more than %d: start from an empty store", mailbox, have, want)
	}
	if have == want {
		return nil
	}
	b.log.Info("Filling mailbox", "target", t.name, "mailbox", mailbox, "from", have, "to", want)
	if err := b.send(ctx, t, mailbox, have, want-have, slices.Max(b.opts.concurrency)); err != nil {
		return fmt.Errorf("filling %s: %w", mailbox, err)
	}
	return b.waitCount(ctx, t, mailbox, want)
}

// ingest measures one load of b.opts.messages into mailbox over sessions sessions, from base messages:
// msgs/s until the last is retrievable, msgs/s until the last 250, peak RSS and CPU per message.
func (b *bench) ingest(ctx context.Context, t *target, mailbox string, base, sessions int, key, title string) error {
	n := b.opts.messages
	cpu0, err := t.procs.cpuSeconds()
	if err != nil {
		return err
	}
	sampler := t.procs.sampleMemory(b.opts.sample)
	start := time.Now()
	err = b.send(ctx, t, mailbox, base, n, sessions)
	accepted := time.Since(start)
	if err == nil {
		err = b.waitCount(ctx, t, mailbox, base+n)
	}
	retrievable := time.Since(start)
	peak, serr := sampler.finish()
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("sampling memory: %w", serr)
	}
	cpu1, err := t.procs.cpuSeconds()
	if err != nil {
		return err
	}
	rate := float64(n) / retrievable.Seconds()
	b.res.set(t.name, metricDef{key + ".rate", title + ": retrievable", "msgs/s", higherBetter}, rate)
	b.res.set(t.name, metricDef{key + ".accept_rate", title + ": acknowledged", "msgs/s", higherBetter}, float64(n)/accepted.Seconds())
	b.res.set(t.name, metricDef{key + ".peak_rss", title + ": peak server RSS", "MiB", lowerBetter}, float64(peak.rssKiB)/1024)
	b.res.set(t.name, metricDef{key + ".peak_pss", title + ": peak server Pss", "MiB", lowerBetter}, float64(peak.pssKiB)/1024)
	b.res.set(t.name, metricDef{key + ".cpu_per_msg", title + ": server CPU per message", "ms", lowerBetter}, (cpu1-cpu0)*1000/float64(n))
	b.log.Info("Ingest measured", "target", t.name, "load", key, "messages", n, "sessions", sessions,
		"retrievable_per_s", int(rate), "accepted_in", accepted.Round(time.Millisecond),
		"retrievable_in", retrievable.Round(time.Millisecond), "peak_rss_mib", peak.rssKiB/1024, "peak_pss_mib", peak.pssKiB/1024, "processes", peak.procs)
	return nil
}

// phaseIngest measures ingest into an empty mailbox at every concurrency.
func (b *bench) phaseIngest(ctx context.Context, t *target, sessions int) error {
	mailbox := b.opts.ingestMailbox(sessions)
	have, err := b.count(ctx, t, mailbox)
	if err != nil {
		return fmt.Errorf("counting messages in %s: %w", mailbox, err)
	}
	if have != 0 {
		return fmt.Errorf("%s is not empty (%d messages): start from an empty store", mailbox, have)
	}
	return b.ingest(ctx, t, mailbox, 0, sessions, fmt.Sprintf("ingest.empty.c%d", sessions),
		fmt.Sprintf("SMTP ingest, empty mailbox, %d sessions", sessions))
}

// phaseFull measures ingest into a mailbox that already holds N messages, and the slowdown against
// the empty mailbox at the same concurrency.
func (b *bench) phaseFull(ctx context.Context, t *target) error {
	c := b.opts.fullConcurrency
	mailbox := b.opts.ingestMailbox(c)
	if err := b.fill(ctx, t, mailbox, b.opts.messages); err != nil {
		return err
	}
	key := fmt.Sprintf("ingest.full.c%d", c)
	if err := b.ingest(ctx, t, mailbox, b.opts.messages, c, key,
		fmt.Sprintf("SMTP ingest, mailbox of %d, %d sessions", b.opts.messages, c)); err != nil {
		return err
	}
	empty, ok1 := b.res.get(t.name, fmt.Sprintf("ingest.empty.c%d.rate", c))
	full, ok2 := b.res.get(t.name, key+".rate")
	if ok1 && ok2 && full > 0 {
		b.res.set(t.name, metricDef{key + ".slowdown", fmt.Sprintf("Ingest slowdown, mailbox of %d vs empty, %d sessions", b.opts.messages, c), "x", lowerBetter}, empty/full)
	}
	return nil
}

// median of a non-empty list of durations.
func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// repeated records the first pass of a read benchmark under ".first" and the median of the others under ".repeat".
func (b *bench) repeated(t *target, key, title, unit string, bt better, passes []time.Duration, value func(time.Duration) float64) {
	b.res.set(t.name, metricDef{key + ".first", title + ", first pass", unit, bt}, value(passes[0]))
	if len(passes) > 1 {
		b.res.set(t.name, metricDef{key + ".repeat", title + ", repeat (median)", unit, bt}, value(median(passes[1:])))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// phasePOP3 times LIST and RETR of every message of the read mailbox, on a fresh session per pass.
func (b *bench) phasePOP3(ctx context.Context, t *target) error {
	mailbox, n := b.opts.readMailbox(), b.opts.readMessages
	if err := b.fill(ctx, t, mailbox, n); err != nil {
		return err
	}
	var lists, totals []time.Duration
	for range b.opts.reps {
		list, total, bytes, err := pop3Pass(ctx, t.pop3, mailbox, b.opts.password, n, b.conn())
		if err != nil {
			return err
		}
		lists, totals = append(lists, list), append(totals, total)
		b.log.Info("POP3 pass measured", "target", t.name, "messages", n, "bytes", bytes, "list", list, "total", total)
	}
	b.repeated(t, "pop3.list", fmt.Sprintf("POP3 LIST of %d", n), "ms", lowerBetter, lists, ms)
	b.repeated(t, "pop3.retr_all", fmt.Sprintf("POP3 LIST + RETR all %d", n), "s", lowerBetter, totals, time.Duration.Seconds)
	b.repeated(t, "pop3.retr_rate", fmt.Sprintf("POP3 LIST + RETR all %d", n), "msgs/s", higherBetter, totals,
		func(d time.Duration) float64 { return float64(n) / d.Seconds() })
	return nil
}

// pop3Pass logs in on a fresh session (not timed) and times LIST, then LIST plus RETR of every message.
func pop3Pass(ctx context.Context, addr, user, pass string, want int, o connOptions) (list, total time.Duration, bytes int64, err error) {
	c, err := dialPOP3(ctx, addr, user, pass, o)
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = c.conn.Close() }()
	start := time.Now()
	listed, err := c.list()
	if err != nil {
		return 0, 0, 0, err
	}
	list = time.Since(start)
	if listed != want {
		return 0, 0, 0, fmt.Errorf("POP3 LIST returned %d messages, want %d", listed, want)
	}
	for i := 1; i <= want; i++ {
		sz, err := c.retr(i)
		if err != nil {
			return 0, 0, 0, err
		}
		bytes += sz
	}
	total = time.Since(start)
	return list, total, bytes, c.quit()
}

// phaseIMAP times SELECT, the envelope FETCH, the header SEARCH and the full-body FETCH of the read mailbox.
func (b *bench) phaseIMAP(ctx context.Context, t *target) error {
	mailbox, n := b.opts.readMailbox(), b.opts.readMessages
	if err := b.fill(ctx, t, mailbox, n); err != nil {
		return err
	}
	var sel, env, search, body []time.Duration
	for range b.opts.reps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p, err := imapPass(ctx, t.imap, mailbox, b.opts.password, n, b.conn())
		if err != nil {
			return err
		}
		b.noteTLS(t, "imap", p.tls)
		sel, env, search, body = append(sel, p.selectTime), append(env, p.envelopeTime), append(search, p.searchTime), append(body, p.bodyTime)
		b.log.Info("IMAP pass measured", "target", t.name, "select", p.selectTime, "fetch_envelope", p.envelopeTime,
			"search", p.searchTime, "hits", p.searchHits, "fetch_body", p.bodyTime, "body_bytes", p.bodyBytes)
	}
	b.repeated(t, "imap.select", fmt.Sprintf("IMAP SELECT, %d messages", n), "ms", lowerBetter, sel, ms)
	b.repeated(t, "imap.fetch_envelope", "IMAP FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)", "ms", lowerBetter, env, ms)
	b.repeated(t, "imap.search_header", "IMAP UID SEARCH HEADER Subject "+needleWord, "ms", lowerBetter, search, ms)
	b.repeated(t, "imap.fetch_body", "IMAP FETCH 1:* BODY.PEEK[]", "s", lowerBetter, body, time.Duration.Seconds)
	b.repeated(t, "imap.fetch_body_rate", "IMAP FETCH 1:* BODY.PEEK[]", "msgs/s", higherBetter, body,
		func(d time.Duration) float64 { return float64(n) / d.Seconds() })
	return nil
}

// phases in the order they run; each runs for every target before the next starts, so both servers
// see the same machine conditions as closely as one run allows.
var allPhases = []string{"ingest", "full", "pop3", "imap", "idle"}

// runAll runs the selected phases; a failing phase is recorded for its target and the run goes on.
func (b *bench) runAll(ctx context.Context, phases []string) {
	for _, phase := range allPhases {
		if !slices.Contains(phases, phase) {
			continue
		}
		type step struct {
			name string
			run  func(context.Context, *target) error
		}
		var steps []step
		switch phase {
		case "ingest":
			cs := slices.Clone(b.opts.concurrency)
			sort.Ints(cs)
			for _, c := range cs {
				steps = append(steps, step{fmt.Sprintf("ingest c=%d", c), func(ctx context.Context, t *target) error { return b.phaseIngest(ctx, t, c) }})
			}
		case "full":
			steps = append(steps, step{phase, b.phaseFull})
		case "pop3":
			steps = append(steps, step{phase, b.phasePOP3})
		case "imap":
			steps = append(steps, step{phase, b.phaseIMAP})
		case "idle":
			steps = append(steps, step{phase, b.phaseIdle})
		}
		for _, st := range steps {
			for _, t := range b.targets {
				if ctx.Err() != nil {
					return
				}
				name := st.name
				b.log.Info("Phase starting", "phase", name, "target", t.name)
				if err := st.run(ctx, t); err != nil {
					if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
						err = fmt.Errorf("run timed out or was interrupted: %w", err)
					}
					b.log.Error("Phase failed", "phase", name, "target", t.name, "err", err)
					b.res.fail(t.name, name, err)
				}
			}
		}
	}
}
