package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// `mailbench outbound` measures relaying: a load generator submits N messages over C sessions to a
// relay (kubemail through its MX listener with relay.allowedNetworks, Postfix through smtpd with
// mynetworks), which queues them durably and delivers them to one counting SMTP sink (countSink) that
// both relays use as their smarthost / relayhost. A load counts until the sink holds all N. Then the
// sink closes and each relay queues -queue-messages for a destination that is down; the figures are
// the relay's memory and disk once its queue has settled. hack/bench/outbound/run.sh starts the relays.

// outboundOptions are the sizes and limits of an outbound run.
type outboundOptions struct {
	messages      int   // N per throughput load
	concurrency   []int // submitting sessions, one load each
	size          int   // bytes per message
	queueMessages int   // messages queued for the destination that is down
	queueSessions int
	domain        string // recipient domain; both relays route it to the sink
	sinkAddr      string
	sinkTLS       bool
	ioTimeout     time.Duration // per SMTP command of the load generator
	waitTimeout   time.Duration // for a load to reach the sink
	settleTimeout time.Duration // for a queue load to settle
	queueRest     time.Duration // wait after settling before memory is measured again
	idleCPU       float64       // CPU share (of one core) under which a relay counts as idle
	sample        time.Duration // RSS sampling interval
	stopAfter     bool          // stop each relay once its queue is measured
	raisedLabel   string        // says what the raised kubemail config changes
	run           string        // run id, part of every Message-ID
}

// relay is one server under test in the outbound benchmark.
type relay struct {
	name, label string // name is "kubemail" or "peer" (the report's ratio is kubemail/peer)
	smtp        string
	procs       serverProcs
	queueDir    string // the directory whose size is the queue's disk usage
	probe       queueProbe
}

// outbench runs the outbound benchmark.
type outbench struct {
	o        outboundOptions
	relays   []*relay
	kcfg     *kubemailConfigs // nil: no raised settings to try
	sink     *countSink
	ceilings []string // the sink's rates straight from the generator, for the report
	res      *results
	log      *slog.Logger
}

// Phases of the outbound benchmark, in the order they run.
const (
	phaseThroughput = "throughput" // every relay at its defaults, each load for each relay in turn
	phaseRaised     = "raised"     // kubemail again with the raised config
	phaseQueue      = "queue"      // the sink closes; each relay queues -queue-messages
)

var outboundPhases = []string{phaseThroughput, phaseRaised, phaseQueue}

// outboundCmd is `mailbench outbound`.
func outboundCmd(args []string) error {
	fs := flag.NewFlagSet("outbound", flag.ContinueOnError)
	var o outboundOptions
	o.concurrency = []int{10, 50}
	o.idleCPU = defaultIdleCPU
	fs.IntVar(&o.messages, "messages", 10000, "messages per throughput load (N)")
	fs.Var((*intList)(&o.concurrency), "concurrency", "comma-separated concurrent submitting sessions, one throughput load each")
	fs.IntVar(&o.size, "size", 10240, "bytes per message, headers included")
	fs.IntVar(&o.queueMessages, "queue-messages", 100000, "messages queued for a destination that is down (queue memory and disk)")
	fs.IntVar(&o.queueSessions, "queue-concurrency", 50, "submitting sessions of the queue load")
	fs.StringVar(&o.domain, "domain", "sink.test", "recipient domain, which both relays route to the sink")
	fs.StringVar(&o.sinkAddr, "sink", "127.0.0.1:14025", "address of the counting SMTP sink mailbench runs (the relays' smarthost)")
	fs.BoolVar(&o.sinkTLS, "sink-tls", false, "the sink offers STARTTLS (self-signed certificate)")
	fs.DurationVar(&o.ioTimeout, "io-timeout", 2*time.Minute, "bound on one SMTP command of the load generator")
	fs.DurationVar(&o.waitTimeout, "wait-timeout", 30*time.Minute, "bound on a load reaching the sink")
	fs.DurationVar(&o.settleTimeout, "settle-timeout", 30*time.Minute, "bound on a queue load settling (measured anyway after it, and noted)")
	fs.DurationVar(&o.queueRest, "queue-rest", 2*time.Minute, "after the queue settled, wait this long and measure memory again (0: skip); longer than Postfix's max_idle (100s)")
	fs.DurationVar(&o.sample, "sample", 200*time.Millisecond, "RSS sampling interval during loads (Pss every 5th sample)")
	fs.BoolVar(&o.stopAfter, "stop-after-queue", false, "SIGTERM each relay's root processes once its queue is measured, so its retries do not load the next relay's measurement")
	fs.StringVar(&o.raisedLabel, "raised-label", "raised", "what -kubemail-raised-config changes, for the report")
	kSMTP := fs.String("kubemail-smtp", "127.0.0.1:23525", "kubemail MX listener (relay.allowedNetworks admits the generator)")
	kPid := fs.Int("kubemail-pid", 0, "kubemail server pid")
	kOps := fs.String("kubemail-ops", "127.0.0.1:23080", "kubemail ops listener (metrics: reloads, deferred attempts)")
	kStore := fs.String("kubemail-store", "", "kubemail storage.path: its size is the queue's disk usage")
	kConfig := fs.String("kubemail-config", "", "the config file kubemail serves (rewritten for the raised phase, then restored)")
	kRaised := fs.String("kubemail-raised-config", "", "a config with raised outbound settings, for the raised phase")
	pSMTP := fs.String("peer-smtp", "127.0.0.1:13525", "Postfix smtpd")
	pDir := fs.String("peer-dir", "", "DIR given to hack/bench/outbound/postfix.sh: its master pid file and queue are under DIR/queue")
	targets := fs.String("targets", "kubemail,peer", "comma-separated relays: kubemail, peer")
	phases := fs.String("phases", strings.Join(outboundPhases, ","), "comma-separated phases: "+strings.Join(outboundPhases, ", "))
	jsonPath := fs.String("json", "outbound.json", "write machine-readable results to this file")
	timeout := fs.Duration("timeout", 3*time.Hour, "bound on the whole run")
	var notes metaNotes
	fs.Var(&notes, "meta", "key=value recorded in the JSON meta (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.messages < 1 || o.queueMessages < 0 || o.queueSessions < 1 || o.size < 512 {
		return errors.New("-messages and -queue-concurrency must be positive, -queue-messages not negative, -size at least 512")
	}
	selected := strings.Split(*phases, ",")
	for _, p := range selected {
		if !slices.Contains(outboundPhases, p) {
			return fmt.Errorf("unknown phase %q", p)
		}
	}
	o.run = strconv.FormatInt(time.Now().UnixNano(), 36)
	b := &outbench{o: o, res: newResults(), log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	for _, name := range strings.Split(*targets, ",") {
		r := &relay{name: name}
		switch name {
		case "kubemail":
			if *kPid == 0 || *kStore == "" {
				return errors.New("-kubemail-pid and -kubemail-store are required with the kubemail target")
			}
			r.label, r.smtp, r.queueDir = "kubemail", *kSMTP, *kStore
			r.procs.pids = []int{*kPid}
			r.probe = &kubemailProbe{ops: *kOps}
			if *kConfig != "" && *kRaised != "" {
				k := &kubemailConfigs{live: *kConfig, ops: *kOps}
				var err1, err2 error
				k.defaults, err1 = os.ReadFile(*kConfig)
				k.raised, err2 = os.ReadFile(*kRaised)
				if err := errors.Join(err1, err2); err != nil {
					return err
				}
				b.kcfg = k
			}
		case "peer":
			if *pDir == "" {
				return errors.New("-peer-dir is required with the peer target")
			}
			r.label, r.smtp, r.queueDir = "postfix", *pSMTP, filepath.Join(*pDir, "queue")
			r.procs.pidFiles = []string{filepath.Join(r.queueDir, "pid/master.pid")}
			r.probe = postfixProbe{queueDir: r.queueDir}
		default:
			return fmt.Errorf("unknown target %q (kubemail, peer)", name)
		}
		if _, err := r.procs.tree(); err != nil {
			return fmt.Errorf("finding %s's processes: %w", name, err)
		}
		b.relays = append(b.relays, r)
		b.res.Targets = append(b.res.Targets, targetInfo{Name: r.name, Label: r.label, SMTP: r.smtp})
	}
	b.recordMeta(*phases)
	for k, v := range notes {
		b.res.Meta[k] = v
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	start := time.Now()
	runErr := b.runAll(ctx, selected)
	b.res.Meta["duration_s"] = time.Since(start).Seconds()

	fmt.Println()
	if err := b.res.writeTable(os.Stdout); err != nil {
		return err
	}
	b.writeTargetVerdict(os.Stdout)
	if err := b.res.writeJSON(*jsonPath); err != nil {
		return err
	}
	fmt.Printf("\nresults written to %s\n", *jsonPath)
	if runErr != nil {
		return runErr
	}
	if ctx.Err() != nil {
		return fmt.Errorf("run stopped early: %w", context.Cause(ctx))
	}
	if n := b.res.failures(); n > 0 {
		return fmt.Errorf("%d step(s) failed; their figures are missing from the table (see above)", n)
	}
	return nil
}

func (b *outbench) recordMeta(phases string) {
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	m := b.res.Meta
	m["benchmark"] = "outbound"
	m["started"] = time.Now().UTC().Format(time.RFC3339)
	m["host"] = host
	m["kernel"] = strings.TrimSpace(string(kernel))
	m["cpus"] = runtime.NumCPU()
	m["go"] = runtime.Version()
	m["phases"] = phases
	m["messages"] = b.o.messages
	m["message_size"] = b.o.size
	m["concurrency"] = b.o.concurrency
	m["queue_messages"] = b.o.queueMessages
	m["queue_concurrency"] = b.o.queueSessions
	m["queue_rest_s"] = b.o.queueRest.Seconds()
	m["sink"] = b.o.sinkAddr
	m["sink_tls"] = b.o.sinkTLS
	m["generator"] = "mailbench Go SMTP client (go-smtp), one message per transaction, sessions reused, no pipelining"
	m["sink_kind"] = "mailbench countSink (go-smtp server in the mailbench process): reads each message whole, counts distinct Message-IDs per recipient, stores nothing"
	m["throughput"] = "N / (time from the first submission until the sink has received the N-th distinct message)"
	m["memory"] = "VmRSS (and Pss from smaps_rollup) summed over the relay's process tree"
	m["cpu"] = "utime+stime+cutime+cstime summed over the relay's process tree, before/after"
	m["disk"] = "allocated blocks of the files under the relay's queue directory (kubemail: storage.path; Postfix: queue_directory)"
	if b.kcfg != nil {
		m["raised"] = b.o.raisedLabel + "; the Postfix column of those rows repeats its one measurement at its defaults"
	}
}

// runAll runs the selected phases. A failing step is recorded and the run goes on; an error that makes
// the rest meaningless (the sink cannot start) is returned.
func (b *outbench) runAll(ctx context.Context, phases []string) error {
	if slices.Contains(phases, phaseThroughput) || slices.Contains(phases, phaseRaised) {
		s, err := startCountSink(ctx, b.o.sinkAddr, b.o.sinkTLS)
		if err != nil {
			return err
		}
		b.sink = s
		b.log.Info("Sink listening", "addr", s.addr(), "starttls", b.o.sinkTLS)
	}
	cs := slices.Clone(b.o.concurrency)
	slices.Sort(cs)
	if slices.Contains(phases, phaseThroughput) {
		for _, c := range cs {
			if err := b.sinkCeiling(ctx, c); err != nil {
				return err
			}
			for _, r := range b.relays {
				b.step(ctx, r, fmt.Sprintf("throughput c=%d", c), func(ctx context.Context) error {
					return b.throughput(ctx, r, c, "defaults", fmt.Sprintf("relay.c%d", c), fmt.Sprintf("Relay, %d sessions", c))
				})
			}
		}
	}
	if slices.Contains(phases, phaseRaised) {
		b.raisedPhase(ctx, cs)
	}
	if b.sink != nil {
		if err := b.sink.close(); err != nil {
			b.log.Warn("Closing the sink", "err", err)
		}
		b.sink = nil
	}
	if slices.Contains(phases, phaseQueue) && b.o.queueMessages > 0 {
		for _, r := range b.relays {
			b.step(ctx, r, "queue", func(ctx context.Context) error { return b.queue(ctx, r) })
		}
	}
	return nil
}

// step runs one measurement of one relay and records its failure.
func (b *outbench) step(ctx context.Context, r *relay, name string, run func(context.Context) error) {
	if ctx.Err() != nil {
		return
	}
	b.log.Info("Step starting", "step", name, "target", r.name)
	if err := run(ctx); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("run timed out or was interrupted: %w", err)
		}
		b.log.Error("Step failed", "step", name, "target", r.name, "err", err)
		b.res.fail(r.name, name, err)
	}
}

// raisedPhase measures kubemail again with the raised config; the Postfix rows repeat its figures at
// its defaults, so the ratio says how the raised kubemail compares with Postfix as shipped.
func (b *outbench) raisedPhase(ctx context.Context, cs []int) {
	var k *relay
	for _, r := range b.relays {
		if r.name == "kubemail" {
			k = r
		}
	}
	if k == nil || b.kcfg == nil {
		b.log.Warn("Skipping the raised phase: it needs the kubemail target, -kubemail-config and -kubemail-raised-config")
		return
	}
	b.log.Info("Step starting", "step", "raise config", "target", k.name)
	if err := b.kcfg.apply(ctx, b.kcfg.raised); err != nil {
		b.log.Error("Step failed", "step", "raise config", "target", k.name, "err", err)
		b.res.fail(k.name, "raise config", err)
		return
	}
	for _, c := range cs {
		key, title := fmt.Sprintf("relay.c%d.raised", c), fmt.Sprintf("Relay, %d sessions, kubemail %s", c, b.o.raisedLabel)
		b.step(ctx, k, fmt.Sprintf("throughput c=%d raised", c), func(ctx context.Context) error {
			return b.throughput(ctx, k, c, "raised", key, title)
		})
		b.copyPeer(fmt.Sprintf("relay.c%d", c), key)
	}
	b.step(ctx, k, "restore config", func(ctx context.Context) error { return b.kcfg.apply(ctx, b.kcfg.defaults) })
}

// copyPeer sets the peer's figures of the load fromKey under the rows of toKey that kubemail has.
func (b *outbench) copyPeer(fromKey, toKey string) {
	b.res.mu.Lock()
	defs := slices.Clone(b.res.Metrics)
	b.res.mu.Unlock()
	for _, m := range defs {
		suffix, ok := strings.CutPrefix(m.Key, toKey)
		if !ok || strings.Count(suffix, ".") != 1 {
			continue
		}
		if v, ok := b.res.get("peer", fromKey+suffix); ok {
			b.res.set("peer", m, v)
		}
	}
}

// throughput submits N messages to r over c sessions and waits until the sink holds all of them.
func (b *outbench) throughput(ctx context.Context, r *relay, c int, setting, key, title string) error {
	n := b.o.messages
	rcpt := fmt.Sprintf("%s-%s-c%d@%s", r.name, setting, c, b.o.domain)
	if got := b.sink.count(rcpt); got.deliveries != 0 {
		return fmt.Errorf("the sink already holds %d messages for %s", got.deliveries, rcpt)
	}
	cpu0, err := r.procs.cpuSeconds()
	if err != nil {
		return err
	}
	sampler := r.procs.sampleMemory(b.o.sample)
	start := time.Now()
	err = sendAll(ctx, sendOptions{addr: r.smtp, from: "sender@mailbench.test", to: rcpt, count: n, sessions: c,
		size: b.o.size, run: b.o.run + "." + r.name + "." + setting, timeout: b.o.ioTimeout})
	accepted := time.Since(start)
	var got sinkCount
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, b.o.waitTimeout)
		got, err = b.sink.waitFor(wctx, rcpt, n)
		cancel()
	}
	peak, serr := sampler.finish()
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("sampling memory: %w", serr)
	}
	// The relay records the last outcomes just after the sink's 250; let it finish before reading its CPU.
	b.waitIdle(ctx, r, 10*time.Second)
	cpu1, err := r.procs.cpuSeconds()
	if err != nil {
		return err
	}
	delivered := got.last.Sub(start)
	b.res.set(r.name, metricDef{key + ".rate", title + ": delivered to the sink", "msgs/s", higherBetter}, float64(n)/delivered.Seconds())
	b.res.set(r.name, metricDef{key + ".accept_rate", title + ": acknowledged (250)", "msgs/s", higherBetter}, float64(n)/accepted.Seconds())
	b.res.set(r.name, metricDef{key + ".lag", title + ": last delivery after the last 250", "s", lowerBetter}, max(0, (delivered-accepted).Seconds()))
	b.res.set(r.name, metricDef{key + ".cpu_per_msg", title + ": relay CPU per message", "ms", lowerBetter}, (cpu1-cpu0)*1000/float64(n))
	b.res.set(r.name, metricDef{key + ".peak_rss", title + ": peak relay RSS", "MiB", lowerBetter}, float64(peak.rssKiB)/1024)
	b.res.set(r.name, metricDef{key + ".peak_pss", title + ": peak relay Pss", "MiB", lowerBetter}, float64(peak.pssKiB)/1024)
	b.res.note("sink_tls_share."+r.name+"."+strings.TrimPrefix(key, "relay."), float64(got.overTLS)/float64(got.deliveries))
	if dups := got.deliveries - got.distinct; dups > 0 {
		b.res.note("duplicates."+r.name+"."+strings.TrimPrefix(key, "relay."), dups)
		b.log.Warn("The sink received duplicates", "target", r.name, "load", key, "duplicates", dups)
	}
	b.log.Info("Throughput measured", "target", r.name, "load", key, "messages", n, "sessions", c,
		"delivered_per_s", int(float64(n)/delivered.Seconds()), "accepted_in", accepted.Round(time.Millisecond),
		"delivered_in", delivered.Round(time.Millisecond), "over_tls", got.overTLS, "peak_rss_mib", peak.rssKiB/1024, "processes", peak.procs)
	return nil
}

// sinkCeiling sends one load straight to the sink, at c sessions, so the report shows that the sink and
// the generator are not what limits the relays: their rates should stay well below this one.
func (b *outbench) sinkCeiling(ctx context.Context, c int) error {
	n := b.o.messages
	rcpt := fmt.Sprintf("direct-c%d@%s", c, b.o.domain)
	start := time.Now()
	err := sendAll(ctx, sendOptions{addr: b.sink.addr(), from: "sender@mailbench.test", to: rcpt, count: n, sessions: c,
		size: b.o.size, run: b.o.run + ".direct", timeout: b.o.ioTimeout})
	if err != nil {
		return fmt.Errorf("sending straight to the sink: %w", err)
	}
	got := b.sink.count(rcpt)
	if got.distinct != n {
		return fmt.Errorf("the sink counted %d of %d messages sent straight to it", got.distinct, n)
	}
	rate := float64(n) / got.last.Sub(start).Seconds()
	b.res.note(fmt.Sprintf("sink_ceiling.c%d_msgs_per_s", c), rate)
	b.ceilings = append(b.ceilings, fmt.Sprintf("%d sessions %.0f msgs/s", c, rate))
	b.log.Info("Sink ceiling measured (generator straight to the sink)", "sessions", c, "messages", n, "per_s", int(rate))
	return nil
}

// defaultIdleCPU is the CPU share (of one core) under which a relay counts as idle.
const defaultIdleCPU = 0.05

// waitIdle waits, up to limit, until r has used less than the idle CPU share over one second.
func (b *outbench) waitIdle(ctx context.Context, r *relay, limit time.Duration) {
	deadline := time.Now().Add(limit)
	prev, err := r.procs.cpuSeconds()
	for err == nil && time.Now().Before(deadline) {
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
		var cur float64
		if cur, err = r.procs.cpuSeconds(); err == nil && cur-prev < b.o.idleCPU {
			return
		}
		prev = cur
	}
}

// writeTargetVerdict prints the target — outbound throughput at least Postfix's — per load.
func (b *outbench) writeTargetVerdict(w io.Writer) {
	var lines []string
	for _, m := range b.res.Metrics {
		if !strings.HasPrefix(m.Key, "relay.") || !strings.HasSuffix(m.Key, ".rate") {
			continue
		}
		q, ok := b.res.ratio(m.Key)
		if !ok {
			continue
		}
		verdict := "met"
		if q < 1 {
			verdict = "missed"
		}
		b.res.note("target."+strings.TrimSuffix(m.Key, ".rate"), verdict)
		lines = append(lines, fmt.Sprintf("  %s: kubemail %.2fx Postfix — %s", strings.TrimSuffix(m.Title, ": delivered to the sink"), q, verdict))
	}
	for _, r := range b.relays {
		if settled, ok := b.res.Meta["queue."+r.name+".settled"].(bool); ok && !settled {
			fmt.Fprintf(w, "\n%s's queue had not settled after %s (%v): its queue figures were taken while it still worked\n",
				r.label, b.o.settleTimeout, b.res.Meta["queue."+r.name+".settle_detail"])
		}
	}
	if len(b.ceilings) > 0 {
		fmt.Fprintf(w, "\nSink ceiling (generator straight to the sink, no relay): %s\n", strings.Join(b.ceilings, ", "))
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "\nTarget (issue 5): outbound throughput (delivered to the sink) at least Postfix's")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
