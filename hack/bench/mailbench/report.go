package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
)

// better says which direction of a metric is an improvement.
type better string

const (
	higherBetter better = "higher"
	lowerBetter  better = "lower"
)

// metricDef describes one row of the report.
type metricDef struct {
	Key    string `json:"key"`
	Title  string `json:"title"`
	Unit   string `json:"unit"`
	Better better `json:"better"`
}

// targetInfo describes a measured server in the JSON report.
type targetInfo struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	SMTP  string `json:"smtp"`
	POP3  string `json:"pop3"`
	IMAP  string `json:"imap"`
}

// results collects every figure of a run; safe for concurrent use.
type results struct {
	mu      sync.Mutex
	Meta    map[string]any                `json:"meta"`
	Targets []targetInfo                  `json:"targets"`
	Metrics []metricDef                   `json:"metrics"`
	Values  map[string]map[string]float64 `json:"values"` // target name → metric key → value
	Errors  map[string]map[string]string  `json:"errors"` // target name → phase → error
	Ratios  map[string]float64            `json:"ratios"` // metric key → kubemail/peer, when both exist
}

func newResults() *results {
	return &results{
		Meta:   map[string]any{},
		Values: map[string]map[string]float64{},
		Errors: map[string]map[string]string{},
		Ratios: map[string]float64{},
	}
}

// set records a value, defining the metric on first use (rows keep the order of first definition).
func (r *results) set(target string, m metricDef, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	known := false
	for _, d := range r.Metrics {
		if d.Key == m.Key {
			known = true
			break
		}
	}
	if !known {
		r.Metrics = append(r.Metrics, m)
	}
	if r.Values[target] == nil {
		r.Values[target] = map[string]float64{}
	}
	r.Values[target][m.Key] = v
}

// note records a fact about the run in the JSON meta.
func (r *results) note(key string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Meta[key] = v
}

// get returns a recorded value.
func (r *results) get(target, key string) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.Values[target][key]
	return v, ok
}

// fail records why a phase produced no figures for a target.
func (r *results) fail(target, phase string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Errors[target] == nil {
		r.Errors[target] = map[string]string{}
	}
	r.Errors[target][phase] = err.Error()
}

// failures counts the phases that failed, over all targets.
func (r *results) failures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, phases := range r.Errors {
		n += len(phases)
	}
	return n
}

// ratio is kubemail's value divided by the peer's, when both are known and the peer's is not zero.
func (r *results) ratio(key string) (float64, bool) {
	k, ok1 := r.Values["kubemail"][key]
	p, ok2 := r.Values["peer"][key]
	if !ok1 || !ok2 || p == 0 {
		return 0, false
	}
	return k / p, true
}

// verdict turns a ratio into words: "2.10x better" or "1.35x worse" for kubemail.
func verdict(ratio float64, b better) string {
	if ratio <= 0 { // kubemail measured nothing (or less than the noise) where the peer measured something
		if b == lowerBetter {
			return "better"
		}
		return "worse"
	}
	f := ratio
	if b == lowerBetter {
		f = 1 / ratio
	}
	switch {
	case math.Abs(f-1) < 0.005:
		return "equal"
	case f > 1:
		return fmt.Sprintf("%.2fx better", f)
	default:
		return fmt.Sprintf("%.2fx worse", 1/f)
	}
}

// formatValue prints a figure with three significant digits at most, and no exponent.
func formatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// writeTable prints one row per metric: metric, one column per target, ratio and verdict.
func (r *results) writeTable(w io.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"metric"}
	for _, t := range r.Targets {
		head = append(head, t.Label)
	}
	both := len(r.Targets) == 2
	if both {
		head = append(head, "ratio k/p", "better", "kubemail is")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, m := range r.Metrics {
		row := []string{m.Title + " (" + m.Unit + ")"}
		for _, t := range r.Targets {
			if v, ok := r.Values[t.Name][m.Key]; ok {
				row = append(row, formatValue(v))
			} else {
				row = append(row, "-")
			}
		}
		if both {
			if q, ok := r.ratio(m.Key); ok {
				row = append(row, formatValue(q), string(m.Better), verdict(q, m.Better))
			} else {
				row = append(row, "-", string(m.Better), "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range r.Targets {
		phases := make([]string, 0, len(r.Errors[t.Name]))
		for phase := range r.Errors[t.Name] {
			phases = append(phases, phase)
		}
		sort.Strings(phases)
		for _, phase := range phases {
			fmt.Fprintf(w, "%s: %s failed: %s\n", t.Label, phase, r.Errors[t.Name][phase])
		}
	}
	return nil
}

// writeJSON writes the whole result set.
func (r *results) writeJSON(path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.Metrics {
		if q, ok := r.ratio(m.Key); ok {
			r.Ratios[m.Key] = q
		}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing results to %s: %w", path, err)
	}
	return nil
}
