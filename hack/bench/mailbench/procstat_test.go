package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := map[string]struct {
		line    string
		want    procStat
		wantErr bool
	}{
		"a plain command": {
			line: "123 (master) S 1 123 123 0 -1 4194560 500 0 0 0 7 3 2 1 20 0 1 0 100 1000 200",
			want: procStat{pid: 123, ppid: 1, cpuTicks: 7 + 3 + 2 + 1},
		},
		"a command name with spaces and parentheses": {
			line: "77 (dovecot/imap (x) y) S 42 77 77 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 100 1000 200",
			want: procStat{pid: 77, ppid: 42, cpuTicks: 150},
		},
		"a truncated line":  {line: "1 (init) S 0 1", wantErr: true},
		"no command at all": {line: "garbage", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.line))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("parseStat = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// fakeProc writes a /proc-like tree: pid → (ppid, cpu ticks, VmRSS KiB, Pss KiB).
func fakeProc(t *testing.T, procs map[int][4]int) string {
	t.Helper()
	root := t.TempDir()
	for pid, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := strconv.Itoa(pid) + " (daemon) S " + strconv.Itoa(p[0]) + " 0 0 0 -1 0 0 0 0 0 " + strconv.Itoa(p[1]) + " 0 0 0 20 0 1 0 1 1 1\n"
		status := "Name:\tdaemon\nVmRSS:\t   " + strconv.Itoa(p[2]) + " kB\nThreads:\t1\n"
		rollup := "00400000-7fff [rollup]\nRss:  1 kB\nPss:     " + strconv.Itoa(p[3]) + " kB\n"
		for name, content := range map[string]string{"stat": stat, "status": status, "smaps_rollup": rollup} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "self"), 0o755); err != nil { // a non-numeric entry, as in /proc
		t.Fatal(err)
	}
	return root
}

func TestServerProcsSumsTheTreeOnly(t *testing.T) {
	root := fakeProc(t, map[int][4]int{
		1:  {0, 1000, 5000, 5000}, // init: not a server process
		10: {1, 100, 1000, 400},   // master
		11: {10, 20, 2000, 300},   // child
		12: {11, 3, 3000, 200},    // grandchild
		20: {1, 7000, 9000, 9000}, // an unrelated daemon
		30: {1, 5, 100, 50},       // a second master (e.g. Dovecot beside Postfix)
	})
	pidFile := filepath.Join(t.TempDir(), "master.pid")
	if err := os.WriteFile(pidFile, []byte("        30\n"), 0o644); err != nil { // Postfix pads its pid
		t.Fatal(err)
	}
	s := serverProcs{pids: []int{10}, pidFiles: []string{pidFile}, procRoot: root}
	cpu, err := s.cpuSeconds()
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(100+20+3+5) / clockTicks; cpu != want {
		t.Errorf("cpuSeconds = %v, want %v", cpu, want)
	}
	m, err := s.memory(true)
	if err != nil {
		t.Fatal(err)
	}
	if want := (memory{rssKiB: 1000 + 2000 + 3000 + 100, pssKiB: 400 + 300 + 200 + 50, procs: 4}); m != want {
		t.Errorf("memory = %+v, want %+v", m, want)
	}
}

func TestServerProcsErrors(t *testing.T) {
	root := fakeProc(t, map[int][4]int{1: {0, 0, 0, 0}})
	tests := map[string]serverProcs{
		"no pid at all is refused":             {procRoot: root},
		"a pid that does not run is an error":  {pids: []int{4242}, procRoot: root},
		"a missing pid file is an error":       {pidFiles: []string{filepath.Join(root, "none.pid")}, procRoot: root},
		"a pid file without a number is error": {pidFiles: []string{filepath.Join(root, "1", "status")}, procRoot: root},
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := s.tree(); err == nil {
				t.Errorf("tree() succeeded, want an error")
			}
		})
	}
}

func TestServerProcsFollowsRealChildren(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary on this machine")
	}
	cmd := exec.Command(sleep, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	s := serverProcs{pids: []int{os.Getpid()}}
	procs, err := s.tree()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range procs {
		if p.pid == cmd.Process.Pid && p.ppid == os.Getpid() {
			found = true
		}
	}
	if !found {
		t.Errorf("child %d missing from the tree of %d: %+v", cmd.Process.Pid, os.Getpid(), procs)
	}
	m, err := s.memory(true)
	if err != nil {
		t.Fatal(err)
	}
	if m.procs < 2 || m.rssKiB <= 0 {
		t.Errorf("memory = %+v, want the test and its child with some RSS", m)
	}
	if err := s.settle(5*time.Millisecond, time.Second); err != nil {
		t.Errorf("settle: %v", err)
	}
	sampler := s.sampleMemory(5 * time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	peak, err := sampler.finish()
	if err != nil || peak.rssKiB <= 0 || peak.pssKiB <= 0 {
		t.Errorf("sampled peak = %+v, %v; want positive RSS and Pss", peak, err)
	}
}

func TestReadKiBField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status")
	if err := os.WriteFile(path, []byte("Name:\tx\nVmRSS:\t  2048 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if v, err := readKiBField(path, "VmRSS:"); err != nil || v != 2048 {
		t.Errorf("VmRSS = %d, %v; want 2048", v, err)
	}
	if _, err := readKiBField(path, "Pss:"); err == nil || !strings.Contains(err.Error(), "no Pss:") {
		t.Errorf("a missing field gave %v, want a 'no Pss:' error", err)
	}
}
