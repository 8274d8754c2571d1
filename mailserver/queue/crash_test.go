package queue

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/delivery"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/resolver"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
	"github.com/kubemail/kubemail/mailserver/store"
	"github.com/kubemail/kubemail/mailserver/store/sqlite"
)

// crashChildEnv switches the test binary into the crash test's child: it
// runs a.test's intake and queue on the configuration in the directory
// the variable names, queues messages for bob@b.test, and prints each
// acknowledged one, until it is killed.
const (
	crashChildEnv   = "KUBEMAIL_QUEUE_CRASH_CHILD_DIR"
	crashConfig     = "config.yaml"
	crashWriters    = 4
	crashChildLimit = 60 * time.Second // the child exits by itself if never killed
)

// crashChild queues messages through the Intake, as the SMTP server
// would, and prints "ACK id" once Deliver returned (the 250 point).
func crashChild(dir string) int {
	cfg, err := config.Load(filepath.Join(dir, crashConfig))
	if err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		return 1
	}
	st, err := sqlite.Open(cfg.Storage.Path, sqlite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "store:", err)
		return 1
	}
	holder := config.NewHolder(cfg)
	r, err := resolver.New(resolver.Options{Server: cfg.OutboundPolicy().Resolver})
	if err != nil {
		fmt.Fprintln(os.Stderr, "resolver:", err)
		return 1
	}
	q, err := New(Options{Store: st, Config: holder, Resolver: r, Jitter: func(time.Duration) time.Duration { return 0 },
		PollInterval: 100 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "queue:", err)
		return 1
	}
	in, err := delivery.New(delivery.Options{Store: st, Config: holder, Kick: q.Kick})
	if err != nil {
		fmt.Fprintln(os.Stderr, "intake:", err)
		return 1
	}
	go func() { _ = q.Run(context.Background()) }()
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(crashChildLimit)
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				id := fmt.Sprintf("CRASH%dW%dN%d", os.Getpid(), w, i)
				env := mail.Envelope{ID: id, From: "alice@a.test", Account: "alice@a.test", ReceivedAt: time.Now(),
					Recipients: []mail.Recipient{{Address: "bob@b.test"}}}
				body := fmt.Sprintf("From: alice@a.test\r\nTo: bob@b.test\r\nMessage-ID: <%s@crash.test>\r\nSubject: %s\r\n\r\nbody\r\n", id, id)
				if err := in.Deliver(context.Background(), env, []byte(body)); err != nil {
					fmt.Fprintln(os.Stderr, "deliver:", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(out, "ACK %s\n", id)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return 0
}

// TestCrashLosesNoQueuedMessage kills the sending server with SIGKILL
// while it queues and delivers, restarts it on the same store, and checks
// that every message it acknowledged reaches b.test (at least once).
func TestCrashLosesNoQueuedMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dns := dnstest.Start(t)
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}})
	dir := t.TempDir()
	aOpts := nodeOptions{domain: "a.test", mailboxes: []string{"alice"}, dir: dir,
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries}}
	publishDomain(t, dns, aOpts)
	cfg := nodeConfig(t, aOpts, nil, dns.Addr())
	y, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, crashConfig), y, 0o600); err != nil {
		t.Fatal(err)
	}
	var acked []string
	for round := range 2 {
		// Round 0: b.test refuses (4xx), so everything stays queued;
		// round 1: b.test accepts, so the kill hits deliveries in flight.
		b.hook.setFail(round == 0)
		killAfter := 40 + rand.IntN(80)
		got := runQueueCrashChild(t, dir, killAfter)
		if len(got) < killAfter {
			t.Fatalf("round %d: the child acknowledged %d messages before dying, want at least %d", round, len(got), killAfter)
		}
		acked = append(acked, got...)
		t.Logf("round %d: killed after %d acknowledged messages", round, len(got))
	}
	before := len(b.inbox("bob@b.test"))
	// Restart a.test on the same store, in this process.
	a := runNode(t, dns, aOpts, cfg)
	a.waitQueue("drained after the restart", func(q []store.QueueEntry) bool { return len(q) == 0 })
	ids := regexp.MustCompile(`Message-ID: <([A-Z0-9]+)@crash\.test>`)
	seen := map[string]int{}
	for _, m := range b.inbox("bob@b.test") {
		if sub := ids.FindSubmatch(m); sub != nil {
			seen[string(sub[1])]++
		}
	}
	dups := 0
	for _, id := range acked {
		switch seen[id] {
		case 0:
			t.Fatalf("acknowledged message %s was never delivered (%d of %d delivered)", id, len(seen), len(acked))
		case 1:
		default:
			dups++
		}
	}
	t.Logf("%d acknowledged messages delivered (%d before the restart), %d of them more than once (SMTP's at-least-once)",
		len(acked), before, dups)
	if before >= len(acked) {
		t.Fatalf("every message was delivered before the restart: the test did not exercise recovery")
	}
}

// runQueueCrashChild starts the child, kills it after killAfter
// acknowledgements and returns the ids it acknowledged.
func runQueueCrashChild(t *testing.T, dir string, killAfter int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the child: %v", err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	var acks []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || f[0] != "ACK" {
			t.Fatalf("child printed %q", sc.Text())
		}
		acks = append(acks, f[1])
		if len(acks) == killAfter && !killed {
			// SIGKILL: no deferred code, no Close, nothing flushed.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("killing the child: %v", err)
			}
			killed = true
		}
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		t.Fatalf("reading the child's output: %v", err)
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before being killed: %v\n%s", err, stderr.String())
	}
	return acks
}
