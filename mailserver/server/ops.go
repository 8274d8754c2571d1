package server

import (
	"context"
	"errors"
	"fmt"
	"net"
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

// startupOps serves the ops endpoints at ConfigSecret.StartupOpsAddress
// while Run waits for the first configuration (/readyz says not ready); the
// returned function stops it, freeing the address for the configuration's
// ops listener. Without that address it does nothing.
func (s *Server) startupOps(ctx context.Context) (stop func(), err error) {
	addr := s.opts.ConfigSecret.StartupOpsAddress
	if addr == "" {
		return func() {}, nil
	}
	if l := s.opts.ConfigSecret.Local; l != nil && len(l.Publish) > 0 {
		if addr, err = l.PublishedAddr(addr); err != nil {
			return nil, fmt.Errorf("the startup ops address: %w", err)
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for the ops endpoints until the configuration is found: %w", err)
	}
	srv := s.newOpsServer()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("The startup ops endpoint stopped", "error", err)
		}
	}()
	s.log.Info("Serving the ops endpoints until the configuration is found", "address", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx) // in-flight probes finish; idle ones close
		<-done
	}, nil
}
