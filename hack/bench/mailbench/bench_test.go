package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// fakeMailServer is a tiny mail server for driving the benchmark: SMTP stores each message under its
// recipient, POP3 (USER, PASS, STAT, LIST, RETR, QUIT) reads them back. It runs inside the test process,
// which therefore is the "server process" whose CPU and memory are measured.
type fakeMailServer struct {
	mu    sync.Mutex
	boxes map[string][][]byte
}

func (f *fakeMailServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &fakeSession{f: f}, nil }

type fakeSession struct {
	f  *fakeMailServer
	to []string
}

func (*fakeSession) Reset()                               {}
func (*fakeSession) Logout() error                        { return nil }
func (*fakeSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *fakeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *fakeSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	for _, to := range s.to {
		s.f.boxes[to] = append(s.f.boxes[to], b)
	}
	s.to = nil
	return nil
}

func (f *fakeMailServer) servePOP3(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	r := bufio.NewReader(conn)
	fmt.Fprint(conn, "+OK ready\r\n")
	var user string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		f.mu.Lock()
		msgs := f.boxes[user]
		f.mu.Unlock()
		switch verb {
		case "USER":
			user = arg
			fmt.Fprint(conn, "+OK\r\n")
		case "PASS", "QUIT":
			fmt.Fprint(conn, "+OK\r\n")
			if verb == "QUIT" {
				return
			}
		case "STAT":
			fmt.Fprintf(conn, "+OK %d 0\r\n", len(msgs))
		case "LIST":
			fmt.Fprint(conn, "+OK\r\n")
			for i, m := range msgs {
				fmt.Fprintf(conn, "%d %d\r\n", i+1, len(m))
			}
			fmt.Fprint(conn, ".\r\n")
		case "RETR":
			var n int
			if _, err := fmt.Sscan(arg, &n); err != nil || n < 1 || n > len(msgs) {
				fmt.Fprint(conn, "-ERR no such message\r\n")
				continue
			}
			fmt.Fprint(conn, "+OK\r\n")
			_, _ = conn.Write(msgs[n-1]) // generated messages have no line starting with a dot
			fmt.Fprint(conn, ".\r\n")
		default: // CAPA among others: no STLS here, so sessions stay plain
			fmt.Fprint(conn, "-ERR unknown command\r\n")
		}
	}
}

func startFakeMailServer(t *testing.T) *target {
	t.Helper()
	f := &fakeMailServer{boxes: map[string][][]byte{}}
	srv := smtp.NewServer(f)
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(sl) }()
	t.Cleanup(func() { _ = srv.Close() })
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pl.Close() })
	go func() {
		for {
			conn, err := pl.Accept()
			if err != nil {
				return
			}
			go f.servePOP3(conn)
		}
	}()
	return &target{name: "peer", label: "fake", smtp: sl.Addr().String(), pop3: pl.Addr().String(),
		imap: "127.0.0.1:1", procs: serverProcs{pids: []int{os.Getpid()}}}
}

func testBench(t *testing.T, tg *target) *bench {
	o := benchOptions{
		sizing:   sizing{domain: "bench.test", concurrency: []int{1, 4}, fullConcurrency: 4},
		messages: 30, size: 2048, readMessages: 25, idleConns: 2, reps: 2, password: "pw",
		waitTimeout: 10 * time.Second, ioTimeout: 5 * time.Second, startTLS: true, sample: 5 * time.Millisecond, poll: time.Millisecond, settleLimit: time.Second, run: "t",
	}
	return &bench{opts: o, targets: []*target{tg}, res: newResults(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestRunAllAgainstAFakeServer(t *testing.T) {
	tg := startFakeMailServer(t)
	b := testBench(t, tg)
	b.runAll(context.Background(), []string{"ingest", "full", "pop3", "imap"})

	for _, key := range []string{
		"ingest.empty.c1.rate", "ingest.empty.c4.accept_rate", "ingest.empty.c4.peak_rss", "ingest.empty.c1.peak_pss",
		"ingest.empty.c1.cpu_per_msg", "ingest.full.c4.rate", "ingest.full.c4.slowdown",
		"pop3.list.first", "pop3.list.repeat", "pop3.retr_all.first", "pop3.retr_rate.repeat",
	} {
		if v, ok := b.res.get("peer", key); !ok || v < 0 {
			t.Errorf("metric %s = %v, %v; want a recorded non-negative value", key, v, ok)
		}
	}
	if v, _ := b.res.get("peer", "ingest.empty.c1.peak_rss"); v <= 0 {
		t.Errorf("peak RSS of the test process = %v MiB, want > 0", v)
	}
	errs := b.res.Errors["peer"]
	if len(errs) != 1 || !strings.Contains(errs["imap"], "dialing IMAP") {
		t.Errorf("errors = %v, want only the imap phase to fail (nothing listens)", errs)
	}
	for mailbox, want := range map[string]int{"ingest-c1@bench.test": 30, "ingest-c4@bench.test": 60, "read@bench.test": 25} {
		if n, err := b.count(context.Background(), tg, mailbox); err != nil || n != want {
			t.Errorf("%s holds %d messages (%v), want %d", mailbox, n, err, want)
		}
	}

	// A second run on the same store must refuse the non-empty mailboxes rather than measure them.
	b2 := testBench(t, tg)
	b2.runAll(context.Background(), []string{"ingest"})
	if e := b2.res.Errors["peer"]["ingest c=1"]; !strings.Contains(e, "not empty") {
		t.Errorf("rerun on a used store: error %q, want 'not empty'", e)
	}
	if err := b2.fill(context.Background(), tg, "read@bench.test", 10); err == nil {
		t.Errorf("fill accepted a mailbox holding more than asked")
	}
}

func TestWaitCountGivesUp(t *testing.T) {
	tg := startFakeMailServer(t)
	b := testBench(t, tg)
	b.opts.waitTimeout = 50 * time.Millisecond
	err := b.waitCount(context.Background(), tg, "nobody@bench.test", 1)
	if err == nil || !strings.Contains(err.Error(), "holds 0 of 1") {
		t.Errorf("waitCount on a mailbox that never fills = %v, want a 'holds 0 of 1' error", err)
	}
}

func TestIdlePhaseRecordsMemoryPerConnection(t *testing.T) {
	tg := startFakeMailServer(t)
	tg.imap = startMemIMAP(t, "read@bench.test", "pw", 2, 1024, nil)
	b := testBench(t, tg)
	b.opts.idleConns = 6
	b.runAll(context.Background(), []string{"idle"})
	if errs := b.res.Errors["peer"]; len(errs) > 0 {
		t.Fatalf("idle phase failed: %v", errs)
	}
	for _, key := range []string{"idle.rss_per_conn", "idle.pss_per_conn", "idle.open_rate"} {
		if _, ok := b.res.get("peer", key); !ok {
			t.Errorf("metric %s missing", key)
		}
	}
	if rate, _ := b.res.get("peer", "idle.open_rate"); rate <= 0 {
		t.Errorf("idle.open_rate = %v, want > 0", rate)
	}
	if b.res.Meta["tls.peer.imap"] != false {
		t.Errorf("tls.peer.imap = %v, want false for a plain server", b.res.Meta["tls.peer.imap"])
	}
}
