package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestPromValue(t *testing.T) {
	const exposition = `# HELP kubemail_outbound_attempts_total Outbound delivery attempts.
# TYPE kubemail_outbound_attempts_total counter
kubemail_outbound_attempts_total{outcome="delivered"} 12
kubemail_outbound_attempts_total{outcome="deferred"} 3.5e+03
kubemail_config_reloads_total{result="ok"} 2
kubemail_up 1
kubemail_up_total 7
`
	tests := map[string]struct {
		name, labels string
		want         float64
		found        bool
	}{
		"a labelled sample":              {"kubemail_outbound_attempts_total", `outcome="deferred"`, 3500, true},
		"another label value":            {"kubemail_outbound_attempts_total", `outcome="delivered"`, 12, true},
		"a sample without labels":        {"kubemail_up", "", 1, true},
		"a label value that is absent":   {"kubemail_outbound_attempts_total", `outcome="bounced"`, 0, false},
		"a name that only prefixes some": {"kubemail_up_to", "", 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, found, err := promValue(strings.NewReader(exposition), tc.name, tc.labels)
			if err != nil || v != tc.want || found != tc.found {
				t.Errorf("promValue = %v, %v, %v; want %v, %v, nil", v, found, err, tc.want, tc.found)
			}
		})
	}
}

func writeFile(t *testing.T, path string, size int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDirUsageAndPostfixQueued(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "deferred/A/A1"), 10240)
	writeFile(t, filepath.Join(dir, "deferred/B/B1"), 100)
	writeFile(t, filepath.Join(dir, "defer/A/A1"), 300)
	u, err := dirUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u.files != 3 || u.apparent != 10640 || u.allocated < 10240 {
		t.Errorf("dirUsage = %+v; want 3 files, 10640 bytes, at least 10240 allocated", u)
	}

	tests := map[string]struct {
		extra    []string // files to add under the queue before the check
		want     int
		settled  bool
		inDetail string
	}{
		"every message deferred":          {nil, 2, true, "2 messages deferred"},
		"fewer deferred than queued":      {nil, 3, false, "2 messages deferred"},
		"a message still in active":       {[]string{"active/C1"}, 2, false, "1 messages in maildrop"},
		"a message still in incoming too": {[]string{"active/C1", "incoming/D/D1"}, 2, false, "2 messages in maildrop"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q := t.TempDir()
			writeFile(t, filepath.Join(q, "deferred/A/A1"), 1)
			writeFile(t, filepath.Join(q, "deferred/B/B1"), 1)
			for _, f := range tc.extra {
				writeFile(t, filepath.Join(q, f), 1)
			}
			settled, detail, err := postfixQueued(q, tc.want)
			if err != nil || settled != tc.settled || !strings.Contains(detail, tc.inDetail) {
				t.Errorf("postfixQueued = %v, %q, %v; want %v, %q", settled, detail, err, tc.settled, tc.inDetail)
			}
		})
	}
}

// fakeOps serves /metrics like kubemail's ops endpoint for a config file it watches: each request
// compares the file with the content it last accepted and counts a reload (ok, or failed when the
// new content holds "invalid").
type fakeOps struct {
	path     string
	mu       sync.Mutex
	served   string
	ok, fail int
	deferred atomic.Int64
}

func (f *fakeOps) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	b, _ := os.ReadFile(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	if string(b) != f.served {
		if strings.Contains(string(b), "invalid") {
			f.fail++
		} else {
			f.ok++
		}
		f.served = string(b)
	}
	fmt.Fprintf(w, "kubemail_config_reloads_total{result=\"failed\"} %d\n", f.fail)
	fmt.Fprintf(w, "kubemail_config_reloads_total{result=\"ok\"} %d\n", f.ok)
	fmt.Fprintf(w, "kubemail_outbound_attempts_total{outcome=\"deferred\"} %d\n", f.deferred.Load())
}

func startFakeOps(t *testing.T, path string) (*fakeOps, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeOps{path: path, served: string(b)}
	srv := httptest.NewServer(f) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return f, strings.TrimPrefix(srv.URL, "http://")
}

func TestKubemailConfigsApplyWaitsForTheReload(t *testing.T) {
	live := filepath.Join(t.TempDir(), "kubemail.yaml")
	if err := os.WriteFile(live, []byte("defaults"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, ops := startFakeOps(t, live)
	k := &kubemailConfigs{live: live, ops: ops, defaults: []byte("defaults"), raised: []byte("raised")}
	ctx := context.Background()
	if err := k.apply(ctx, k.raised); err != nil {
		t.Fatalf("apply(raised) = %v", err)
	}
	if b, _ := os.ReadFile(live); string(b) != "raised" || f.ok != 1 {
		t.Errorf("after apply: file %q, %d reloads; want the raised content and one reload", b, f.ok)
	}
	if err := k.apply(ctx, []byte("invalid")); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("apply(invalid) = %v; want a refusal", err)
	}

	p := &kubemailProbe{ops: ops}
	f.deferred.Store(5)
	if err := p.begin(ctx); err != nil {
		t.Fatal(err)
	}
	f.deferred.Store(8)
	if done, detail, err := p.settled(ctx, 3); err != nil || !done || detail != "3 deferred attempts" {
		t.Errorf("probe.settled(3) = %v, %q, %v; want done after 3 deferred attempts since begin", done, detail, err)
	}
	if done, _, _ := p.settled(ctx, 4); done {
		t.Errorf("probe.settled(4) = done with only 3 deferred attempts since begin")
	}
}

// fakeRelay is a relay for driving the outbound benchmark: it forwards each message to its smarthost
// before answering 250, and when the smarthost is down it keeps the message as a file in its queue
// directory. It runs in the test process, which is therefore the relay whose CPU and memory are measured.
type fakeRelay struct {
	smarthost string
	queueDir  string
	deferred  atomic.Int64
}

func (f *fakeRelay) NewSession(*smtp.Conn) (smtp.Session, error) { return &fakeRelaySession{f: f}, nil }

type fakeRelaySession struct {
	f    *fakeRelay
	from string
	to   []string
}

func (*fakeRelaySession) Reset()        {}
func (*fakeRelaySession) Logout() error { return nil }
func (s *fakeRelaySession) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.to = from, nil
	return nil
}

func (s *fakeRelaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *fakeRelaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if c, err := smtp.Dial(s.f.smarthost); err == nil {
		defer c.Close()
		return c.SendMail(s.from, s.to, strings.NewReader(string(b)))
	}
	n := s.f.deferred.Add(1)
	return os.WriteFile(filepath.Join(s.f.queueDir, fmt.Sprint(n)), b, 0o600)
}

type fakeRelayProbe struct{ f *fakeRelay }

func (fakeRelayProbe) begin(context.Context) error { return nil }

func (p fakeRelayProbe) settled(_ context.Context, want int) (bool, string, error) {
	n := int(p.f.deferred.Load())
	return n >= want, fmt.Sprintf("%d kept", n), nil
}

func TestOutboundAgainstAFakeRelay(t *testing.T) {
	sinkLn, err := net.Listen("tcp", "127.0.0.1:0") // reserve a free port for the sink
	if err != nil {
		t.Fatal(err)
	}
	sinkAddr := sinkLn.Addr().String()
	_ = sinkLn.Close()
	f := &fakeRelay{smarthost: sinkAddr, queueDir: t.TempDir()}
	srv := smtp.NewServer(f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	r := &relay{name: "peer", label: "fake", smtp: ln.Addr().String(), procs: serverProcs{pids: []int{os.Getpid()}},
		queueDir: f.queueDir, probe: fakeRelayProbe{f}}
	// The test process is the relay: memory sampling costs it CPU (reading smaps_rollup of a process
	// under the race detector walks its shadow memory), so it counts as idle below half a core.
	o := outboundOptions{messages: 20, concurrency: []int{1, 3}, size: 2048, queueMessages: 15, queueSessions: 3,
		domain: "sink.test", sinkAddr: sinkAddr, ioTimeout: 5 * time.Second, waitTimeout: 10 * time.Second,
		settleTimeout: 30 * time.Second, queueRest: time.Millisecond, idleCPU: 0.5, sample: 200 * time.Millisecond, run: "t"}
	b := &outbench{o: o, relays: []*relay{r}, res: newResults(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := b.runAll(context.Background(), outboundPhases); err != nil {
		t.Fatal(err)
	}
	if errs := b.res.Errors["peer"]; len(errs) > 0 {
		t.Fatalf("steps failed: %v", errs)
	}
	for _, key := range []string{
		"relay.c1.rate", "relay.c3.rate", "relay.c3.accept_rate", "relay.c1.lag", "relay.c1.cpu_per_msg", "relay.c3.peak_rss",
		"queue.accept_rate", "queue.cpu_per_msg", "queue.rss", "queue.pss", "queue.idle_rss", "queue.rest_rss", "queue.rest_pss", "queue.disk", "queue.disk_per_msg",
	} {
		if v, ok := b.res.get("peer", key); !ok || v < 0 {
			t.Errorf("metric %s = %v, %v; want a recorded non-negative value", key, v, ok)
		}
	}
	if v, _ := b.res.get("peer", "queue.disk_per_msg"); v < 2 {
		t.Errorf("disk per queued message = %v KiB, want at least the 2 KiB message", v)
	}
	if n := f.deferred.Load(); n != 15 {
		t.Errorf("the relay kept %d messages while the sink was down, want 15", n)
	}
	if b.res.Meta["queue.peer.settled"] != true {
		t.Errorf("queue.peer.settled = %v, want true", b.res.Meta["queue.peer.settled"])
	}
	for _, key := range []string{"sink_ceiling.c1_msgs_per_s", "sink_ceiling.c3_msgs_per_s"} {
		if _, ok := b.res.Meta[key]; !ok {
			t.Errorf("meta %s missing", key)
		}
	}
}
