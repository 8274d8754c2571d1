package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestServePprofServesProfilesUntilStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := servePprof(ctx, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("GET goroutine profile: %d %.80q", resp.StatusCode, body)
	}
	cancel()
	for range 100 {
		if _, err := http.Get("http://" + addr.String() + "/debug/pprof/"); err != nil {
			return // stopped
		}
	}
	t.Error("pprof still answers after its context ended")
}
