package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/delivery"
	"github.com/kubemail/kubemail/mailserver/msgauth"
	"github.com/kubemail/kubemail/mailserver/queue"
	"github.com/kubemail/kubemail/mailserver/resolver"
	"github.com/kubemail/kubemail/mailserver/store"
)

// backend is what the server needs of its store backend: the mail store
// and the outbound queue kept beside it.
type backend interface {
	store.Store
	store.Queue
}

// outbound is the mail path of the server: the Intake (package delivery)
// the SMTP servers resolve recipients with and deliver through, the queue
// workers (package queue), the inbound message checks of the MX listener
// and the admin API.
type outbound struct {
	queue    *queue.Queue
	intake   *delivery.Intake
	checker  *msgauth.Checker
	admin    http.Handler
	resolver string // the DNS server asked, for the log
}

// newOutbound builds the mail path on st. The resolver is built once:
// outbound.resolver takes effect at the next start (see reload.go).
func (s *Server) newOutbound(cfg *config.Config, st backend) (*outbound, error) {
	r, err := resolver.New(resolver.Options{Server: cfg.OutboundPolicy().Resolver})
	if err != nil {
		return nil, fmt.Errorf("creating the DNS resolver (set outbound.resolver to a DNS server's address): %w", err)
	}
	log := s.log.With("component", "queue")
	q, err := queue.New(queue.Options{Store: st, Config: s.serving, Resolver: r, Logger: log,
		Observer: queueObserver{m: s.metrics}})
	if err != nil {
		return nil, err
	}
	intake, err := delivery.New(delivery.Options{Store: st, Config: s.serving, Kick: q.Kick,
		Signer: msgauth.NewSigner(), Logger: s.log.With("component", "delivery"),
		ObserveCommit: func(d time.Duration) { s.metrics.commit.Observe(d.Seconds()) }})
	if err != nil {
		return nil, err
	}
	return &outbound{
		queue:    q,
		intake:   intake,
		checker:  msgauth.NewChecker(msgauth.CheckerOptions{Resolver: r, AuthServID: cfg.Hostname, Logger: s.log.With("component", "msgauth")}),
		admin:    queue.NewAdminHandler(queue.AdminOptions{Store: st, Queue: q, Logger: s.log.With("component", "admin")}),
		resolver: r.Server(),
	}, nil
}

// queueObserver feeds the queue's events into the metrics.
type queueObserver struct{ m *metrics }

// Attempted implements queue.Observer.
func (o queueObserver) Attempted(outcome string) {
	o.m.outbound.WithLabelValues(outcome).Inc()
}

// Panicked implements queue.Observer.
func (o queueObserver) Panicked() { o.m.panics.WithLabelValues("queue").Inc() }

// newAdminServer serves the admin API (listeners.admin, loopback only).
func (s *Server) newAdminServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: opsReadHeaderTimeout,
		WriteTimeout:      opsWriteTimeout,
		IdleTimeout:       opsIdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}
