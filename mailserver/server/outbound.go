package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/msgauth"
	"github.com/kubemail/kubemail/mailserver/queue"
	"github.com/kubemail/kubemail/mailserver/resolver"
	"github.com/kubemail/kubemail/mailserver/store"
)

// outbound is the outbound side of the server (package queue): the Intake
// the SMTP servers deliver through, the queue workers, the inbound
// message checks of the MX listener and the admin API.
type outbound struct {
	queue    *queue.Queue
	deliver  deliverer
	checker  *msgauth.Checker
	admin    http.Handler
	resolver string // the DNS server asked, for the log
}

// newOutbound builds the outbound side on st. The resolver is built once:
// outbound.resolver takes effect at the next start (see reload.go).
func (s *Server) newOutbound(cfg *config.Config, st store.Queue) (*outbound, error) {
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
	intake, err := queue.NewIntake(queue.IntakeOptions{Store: st, Config: s.serving, Queue: q,
		Signer: msgauth.NewSigner(), Logger: s.log.With("component", "delivery")})
	if err != nil {
		return nil, err
	}
	return &outbound{
		queue:    q,
		deliver:  deliverer{intake: intake, metrics: s.metrics},
		checker:  msgauth.NewChecker(msgauth.CheckerOptions{Resolver: r, AuthServID: cfg.Hostname, Logger: s.log.With("component", "msgauth")}),
		admin:    queue.NewAdminHandler(queue.AdminOptions{Store: st, Queue: q, Logger: s.log.With("component", "admin")}),
		resolver: r.Server(),
	}, nil
}

// deliverer is the SMTP servers' Deliverer and Relayer: the Intake, with
// the commit latency observed.
type deliverer struct {
	intake  *queue.Intake
	metrics *metrics
}

var (
	_ mail.Deliverer = deliverer{}
	_ mail.Relayer   = deliverer{}
)

// Deliver implements mail.Deliverer.
func (d deliverer) Deliver(ctx context.Context, env mail.Envelope, body []byte) error {
	start := time.Now()
	err := d.intake.Deliver(ctx, env, body)
	d.metrics.commit.Observe(time.Since(start).Seconds())
	return err
}

// RelayAllowed implements mail.Relayer.
func (d deliverer) RelayAllowed(ip netip.Addr) bool { return d.intake.RelayAllowed(ip) }

// AllowRelay implements mail.Relayer.
func (d deliverer) AllowRelay(ctx context.Context, sender string) error {
	return d.intake.AllowRelay(ctx, sender)
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
