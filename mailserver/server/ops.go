package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Timeouts of the ops HTTP server; its clients are probes and scrapers.
const (
	opsReadHeaderTimeout = 10 * time.Second
	opsWriteTimeout      = 30 * time.Second
	opsIdleTimeout       = 2 * time.Minute
)

// opsHandler serves the health checks and the metrics:
//
//	/healthz  200 while the process runs (liveness)
//	/readyz   200 once the store is open, the configuration loaded and
//	          every listener accepting; 503 before that and from the start
//	          of shutdown (readiness)
//	/metrics  the Prometheus metrics (metrics.go)
func (s *Server) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{
		Registry:      s.metrics.reg,
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return mux
}

func (s *Server) newOpsServer() *http.Server {
	return &http.Server{
		Handler:           s.opsHandler(),
		ReadHeaderTimeout: opsReadHeaderTimeout,
		WriteTimeout:      opsWriteTimeout,
		IdleTimeout:       opsIdleTimeout,
	}
}
