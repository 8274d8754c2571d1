package imap

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

// Environment of the IDLE client helper process (see TestMain).
const (
	envIdleAddr  = "KUBEMAIL_IMAP_BENCH_IDLE_ADDR"
	envIdleCA    = "KUBEMAIL_IMAP_BENCH_IDLE_CA"
	envIdleConns = "KUBEMAIL_IMAP_BENCH_IDLE_CONNS"
)

// TestMain doubles as the client side of BenchmarkIdleConnectionMemory:
// run with envIdleAddr set, the test binary opens that many IDLE sessions
// and holds them until its stdin closes, so the clients' memory is not
// counted with the server's.
func TestMain(m *testing.M) {
	if addr := os.Getenv(envIdleAddr); addr != "" {
		n, _ := strconv.Atoi(os.Getenv(envIdleConns))
		if err := holdIdleClients(addr, os.Getenv(envIdleCA), n); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func holdIdleClients(addr, caFile string, n int) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	conns := make([]*tls.Conn, 0, n)
	for i := range n {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns = append(conns, c)
		r := bufio.NewReader(c)
		_, _ = io.WriteString(c, "a LOGIN alice@example.com secret\r\nb SELECT INBOX\r\nc IDLE\r\n")
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			if strings.HasPrefix(l, "+ ") {
				break
			}
			if strings.HasPrefix(l, "a NO") || strings.HasPrefix(l, "b NO") {
				return fmt.Errorf("connection %d: %s", i, l)
			}
		}
	}
	fmt.Println("READY")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.Close()
	}
	return nil
}

// BenchmarkIdleConnectionMemory reports the server's live heap and stack
// per logged-in connection in IDLE on a selected folder (over TLS), with
// one message and with 10,000 in the folder: the sessions share the
// folder's UID list (snapshots), so the second costs about the first.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	for _, messages := range []int{1, 10000} {
		b.Run(fmt.Sprintf("messages=%d", messages), func(b *testing.B) {
			ts := newTestServer(b, func(o *Options) {
				o.MaxConnsPerIP, o.MaxConnsPerUser = -1, -1
				o.Logger = slog.New(slog.DiscardHandler)
			})
			fillInbox(b, ts, messages)
			for range b.N {
				measureIdle(b, ts)
			}
		})
	}
}

func measureIdle(b *testing.B, ts *testServer) {
	const conns = 1000
	before := liveBytes()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envIdleAddr+"="+ts.tls, envIdleCA+"="+ts.pki.CAFile,
		envIdleConns+"="+strconv.Itoa(conns))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	if l, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || l != "READY\n" {
		b.Fatalf("client helper: %q %v", l, err)
	}
	time.Sleep(200 * time.Millisecond) // let the last IDLE goroutines park
	after := liveBytes()
	_ = stdin.Close()
	_ = cmd.Wait()
	b.ReportMetric(float64(after.heap-before.heap)/conns, "heap-B/conn")
	b.ReportMetric(float64(after.stack-before.stack)/conns, "stack-B/conn")
	b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/conns, "B/conn")
}

type live struct{ heap, stack uint64 }

// cpuTime is the process's user+system CPU time: on a loaded machine it
// is steadier than wall time. It includes the in-process test client.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation of the rest of a benchmark.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64((cpuTime()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}

func liveBytes() live {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return live{heap: ms.HeapAlloc, stack: ms.StackInuse}
}

// benchMessage is about 10 KiB with the headers a real message carries.
func benchMessage(i int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Received: from mx.example.org (mx.example.org [192.0.2.%d])\r\n\tby imap.example.com with ESMTPS id %d\r\n\tfor <alice@example.com>; Tue, 14 May 2024 10:00:00 +0000\r\n", i%250, i)
	fmt.Fprintf(&sb, "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from:to:subject:date; bh=%s; b=%s\r\n",
		strings.Repeat("A", 44), strings.Repeat("B", 340))
	fmt.Fprintf(&sb, "Date: Tue, 14 May 2024 10:%02d:00 +0000\r\nFrom: Sender %d <sender%d@example.org>\r\n", i%60, i, i)
	fmt.Fprintf(&sb, "To: Alice <alice@example.com>\r\nCc: team@example.com\r\nSubject: Message number %d about the quarterly numbers\r\n", i)
	fmt.Fprintf(&sb, "Message-ID: <%d@example.org>\r\nIn-Reply-To: <%d@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", i, i-1)
	line := strings.Repeat("lorem ipsum dolor sit amet ", 3) + "\r\n"
	for sb.Len() < 10<<10 {
		sb.WriteString(line)
	}
	return sb.String()
}

func fillInbox(b testing.TB, ts *testServer, n int) {
	b.Helper()
	ctx := context.Background()
	if _, err := ts.store.EnsureAccount(ctx, "alice@example.com"); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	work := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				_, err := ts.store.Submit(ctx, store.Submission{Body: []byte(benchMessage(i)),
					Local: []store.DeliveryTarget{{Account: "alice@example.com"}}})
				if err != nil {
					panic(err)
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// BenchmarkLargeFolder measures SELECT and FETCH 1:* (FLAGS RFC822.SIZE
// ENVELOPE) on a 10,000-message INBOX, with the parse cache cold (every
// header read from the store and parsed) and warm.
func BenchmarkLargeFolder(b *testing.B) {
	const n = 10000
	ts := newTestServer(b)
	fillInbox(b, ts, n)
	w := ts.login(b, "alice@example.com", "secret")
	w.ok("SELECT INBOX")
	fetch := func(b *testing.B) {
		if got := w.countResponses("FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)"); got != n {
			b.Fatalf("%d responses", got)
		}
	}
	// A SELECT that finds the folder's snapshot shared by another session
	// (here: its own previous SELECT), and one that reads the index.
	b.Run("select", func(b *testing.B) {
		defer reportCPU(b)()
		for range b.N {
			if lines := w.ok("SELECT INBOX"); !has(lines, fmt.Sprintf("* %d EXISTS", n)) {
				b.Fatalf("SELECT: %q", lines[:3])
			}
		}
	})
	b.Run("select-cold", func(b *testing.B) {
		var cpu time.Duration
		for range b.N {
			b.StopTimer()
			ts.srv.snapshots = newSnapshots()
			start := cpuTime()
			b.StartTimer()
			if lines := w.ok("SELECT INBOX"); !has(lines, fmt.Sprintf("* %d EXISTS", n)) {
				b.Fatalf("SELECT: %q", lines[:3])
			}
			cpu += cpuTime() - start
		}
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	})
	b.Run("fetch-envelope-cold", func(b *testing.B) {
		var cpu time.Duration
		for range b.N {
			b.StopTimer()
			ts.srv.cache, ts.srv.headers = newParseCache(DefaultCacheBytes), newHeaderCache(DefaultHeaderCacheBytes)
			start := cpuTime()
			b.StartTimer()
			fetch(b)
			cpu += cpuTime() - start
		}
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	})
	b.Run("fetch-envelope-warm", func(b *testing.B) {
		ts.srv.cache, ts.srv.headers = newParseCache(DefaultCacheBytes), newHeaderCache(DefaultHeaderCacheBytes)
		before := liveBytes()
		fetch(b)
		heap := float64(liveBytes().heap-before.heap) / n
		b.ResetTimer()
		defer reportCPU(b)()
		for range b.N {
			fetch(b)
		}
		// Both caches: the ENVELOPE fetch fills the header cache too.
		b.ReportMetric(heap, "cache-heap-B/msg")
		b.ReportMetric(float64(ts.srv.cache.used+ts.srv.headers.bytes())/n, "cache-est-B/msg")
	})
	// What Thunderbird asks for instead of ENVELOPE: from the header cache
	// the ENVELOPE fetches filled, and from the store.
	fields := "FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS " +
		"(From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])"
	b.Run("fetch-header-fields", func(b *testing.B) {
		defer reportCPU(b)()
		for range b.N {
			if got := w.countResponses(fields); got != n {
				b.Fatalf("%d responses", got)
			}
		}
	})
	b.Run("fetch-header-fields-cold", func(b *testing.B) {
		var cpu time.Duration
		for range b.N {
			b.StopTimer()
			ts.srv.headers = newHeaderCache(DefaultHeaderCacheBytes)
			start := cpuTime()
			b.StartTimer()
			if got := w.countResponses(fields); got != n {
				b.Fatalf("%d responses", got)
			}
			cpu += cpuTime() - start
		}
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	})
	// One message, as a client opening a new message does: latency, not
	// throughput.
	b.Run("fetch-one-envelope-cold", func(b *testing.B) {
		var cpu time.Duration
		for i := range b.N {
			b.StopTimer()
			ts.srv.cache, ts.srv.headers = newParseCache(DefaultCacheBytes), newHeaderCache(DefaultHeaderCacheBytes)
			start := cpuTime()
			b.StartTimer()
			if got := w.countResponses(fmt.Sprintf("FETCH %d (FLAGS RFC822.SIZE ENVELOPE)", i%n+1)); got != 1 {
				b.Fatalf("%d responses", got)
			}
			cpu += cpuTime() - start
		}
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	})
	// A client's quick filter: one header field over the whole folder,
	// with the headers cached by the ENVELOPE fetch a client makes first,
	// and read from the store.
	b.Run("search-header", func(b *testing.B) {
		fetch(b)
		b.ResetTimer()
		defer reportCPU(b)()
		for range b.N {
			if got := w.countResponses("UID SEARCH HEADER Subject 4242"); got != 1 {
				b.Fatalf("%d responses", got)
			}
		}
	})
	b.Run("search-header-cold", func(b *testing.B) {
		var cpu time.Duration
		for range b.N {
			b.StopTimer()
			ts.srv.cache, ts.srv.headers = newParseCache(DefaultCacheBytes), newHeaderCache(DefaultHeaderCacheBytes)
			start := cpuTime()
			b.StartTimer()
			if got := w.countResponses("UID SEARCH HEADER Subject 4242"); got != 1 {
				b.Fatalf("%d responses", got)
			}
			cpu += cpuTime() - start
		}
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	})
	b.Run("fetch-bodies", func(b *testing.B) {
		defer reportCPU(b)()
		for range b.N {
			if got := w.countResponses("FETCH 1:* BODY.PEEK[]"); got != n {
				b.Fatalf("%d responses", got)
			}
		}
	})
	b.Run("fetch-flags", func(b *testing.B) {
		defer reportCPU(b)()
		for range b.N {
			if got := w.countResponses("FETCH 1:* (UID FLAGS)"); got != n {
				b.Fatalf("%d responses", got)
			}
		}
	})
}

// countResponses runs a command that must succeed and counts its untagged
// responses cheaply, so a benchmark measures the server rather than the
// client; literals are skipped.
func (w *wire) countResponses(command string) int {
	w.t.Helper()
	w.n++
	tag := fmt.Sprintf("t%d ", w.n)
	w.send(tag + command + "\r\n")
	_ = w.conn.SetReadDeadline(time.Now().Add(time.Minute))
	n := 0
	for {
		l, err := w.r.ReadSlice('\n')
		if err != nil {
			w.t.Fatalf("%s: %v", command, err)
		}
		if strings.HasPrefix(string(l), tag) {
			if !strings.HasPrefix(string(l[len(tag):]), "OK") {
				w.t.Fatalf("%s: %q", command, l)
			}
			return n
		}
		n++
		// A literal ends its line with "{size}": skip it and the rest of
		// the response after it, which may hold more literals.
		for bytes.HasSuffix(l, []byte("}\r\n")) {
			i := bytes.LastIndexByte(l, '{')
			size, err := strconv.Atoi(string(l[i+1 : len(l)-3]))
			if err != nil {
				w.t.Fatalf("%s: literal %q", command, l)
			}
			if _, err := w.r.Discard(size); err != nil {
				w.t.Fatalf("%s: %v", command, err)
			}
			if l, err = w.r.ReadSlice('\n'); err != nil {
				w.t.Fatalf("%s: %v", command, err)
			}
		}
	}
}
