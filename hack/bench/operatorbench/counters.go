package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The counters say where the time of the bulk phase went: the API
// server's writes by resource and verb (its apiserver_request_total), and
// the operator's reconciles by controller (controller-runtime's metrics).

// counters maps "labels" to a counter's value.
type counters map[string]float64

// sub returns c - base, keeping what grew.
func (c counters) sub(base counters) counters {
	out := counters{}
	for k, v := range c {
		if d := v - base[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func (c counters) total() float64 {
	t := 0.0
	for _, v := range c {
		t += v
	}
	return t
}

// top returns the n largest entries, formatted.
func (c counters) top(n int, format func(k string, v float64) string) []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return c[keys[i]] > c[keys[j]] })
	var out []string
	for _, k := range keys[:min(n, len(keys))] {
		out = append(out, format(k, c[k]))
	}
	return out
}

// apiWrites reads the API server's write requests so far, keyed "VERB
// resource[/subresource]".
func apiWrites(ctx context.Context, cfg *rest.Config) (counters, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	out := counters{}
	err = eachSample(strings.NewReader(string(raw)), "apiserver_request_total", func(l map[string]string, v float64) {
		switch l["verb"] {
		case "POST", "PUT", "PATCH", "DELETE", "APPLY":
		default:
			return
		}
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		out[key] += v
	})
	return out, err
}

// reconciles reads the operator's reconciles and their time so far, by
// controller.
func reconciles(ctx context.Context, addr string) (count, seconds counters, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, nil, err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the operator's metrics: %w", err)
	}
	defer resp.Body.Close()
	count, seconds = counters{}, counters{}
	err = eachSample(resp.Body, "", func(l map[string]string, v float64) {
		switch l["__name__"] {
		case "controller_runtime_reconcile_total":
			count[l["controller"]] += v
		case "controller_runtime_reconcile_time_seconds_sum":
			seconds[l["controller"]] += v
		}
	})
	return count, seconds, err
}

// eachSample calls f for each sample of the metric name (all when name
// is empty) in a Prometheus text exposition, with its labels ("__name__"
// too) and value.
func eachSample(r io.Reader, name string, f func(labels map[string]string, v float64)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		series := line[:sp]
		metric, rest, _ := strings.Cut(series, "{")
		if name != "" && metric != name {
			continue
		}
		labels := map[string]string{"__name__": metric}
		for _, kv := range splitLabels(strings.TrimSuffix(rest, "}")) {
			if k, val, ok := strings.Cut(kv, "="); ok {
				labels[k] = strings.Trim(val, `"`)
			}
		}
		f(labels, v)
	}
	return sc.Err()
}

// splitLabels splits `a="x",b="y,z"` at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port free now.
func freeLoopbackAddr(ctx context.Context) (string, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// cpuByProcess returns the CPU seconds (user and system) each process
// under root (root included) has used so far, keyed "name (pid)".
func cpuByProcess(root int) counters {
	children := map[int][]int{}
	names := map[int]string{}
	cpu := map[int]float64{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime stime: fields 14 and 15, counted
		// after the parenthesised name, which may hold spaces.
		s := string(raw)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if len(fields) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		utime, _ := strconv.ParseFloat(fields[11], 64)
		stime, _ := strconv.ParseFloat(fields[12], 64)
		names[pid] = s[open+1 : closing]
		cpu[pid] = (utime + stime) / clockTicks
		children[ppid] = append(children[ppid], pid)
	}
	out := counters{}
	var walk func(pid int)
	walk = func(pid int) {
		if name, ok := names[pid]; ok {
			out[fmt.Sprintf("%s (%d)", name, pid)] = cpu[pid]
		}
		for _, c := range children[pid] {
			walk(c)
		}
	}
	walk(root)
	return out
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100
