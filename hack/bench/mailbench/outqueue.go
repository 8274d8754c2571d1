package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// diskUsage is what the files under a directory occupy.
type diskUsage struct {
	files     int
	apparent  int64 // sum of file sizes
	allocated int64 // sum of allocated blocks (du), what the queue costs the disk
}

// dirUsage walks dir and sums its regular files.
func dirUsage(dir string) (diskUsage, error) {
	var u diskUsage
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking (a queue file delivered or moved)
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		u.files++
		u.apparent += info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			u.allocated += st.Blocks * 512 // st_blocks is in 512-byte units (stat(2))
		} else {
			u.allocated += info.Size()
		}
		return nil
	})
	if err != nil {
		return diskUsage{}, fmt.Errorf("measuring %s: %w", dir, err)
	}
	return u, nil
}

// countFiles counts the regular files under dir (recursively; a missing dir holds none).
func countFiles(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n, err
}

// postfixQueued checks a Postfix queue directory: done when nothing waits in maildrop, incoming or
// active and at least want messages sit in deferred (each queue file is one message).
func postfixQueued(queueDir string, want int) (bool, string, error) {
	var waiting int
	for _, q := range []string{"maildrop", "incoming", "active"} {
		n, err := countFiles(filepath.Join(queueDir, q))
		if err != nil {
			return false, "", fmt.Errorf("counting Postfix's %s queue: %w", q, err)
		}
		waiting += n
	}
	if waiting > 0 {
		return false, fmt.Sprintf("%d messages in maildrop, incoming or active", waiting), nil
	}
	deferred, err := countFiles(filepath.Join(queueDir, "deferred"))
	if err != nil {
		return false, "", fmt.Errorf("counting Postfix's deferred queue: %w", err)
	}
	return deferred >= want, fmt.Sprintf("%d messages deferred", deferred), nil
}

// promValue returns the value of the sample name{labels} (labels as written, e.g. `outcome="deferred"`,
// empty for none) in a Prometheus text exposition.
func promValue(r io.Reader, name, labels string) (float64, bool, error) {
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, want)
		if !ok || !strings.HasPrefix(rest, " ") {
			continue
		}
		f := strings.Fields(rest)
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, false, fmt.Errorf("parsing %q: %w", line, err)
		}
		return v, true, nil
	}
	return 0, false, sc.Err()
}

// opsMetric reads one sample from the kubemail ops endpoint's /metrics; a sample that is absent
// (a counter never incremented) reads as 0.
func opsMetric(ctx context.Context, ops, name, labels string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ops+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading kubemail's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("reading kubemail's metrics: %s", resp.Status)
	}
	v, _, err := promValue(resp.Body, name, labels)
	return v, err
}

// swapFile replaces path by content atomically (a new file renamed over it, as editors and
// Kubernetes volume updates do), so a watching server reads it whole.
func swapFile(path string, content []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".swap-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// stopRoots sends SIGTERM to the server's root processes and waits, up to limit, until they exited.
func stopRoots(p serverProcs, limit time.Duration) error {
	roots, err := p.roots()
	if err != nil {
		return err
	}
	for _, pid := range roots {
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stopping pid %d: %w", pid, err)
		}
	}
	deadline := time.Now().Add(limit)
	for _, pid := range roots {
		for alive(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("pid %d still runs %s after SIGTERM", pid, limit)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	end := strings.LastIndexByte(string(b), ')')
	return end < 0 || !strings.HasPrefix(strings.TrimSpace(string(b[end+1:])), "Z")
}

// queue measures r with -queue-messages queued for a destination that is down (the sink is closed):
// the rate of 250s, the CPU until the queue settled, memory and disk once it has.
func (b *outbench) queue(ctx context.Context, r *relay) error {
	n := b.o.queueMessages
	b.waitIdle(ctx, r, 30*time.Second)
	if err := r.procs.settle(time.Second, 20*time.Second); err != nil {
		return err
	}
	idle, err := r.procs.stableMemory(3, time.Second)
	if err != nil {
		return err
	}
	disk0, err := dirUsage(r.queueDir)
	if err != nil {
		return err
	}
	if err := r.probe.begin(ctx); err != nil {
		return err
	}
	cpu0, err := r.procs.cpuSeconds()
	if err != nil {
		return err
	}
	sampler := r.procs.sampleMemory(b.o.sample)
	start := time.Now()
	err = sendAll(ctx, sendOptions{addr: r.smtp, from: "sender@mailbench.test", to: "queue-" + r.name + "@" + b.o.domain,
		count: n, sessions: b.o.queueSessions, size: b.o.size, run: b.o.run + "." + r.name + ".queue", timeout: b.o.ioTimeout})
	accepted := time.Since(start)
	var settled bool
	var detail string
	if err == nil {
		b.log.Info("Queue load acknowledged; waiting for the queue to settle", "target", r.name, "messages", n, "in", accepted.Round(time.Millisecond))
		settled, detail, err = b.waitQueued(ctx, r, n)
	}
	settledIn := time.Since(start)
	peak, serr := sampler.finish()
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("sampling memory: %w", serr)
	}
	cpu1, err := r.procs.cpuSeconds()
	if err != nil {
		return err
	}
	if err := r.procs.settle(time.Second, 30*time.Second); err != nil {
		return err
	}
	mem, err := r.procs.stableMemory(5, time.Second)
	if err != nil {
		return err
	}
	disk, err := dirUsage(r.queueDir)
	if err != nil {
		return err
	}
	var rest memory
	if b.o.queueRest > 0 {
		// The load's leftovers go away with time: Postfix's idle smtpd and cleanup processes exit after
		// max_idle (100s), a Go heap is returned to the system by the scavenger. Memory at rest is what
		// holding the queue costs.
		b.log.Info("Letting the relay rest before measuring again", "target", r.name, "for", b.o.queueRest)
		if err := sleepCtx(ctx, b.o.queueRest); err != nil {
			return err
		}
		if rest, err = r.procs.stableMemory(5, time.Second); err != nil {
			return err
		}
	}
	title := fmt.Sprintf("Queue of %d, destination down", n)
	set := func(key, what, unit string, bt better, v float64) {
		b.res.set(r.name, metricDef{"queue." + key, title + ": " + what, unit, bt}, v)
	}
	set("accept_rate", "acknowledged (250)", "msgs/s", higherBetter, float64(n)/accepted.Seconds())
	set("cpu_per_msg", "relay CPU per message until settled", "ms", lowerBetter, (cpu1-cpu0)*1000/float64(n))
	set("peak_rss", "peak relay RSS while queueing", "MiB", lowerBetter, float64(peak.rssKiB)/1024)
	set("idle_rss", "relay RSS before queueing", "MiB", lowerBetter, float64(idle.rssKiB)/1024)
	set("rss", "relay RSS, settled", "MiB", lowerBetter, float64(mem.rssKiB)/1024)
	set("pss", "relay Pss, settled", "MiB", lowerBetter, float64(mem.pssKiB)/1024)
	if b.o.queueRest > 0 {
		rested := fmt.Sprintf("%s later", b.o.queueRest)
		set("rest_rss", "relay RSS, "+rested, "MiB", lowerBetter, float64(rest.rssKiB)/1024)
		set("rest_pss", "relay Pss, "+rested, "MiB", lowerBetter, float64(rest.pssKiB)/1024)
		b.res.note("queue."+r.name+".rest_processes", rest.procs)
	}
	set("disk", "disk used by the queue", "MiB", lowerBetter, float64(disk.allocated)/(1<<20))
	set("disk_per_msg", "disk per queued message", "KiB", lowerBetter, float64(disk.allocated-disk0.allocated)/1024/float64(n))
	b.res.note("queue."+r.name+".settled", settled)
	b.res.note("queue."+r.name+".settle_detail", detail)
	b.res.note("queue."+r.name+".settled_after_s", settledIn.Seconds())
	b.res.note("queue."+r.name+".idle_pss_mib", float64(idle.pssKiB)/1024)
	b.res.note("queue."+r.name+".processes", mem.procs)
	b.res.note("queue."+r.name+".disk_before", map[string]int64{"files": int64(disk0.files), "apparent": disk0.apparent, "allocated": disk0.allocated})
	b.res.note("queue."+r.name+".disk_after", map[string]int64{"files": int64(disk.files), "apparent": disk.apparent, "allocated": disk.allocated})
	if !settled {
		b.log.Warn("The queue did not settle in time; measured anyway", "target", r.name, "after", b.o.settleTimeout, "state", detail)
	}
	b.log.Info("Queue measured", "target", r.name, "messages", n, "accepted_in", accepted.Round(time.Millisecond),
		"settled_in", settledIn.Round(time.Second), "state", detail, "rss_mib", mem.rssKiB/1024, "pss_mib", mem.pssKiB/1024,
		"processes", mem.procs, "disk_mib", disk.allocated>>20, "files", disk.files)
	if b.o.stopAfter {
		b.log.Info("Stopping the relay (its queue is measured)", "target", r.name)
		if err := stopRoots(r.procs, time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// waitQueued waits until r's probe says all want messages wait for a retry and r has been idle for
// three seconds in a row, or -settle-timeout passed (then settled is false).
func (b *outbench) waitQueued(ctx context.Context, r *relay, want int) (settled bool, detail string, err error) {
	deadline := time.Now().Add(b.o.settleTimeout)
	prev, err := r.procs.cpuSeconds()
	if err != nil {
		return false, "", err
	}
	lastLog := time.Now()
	for quiet := 0; quiet < 3; {
		if err := sleepCtx(ctx, time.Second); err != nil {
			return false, detail, err
		}
		cur, err := r.procs.cpuSeconds()
		if err != nil {
			return false, detail, err
		}
		done, d, err := r.probe.settled(ctx, want)
		if err != nil {
			return false, detail, err
		}
		detail = d
		if done && cur-prev < b.o.idleCPU {
			quiet++
		} else {
			quiet = 0
		}
		prev = cur
		if time.Since(lastLog) >= 30*time.Second {
			b.log.Info("Waiting for the queue to settle", "target", r.name, "state", detail)
			lastLog = time.Now()
		}
		if time.Now().After(deadline) {
			return false, detail, nil
		}
	}
	return true, detail, nil
}
