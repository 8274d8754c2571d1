package server

import (
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kubemail/kubemail/mailserver/imap"
	"github.com/kubemail/kubemail/mailserver/pop3"
	"github.com/kubemail/kubemail/mailserver/smtp"
)

// metrics are the server's Prometheus metrics, in a registry of their own
// (served on the ops listener at /metrics). Every label value comes from a
// fixed set: listener names, smtp.Reason values, pop3 response codes.
type metrics struct {
	reg *prometheus.Registry

	connections   *prometheus.GaugeVec   // listener
	refused       *prometheus.CounterVec // listener, reason
	sessions      *prometheus.CounterVec // listener
	accepted      *prometheus.CounterVec // listener
	acceptedBytes *prometheus.CounterVec // listener
	rejected      *prometheus.CounterVec // listener, reason
	authFailures  *prometheus.CounterVec // listener, reason
	panics        *prometheus.CounterVec // component
	commit        prometheus.Histogram
	reloads       *prometheus.CounterVec // result
	configInfo    *prometheus.GaugeVec   // hash
	outbound      *prometheus.CounterVec // outcome
}

// Refusal reasons of kubemail_connections_refused_total.
const (
	refusedPerIP       = "per_ip_limit"
	refusedTotal       = "total_limit"
	refusedOverload    = "overload"
	refusedProxyHeader = "proxy_header"
)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kubemail_connections",
			Help: "Client connections open now, by listener.",
		}, []string{"listener"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubemail_connections_refused_total",
			Help: "Client connections refused before reaching the protocol server, by listener and reason.",
		}, []string{"listener", "reason"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubemail_sessions_total",
			Help: "Protocol sessions started, by listener.",
		}, []string{"listener"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubemail_messages_accepted_total",
			Help: "Messages stored and acknowledged with 250, by listener.",
		}, []string{"listener"}),
		acceptedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubemail_messages_accepted_bytes_total",
			Help: "Size of the messages accepted, by listener.",
		}, []string{"listener"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubemail_messages_rejected_total",
			Help: "SMTP commands or messages refused or failed, by listener and reason.",
		}, []string{"listener", "reason"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubemail_auth_failures_total",
			Help: "Failed authentication attempts, by listener and reason.",
		}, []string{"listener", "reason"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubemail_panics_total",
			Help: "Panics recovered, by component.",
		}, []string{"component"}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kubemail_store_commit_duration_seconds",
			Help:    "Time for a delivery to become durable in the store (the Deliver call), successful or not.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms … 16 s
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubemail_config_reloads_total",
			Help: "Configuration reloads, by result (ok: a new configuration is served; failed: a changed file was refused).",
		}, []string{"result"}),
		configInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kubemail_config_info",
			Help: "The configuration served: always 1, labelled with the configuration's content hash.",
		}, []string{"hash"}),
		outbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubemail_outbound_attempts_total",
			Help: "Outbound delivery attempts per recipient, by outcome (delivered, deferred, bounced, expired).",
		}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.connections, m.refused, m.sessions, m.accepted, m.acceptedBytes, m.rejected,
		m.authFailures, m.panics, m.commit, m.reloads, m.configInfo, m.outbound,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range []string{"ok", "failed"} {
		m.reloads.WithLabelValues(r) // present from the start, at 0
	}
	return m
}

// setConfigHash makes hash the only value of kubemail_config_info.
func (m *metrics) setConfigHash(hash string) {
	m.configInfo.Reset()
	m.configInfo.WithLabelValues(hash).Set(1)
}

// smtpListener names the listener of an SMTP mode as the configuration does.
func smtpListener(mode smtp.Mode) string {
	switch mode {
	case smtp.ModeMX:
		return "smtp"
	default:
		return mode.String() // "submission", "submissions"
	}
}

// smtpObserver feeds the SMTP servers' events into the metrics.
type smtpObserver struct{ m *metrics }

var _ smtp.Observer = smtpObserver{}

// ConnectionOpened implements smtp.Observer.
func (o smtpObserver) ConnectionOpened(mode smtp.Mode) {
	o.m.sessions.WithLabelValues(smtpListener(mode)).Inc()
}

// ConnectionClosed implements smtp.Observer; open connections are counted
// by the listener gate, which sees every protocol alike.
func (o smtpObserver) ConnectionClosed(smtp.Mode) {}

// MessageAccepted implements smtp.Observer.
func (o smtpObserver) MessageAccepted(mode smtp.Mode, size int64, _ int) {
	o.m.accepted.WithLabelValues(smtpListener(mode)).Inc()
	o.m.acceptedBytes.WithLabelValues(smtpListener(mode)).Add(float64(size))
}

// MessageRejected implements smtp.Observer.
func (o smtpObserver) MessageRejected(mode smtp.Mode, reason smtp.Reason) {
	o.m.rejected.WithLabelValues(smtpListener(mode), string(reason)).Inc()
}

// AuthFailed implements smtp.Observer.
func (o smtpObserver) AuthFailed(mode smtp.Mode, reason smtp.Reason) {
	o.m.authFailures.WithLabelValues(smtpListener(mode), string(reason)).Inc()
}

// Panicked implements smtp.Observer.
func (o smtpObserver) Panicked(mode smtp.Mode) {
	o.m.panics.WithLabelValues(smtpListener(mode)).Inc()
}

// pop3Observer feeds the POP3 server's events into the metrics. One
// pop3.Server serves both POP3 listeners (so that its maildrop lock covers
// both); the listener is told apart by the connection's local address,
// which the gate sets (see listenerAddr).
type pop3Observer struct {
	pop3.NopObserver
	m *metrics
}

var _ pop3.Observer = pop3Observer{}

// SessionStarted implements pop3.Observer.
func (o pop3Observer) SessionStarted(c pop3.ConnInfo) {
	o.m.sessions.WithLabelValues(listenerOf(c.LocalAddr, "pop3")).Inc()
}

// AuthFailed implements pop3.Observer.
func (o pop3Observer) AuthFailed(c pop3.ConnInfo, code pop3.ResponseCode) {
	o.m.authFailures.WithLabelValues(listenerOf(c.LocalAddr, "pop3"), string(code)).Inc()
}

// Panicked implements pop3.Observer.
func (o pop3Observer) Panicked(c pop3.ConnInfo, _ any) {
	o.m.panics.WithLabelValues(listenerOf(c.LocalAddr, "pop3")).Inc()
}

// imapObserver feeds the IMAP server's events into the metrics; like
// pop3Observer it tells the IMAP and IMAPS listeners apart by local address.
type imapObserver struct {
	imap.NopObserver
	m *metrics
}

var _ imap.Observer = imapObserver{}

// SessionStarted implements imap.Observer.
func (o imapObserver) SessionStarted(c imap.ConnInfo) {
	o.m.sessions.WithLabelValues(listenerOf(c.LocalAddr, "imap")).Inc()
}

// AuthFailed implements imap.Observer.
func (o imapObserver) AuthFailed(c imap.ConnInfo, reason imap.AuthFailure) {
	o.m.authFailures.WithLabelValues(listenerOf(c.LocalAddr, "imap"), string(reason)).Inc()
}

// Panicked implements imap.Observer.
func (o imapObserver) Panicked(c imap.ConnInfo, _ any) {
	o.m.panics.WithLabelValues(listenerOf(c.LocalAddr, "imap")).Inc()
}

// listenerOf returns the name of the listener that accepted a connection,
// from its local address, or fallback.
func listenerOf(local net.Addr, fallback string) string {
	if a, ok := local.(listenerAddr); ok {
		return a.listener
	}
	return fallback
}
