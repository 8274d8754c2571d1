// Command mailbench measures a mail server through its SMTP, POP3 and IMAP endpoints and its processes
// in /proc, so the same code measures kubemail and a Postfix+Dovecot peer in one run and prints each
// figure for both with their ratio. hack/bench/run.sh starts both servers and runs it; see its header.
//
//	mailbench [run] [flags]             run the benchmark (see -h)
//	mailbench accounts [flags]          print the mailbox addresses a run uses, one per line
//	mailbench render-config [flags]     render the kubemail server config template for a run
//	mailbench outbound [flags]          the outbound (relay) benchmark; see outbound.go and hack/bench/outbound
//
// Load: a Go SMTP generator (go-smtp's client, one message per transaction, sessions reused, no
// pipelining) sends N messages of exactly -size bytes over C concurrent sessions to one mailbox; a load
// is counted until every message is retrievable, polling POP3 STAT after the last 250. Every message
// differs (Subject word, Message-ID, body words); every 100th Subject carries "needle" for the search.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
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

// sizing is what decides a run's mailbox addresses; accounts and render-config take the same flags.
type sizing struct {
	domain          string
	concurrency     []int
	fullConcurrency int
}

func (s *sizing) register(fs *flag.FlagSet) {
	s.concurrency = []int{1, 10, 50}
	fs.StringVar(&s.domain, "domain", "bench.test", "mail domain of the test mailboxes")
	fs.Var((*intList)(&s.concurrency), "concurrency", "comma-separated concurrent SMTP sessions, one ingest run each")
	fs.IntVar(&s.fullConcurrency, "full-concurrency", 10, "SMTP sessions of the ingest into a mailbox already holding -messages")
}

// ingestMailbox receives the ingest run at c sessions (and, for -full-concurrency, the full-mailbox run).
func (s sizing) ingestMailbox(c int) string { return fmt.Sprintf("ingest-c%d@%s", c, s.domain) }

// readMailbox holds the messages the POP3, IMAP and idle benchmarks read.
func (s sizing) readMailbox() string { return "read@" + s.domain }

// accounts lists every mailbox a run may use.
func (s sizing) accounts() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range append(append([]int(nil), s.concurrency...), s.fullConcurrency) {
		if a := s.ingestMailbox(c); !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return append(out, s.readMailbox())
}

// intList is a flag holding comma-separated positive integers.
type intList []int

func (l *intList) String() string {
	var s []string
	for _, v := range *l {
		s = append(s, strconv.Itoa(v))
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

func main() {
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = runCmd(args)
	case "accounts":
		err = accountsCmd(args)
	case "render-config":
		err = renderConfigCmd(args)
	case "outbound":
		err = outboundCmd(args)
	default:
		err = fmt.Errorf("unknown command %q (run, accounts, render-config, outbound)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailbench:", err)
		os.Exit(1)
	}
}

func accountsCmd(args []string) error {
	fs := flag.NewFlagSet("accounts", flag.ContinueOnError)
	var s sizing
	s.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, a := range s.accounts() {
		fmt.Println(a)
	}
	return nil
}

// targetFlags are one target's endpoints and processes.
type targetFlags struct {
	smtp, pop3, imap string
	pid              int
	pidFiles         string
}

func (tf *targetFlags) register(fs *flag.FlagSet, name string, smtp, pop3, imap string) {
	fs.StringVar(&tf.smtp, name+"-smtp", smtp, name+" SMTP endpoint")
	fs.StringVar(&tf.pop3, name+"-pop3", pop3, name+" POP3 endpoint")
	fs.StringVar(&tf.imap, name+"-imap", imap, name+" IMAP endpoint")
	fs.IntVar(&tf.pid, name+"-pid", 0, name+" server pid (its descendants are included)")
	fs.StringVar(&tf.pidFiles, name+"-pidfiles", "", "comma-separated pid files of "+name+"'s master processes (descendants included)")
}

func (tf targetFlags) target(name, label string) (*target, error) {
	t := &target{name: name, label: label, smtp: tf.smtp, pop3: tf.pop3, imap: tf.imap}
	if tf.pid > 0 {
		t.procs.pids = []int{tf.pid}
	}
	if tf.pidFiles != "" {
		t.procs.pidFiles = strings.Split(tf.pidFiles, ",")
	}
	if _, err := t.procs.tree(); err != nil {
		return nil, fmt.Errorf("finding %s's processes (give -%s-pid or -%s-pidfiles): %w", name, name, name, err)
	}
	return t, nil
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var o benchOptions
	o.register(fs)
	var kf, pf targetFlags
	kf.register(fs, "kubemail", "127.0.0.1:22525", "127.0.0.1:22110", "127.0.0.1:22143")
	pf.register(fs, "peer", "127.0.0.1:12525", "127.0.0.1:12110", "127.0.0.1:12143")
	peerDir := fs.String("peer-dir", "", "DIR given to peer.sh; sets -peer-pidfiles to its Postfix and Dovecot master pid files")
	targets := fs.String("targets", "kubemail,peer", "comma-separated targets to measure: kubemail, peer")
	phases := fs.String("phases", strings.Join(allPhases, ","), "comma-separated phases: "+strings.Join(allPhases, ", "))
	jsonPath := fs.String("json", "mailbench.json", "write machine-readable results to this file")
	timeout := fs.Duration("timeout", 2*time.Hour, "bound on the whole run")
	var notes metaNotes
	fs.Var(&notes, "meta", "key=value recorded in the JSON meta (repeatable), e.g. server versions")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *peerDir != "" && pf.pidFiles == "" {
		pf.pidFiles = filepath.Join(*peerDir, "postfix-queue/pid/master.pid") + "," + filepath.Join(*peerDir, "dovecot/run/master.pid")
	}
	if err := o.validate(); err != nil {
		return err
	}
	for _, p := range strings.Split(*phases, ",") {
		if !slices.Contains(allPhases, p) {
			return fmt.Errorf("unknown phase %q", p)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	res := newResults()
	b := &bench{opts: o, res: res, log: log}
	for _, name := range strings.Split(*targets, ",") {
		var t *target
		var err error
		switch name {
		case "kubemail":
			t, err = kf.target("kubemail", "kubemail")
		case "peer":
			t, err = pf.target("peer", "postfix+dovecot")
		default:
			err = fmt.Errorf("unknown target %q (kubemail, peer)", name)
		}
		if err != nil {
			return err
		}
		b.targets = append(b.targets, t)
		res.Targets = append(res.Targets, targetInfo{Name: t.name, Label: t.label, SMTP: t.smtp, POP3: t.pop3, IMAP: t.imap})
	}
	o.recordMeta(res.Meta, *phases)
	for k, v := range notes {
		res.Meta[k] = v
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	start := time.Now()
	b.runAll(ctx, strings.Split(*phases, ","))
	res.Meta["duration_s"] = time.Since(start).Seconds()

	fmt.Println()
	if err := res.writeTable(os.Stdout); err != nil {
		return err
	}
	if err := res.writeJSON(*jsonPath); err != nil {
		return err
	}
	fmt.Printf("\nresults written to %s\n", *jsonPath)
	if ctx.Err() != nil {
		return fmt.Errorf("run stopped early: %w", context.Cause(ctx))
	}
	if n := res.failures(); n > 0 {
		return fmt.Errorf("%d phase(s) failed; their figures are missing from the table (see above)", n)
	}
	return nil
}

func (o *benchOptions) register(fs *flag.FlagSet) {
	o.sizing.register(fs)
	fs.IntVar(&o.messages, "messages", 10000, "messages per ingest run (N)")
	fs.IntVar(&o.size, "size", 10240, "bytes per message, headers included")
	fs.IntVar(&o.readMessages, "read-messages", 0, "messages in the mailbox read by the POP3, IMAP and idle benchmarks (default -messages)")
	fs.IntVar(&o.idleConns, "idle", 1000, "IMAP connections held in IDLE for the memory-per-connection figure")
	fs.IntVar(&o.reps, "reps", 3, "passes of each read benchmark: the first is reported alone, the median of the others as repeat")
	fs.StringVar(&o.password, "password", "bench-password", "password of every test mailbox")
	fs.DurationVar(&o.waitTimeout, "wait-timeout", 15*time.Minute, "bound on a load becoming retrievable")
	fs.DurationVar(&o.ioTimeout, "io-timeout", 2*time.Minute, "bound on one protocol command")
	o.settleLimit = 20 * time.Second
	fs.BoolVar(&o.startTLS, "starttls", true, "use STLS/STARTTLS for POP3 and IMAP when the server offers it (the JSON meta records which sessions did)")
	fs.DurationVar(&o.sample, "sample", 200*time.Millisecond, "RSS sampling interval during ingest (Pss every 5th sample)")
	fs.DurationVar(&o.poll, "poll", 50*time.Millisecond, "shortest interval between POP3 STAT polls while waiting for retrievability (polls back off by their cost and the estimated time left)")
}

func (o *benchOptions) validate() error {
	if o.readMessages == 0 {
		o.readMessages = o.messages
	}
	var errs []error
	if o.messages < 1 || o.readMessages < 1 {
		errs = append(errs, errors.New("-messages and -read-messages must be positive"))
	}
	if o.size < 512 {
		errs = append(errs, errors.New("-size must be at least 512 bytes"))
	}
	if o.idleConns < 2 || o.reps < 1 {
		errs = append(errs, errors.New("-idle must be at least 2 and -reps positive"))
	}
	o.run = strconv.FormatInt(time.Now().UnixNano(), 36)
	return errors.Join(errs...)
}

func (o *benchOptions) recordMeta(m map[string]any, phases string) {
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	m["started"] = time.Now().UTC().Format(time.RFC3339)
	m["host"] = host
	m["kernel"] = strings.TrimSpace(string(kernel))
	m["cpus"] = runtime.NumCPU()
	m["go"] = runtime.Version()
	m["phases"] = phases
	m["messages"] = o.messages
	m["message_size"] = o.size
	m["concurrency"] = o.concurrency
	m["full_concurrency"] = o.fullConcurrency
	m["read_messages"] = o.readMessages
	m["idle_connections"] = o.idleConns
	m["reps"] = o.reps
	m["generator"] = "mailbench Go SMTP client (go-smtp), one message per transaction, sessions reused, no pipelining"
	m["retrievable_check"] = "POP3 STAT polled every " + o.poll.String() + " after the last 250"
	m["memory"] = "VmRSS (and Pss from smaps_rollup) summed over the server's process tree"
	m["cpu"] = "utime+stime+cutime+cstime summed over the server's process tree, before/after"
}

// metaNotes collects repeated -meta key=value flags.
type metaNotes map[string]string

func (n *metaNotes) String() string { return "" }

func (n *metaNotes) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", v)
	}
	if *n == nil {
		*n = metaNotes{}
	}
	(*n)[k] = val
	return nil
}
