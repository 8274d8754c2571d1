package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerdict(t *testing.T) {
	tests := map[string]struct {
		ratio float64
		b     better
		want  string
	}{
		"twice the throughput is better":        {2, higherBetter, "2.00x better"},
		"half the throughput is worse":          {0.5, higherBetter, "2.00x worse"},
		"half the memory is better":             {0.5, lowerBetter, "2.00x better"},
		"four times the CPU is worse":           {4, lowerBetter, "4.00x worse"},
		"the same figure is equal":              {1.001, higherBetter, "equal"},
		"zero memory against some is better":    {0, lowerBetter, "better"},
		"zero throughput against some is worse": {0, higherBetter, "worse"},
		"memory that shrank (noise) is better":  {-0.03, lowerBetter, "better"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := verdict(tc.ratio, tc.b); got != tc.want {
				t.Errorf("verdict(%v, %s) = %q, want %q", tc.ratio, tc.b, got, tc.want)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	tests := map[string]struct {
		v    float64
		want string
	}{
		"large figures lose their decimals": {12345.678, "12346"},
		"tens keep one decimal":             {43.94, "43.9"},
		"units keep two":                    {5.314, "5.31"},
		"fractions keep three":              {0.30227, "0.302"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := formatValue(tc.v); got != tc.want {
				t.Errorf("formatValue(%v) = %q, want %q", tc.v, got, tc.want)
			}
		})
	}
}

func TestReportTableAndJSON(t *testing.T) {
	r := newResults()
	r.Targets = []targetInfo{{Name: "kubemail", Label: "kubemail"}, {Name: "peer", Label: "postfix+dovecot"}}
	rate := metricDef{"ingest.rate", "SMTP ingest", "msgs/s", higherBetter}
	rss := metricDef{"ingest.rss", "peak RSS", "MiB", lowerBetter}
	idle := metricDef{"idle.rss", "idle RSS", "KiB", lowerBetter}
	r.set("kubemail", rate, 500)
	r.set("peer", rate, 250)
	r.set("kubemail", rss, 100)
	r.set("peer", rss, 400)
	r.set("peer", idle, 560)
	r.fail("kubemail", "idle", errors.New("dialing IMAP 127.0.0.1:22143: connection refused"))

	var out strings.Builder
	if err := r.writeTable(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	wantRows := []struct{ prefix, contains string }{
		{"metric", "postfix+dovecot"},
		{"SMTP ingest (msgs/s)", "2.00x better"},
		{"peak RSS (MiB)", "4.00x better"},
		{"idle RSS (KiB)", "560"},
		{"kubemail: idle failed", "connection refused"},
	}
	if len(lines) != len(wantRows) {
		t.Fatalf("table has %d lines, want %d:\n%s", len(lines), len(wantRows), out.String())
	}
	for i, w := range wantRows {
		if !strings.HasPrefix(lines[i], w.prefix) || !strings.Contains(lines[i], w.contains) {
			t.Errorf("line %d = %q, want prefix %q containing %q", i, lines[i], w.prefix, w.contains)
		}
	}
	if !strings.Contains(lines[3], " - ") {
		t.Errorf("a figure missing for kubemail is not shown as '-': %q", lines[3])
	}

	if n := r.failures(); n != 1 {
		t.Errorf("failures() = %d, want 1", n)
	}

	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.writeJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Values map[string]map[string]float64
		Ratios map[string]float64
		Errors map[string]map[string]string
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Ratios["ingest.rate"] != 2 || got.Ratios["ingest.rss"] != 0.25 {
		t.Errorf("ratios = %v, want ingest.rate 2 and ingest.rss 0.25", got.Ratios)
	}
	if _, ok := got.Ratios["idle.rss"]; ok {
		t.Errorf("a ratio was recorded for a metric kubemail did not report")
	}
	if got.Values["peer"]["idle.rss"] != 560 || got.Errors["kubemail"]["idle"] == "" {
		t.Errorf("values or errors lost in JSON: %s", b)
	}
}
