package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100 on every Linux ABI Go supports.
const clockTicks = 100

// serverProcs names a server's processes: the roots (a pid, or a pid file read at every sample so a
// restarted master is followed) and, at each sample, every live descendant of them.
type serverProcs struct {
	pids     []int
	pidFiles []string
	procRoot string // "/proc", replaceable in tests
}

// roots returns the root pids that exist now.
func (s serverProcs) roots() ([]int, error) {
	roots := append([]int(nil), s.pids...)
	for _, f := range s.pidFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading pid file %s: %w", f, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("parsing pid file %s: %w", f, err)
		}
		roots = append(roots, pid)
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("no server pid given")
	}
	return roots, nil
}

// procStat is what /proc/PID/stat tells about one process.
type procStat struct {
	pid, ppid int
	// cpuTicks is utime+stime+cutime+cstime: the process's own CPU and that of its reaped children,
	// so the CPU of a daemon process that exited is still counted in its parent.
	cpuTicks int64
}

// parseStat parses the content of /proc/PID/stat (proc(5)); the command name may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return procStat{}, fmt.Errorf("malformed stat line %q", b)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return procStat{}, fmt.Errorf("parsing pid in %q: %w", b, err)
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state); ppid is field 4, utime..cstime are fields 14..17.
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("short stat line %q", b)
	}
	st := procStat{pid: pid}
	if st.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, fmt.Errorf("parsing ppid in %q: %w", b, err)
	}
	for _, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("parsing CPU time in %q: %w", b, err)
		}
		st.cpuTicks += n
	}
	return st, nil
}

// tree returns the stat of every live process that is one of the roots or descends from one.
func (s serverProcs) tree() ([]procStat, error) {
	roots, err := s.roots()
	if err != nil {
		return nil, err
	}
	root := s.procRoot
	if root == "" {
		root = "/proc"
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", root, err)
	}
	all := map[int]procStat{}
	children := map[int][]int{}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		st, err := parseStat(b)
		if err != nil {
			return nil, err
		}
		all[st.pid] = st
		children[st.ppid] = append(children[st.ppid], st.pid)
	}
	var out []procStat
	seen := map[int]bool{}
	queue := append([]int(nil), roots...)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		st, ok := all[pid]
		if !ok || seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, st)
		queue = append(queue, children[pid]...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("server processes %v are not running", roots)
	}
	return out, nil
}

// cpuSeconds is the CPU time (user+system, reaped children included) the server's processes have used.
func (s serverProcs) cpuSeconds() (float64, error) {
	procs, err := s.tree()
	if err != nil {
		return 0, err
	}
	var ticks int64
	for _, p := range procs {
		ticks += p.cpuTicks
	}
	return float64(ticks) / clockTicks, nil
}

// memory is the summed resident (VmRSS) and proportional (Pss) set size of the server's processes, in KiB.
// The RSS sum counts pages shared between a multi-process server's processes once per process; Pss splits
// them, so it is the fairer figure when one server forks and the other does not.
type memory struct {
	rssKiB, pssKiB int64
	procs          int
}

// memory sums VmRSS (/proc/PID/status) and, when withPss, Pss (/proc/PID/smaps_rollup) over the tree.
func (s serverProcs) memory(withPss bool) (memory, error) {
	procs, err := s.tree()
	if err != nil {
		return memory{}, err
	}
	root := s.procRoot
	if root == "" {
		root = "/proc"
	}
	var m memory
	for _, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(p.pid))
		rss, err := readKiBField(filepath.Join(dir, "status"), "VmRSS:")
		if err != nil {
			continue // exited meanwhile, or a kernel thread without memory
		}
		m.rssKiB += rss
		m.procs++
		if withPss {
			if pss, err := readKiBField(filepath.Join(dir, "smaps_rollup"), "Pss:"); err == nil {
				m.pssKiB += pss
			}
		}
	}
	return m, nil
}

// readKiBField returns the value of a "Name:   1234 kB" line of a /proc file.
func readKiBField(path, name string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return 0, fmt.Errorf("no %s line in %s", name, path)
}

// stableMemory samples memory n times, interval apart, and returns the sample with the median RSS.
func (s serverProcs) stableMemory(n int, interval time.Duration) (memory, error) {
	var samples []memory
	for i := range n {
		if i > 0 {
			time.Sleep(interval)
		}
		m, err := s.memory(true)
		if err != nil {
			return memory{}, err
		}
		samples = append(samples, m)
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i].rssKiB < samples[j].rssKiB })
	return samples[len(samples)/2], nil
}

// settle waits, up to limit, until the server's summed RSS stops moving: a garbage-collected server
// returns memory to the system for a while after a heavy phase, which would hide growth measured from
// a baseline taken too early. It samples every interval and accepts three samples in a row that differ
// from the previous one by less than 1% (or 256 KiB).
func (s serverProcs) settle(interval, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	prev, err := s.memory(false)
	if err != nil {
		return err
	}
	for steady := 0; steady < 3 && time.Now().Before(deadline); {
		time.Sleep(interval)
		m, err := s.memory(false)
		if err != nil {
			return err
		}
		diff := m.rssKiB - prev.rssKiB
		if max(diff, -diff) < max(prev.rssKiB/100, 256) {
			steady++
		} else {
			steady = 0
		}
		prev = m
	}
	return nil
}

// memSampler records the peak summed RSS and the peak summed Pss of a server while a load runs.
type memSampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak memory // rssKiB and pssKiB are separate maxima; procs is the count at the RSS peak
	err  error
}

// pssEvery is how many RSS samples go by per Pss sample: reading smaps_rollup walks a process's page
// tables and costs ~0.2 ms per process, so sampling it as often as VmRSS would load the machine under
// test (~12% of a CPU for Postfix+Dovecot's ~150 processes at 10 samples/s).
const pssEvery = 5

// sampleMemory starts sampling RSS every interval, and Pss every pssEvery intervals, until finish is called.
func (s serverProcs) sampleMemory(interval time.Duration) *memSampler {
	r := &memSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for i := 0; ; i++ {
			m, err := s.memory(i%pssEvery == 0)
			r.mu.Lock()
			if err != nil && r.err == nil {
				r.err = err
			}
			if m.rssKiB > r.peak.rssKiB {
				r.peak.rssKiB, r.peak.procs = m.rssKiB, m.procs
			}
			r.peak.pssKiB = max(r.peak.pssKiB, m.pssKiB)
			r.mu.Unlock()
			select {
			case <-r.stop:
				return
			case <-t.C:
			}
		}
	}()
	return r
}

// finish stops sampling and returns the peaks.
func (r *memSampler) finish() (memory, error) {
	close(r.stop)
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peak, r.err
}
