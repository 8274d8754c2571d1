package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/kubemail/kubemail/mailserver/auth"
	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/delivery"
	"github.com/kubemail/kubemail/mailserver/imap"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/pop3"
	"github.com/kubemail/kubemail/mailserver/smtp"
	"github.com/kubemail/kubemail/mailserver/store"
)

// service is one protocol listener: the configuration entry it listens on,
// how its refusals are worded, and the protocol server that serves it. The
// server listens on every service's address, wraps the socket in a gate
// (PROXY protocol, connection limits) and calls serve with the gate.
type service struct {
	// name is the listener's key in the configuration ("smtp", "pop3s"),
	// used in logs, metrics and Server.Addr.
	name     string
	listener config.Listener
	// style words the refusal line (connection limits, PROXY refusals).
	style style
	// implicitTLS is set when clients start with a TLS handshake: a refusal
	// is then written inside TLS.
	implicitTLS bool
	// serve serves the gate until shutdown.
	serve func(net.Listener) error
	// shutdown stops the protocol server gracefully; services sharing one
	// server share one shutdown, which runs once.
	shutdown func(context.Context) error
}

// wiring is what the protocol servers are built from.
type wiring struct {
	cfg  *config.Config
	tls  *tls.Config
	auth *auth.Authenticator
	// intake is the SMTP servers' Directory, QuotaChecker, Deliverer and
	// Relayer, and IMAP's quota source.
	intake *delivery.Intake
	// checker authenticates mail on the MX listener; nil checks nothing.
	checker mail.MessageChecker
	store   store.Store
	metrics *metrics
	log     *slog.Logger
}

// buildServices creates the protocol servers for the enabled listeners.
// This is the one place where a protocol is registered.
func buildServices(w wiring) ([]service, error) {
	var svcs []service
	l := w.cfg.Listeners
	for _, s := range []struct {
		name     string
		listener config.Listener
		mode     smtp.Mode
	}{
		{"smtp", l.SMTP, smtp.ModeMX},
		{"submission", l.Submission, smtp.ModeSubmission},
		{"submissions", l.Submissions, smtp.ModeSubmissions},
	} {
		if !s.listener.Enabled() {
			continue
		}
		srv, err := smtp.NewServer(smtpOptions(w, s.mode), w.intake, w.auth, w.intake)
		if err != nil {
			return nil, fmt.Errorf("creating the %s server: %w", s.name, err)
		}
		svcs = append(svcs, service{
			name: s.name, listener: s.listener, style: styleSMTP, implicitTLS: s.mode == smtp.ModeSubmissions,
			serve: srv.Serve, shutdown: once(srv.Shutdown),
		})
	}

	if l.POP3.Enabled() || l.POP3S.Enabled() {
		// One server for both listeners: its maildrop lock (RFC 1939 §4)
		// then covers a POP3 and a POP3S session of the same account.
		srv, err := pop3.New(pop3.Options{
			Backend:     pop3.StoreBackend{Auth: w.auth, Store: w.store},
			TLSConfig:   w.tls,
			Logger:      w.log,
			Hostname:    w.cfg.Hostname,
			IdleTimeout: w.cfg.Limits.IdleTimeout.Duration,
			Observer:    pop3Observer{m: w.metrics},
		})
		if err != nil {
			return nil, fmt.Errorf("creating the POP3 server: %w", err)
		}
		shutdown := once(srv.Shutdown)
		if l.POP3.Enabled() {
			svcs = append(svcs, service{name: "pop3", listener: l.POP3, style: stylePOP3,
				serve: srv.Serve, shutdown: shutdown})
		}
		if l.POP3S.Enabled() {
			svcs = append(svcs, service{name: "pop3s", listener: l.POP3S, style: stylePOP3, implicitTLS: true,
				serve: srv.ServeTLS, shutdown: shutdown})
		}
	}

	if l.IMAP.Enabled() || l.IMAPS.Enabled() {
		// One server for both listeners, so the per-account session limit
		// spans IMAP and IMAPS. The gate already limits connections per IP.
		srv, err := imap.New(imap.Options{
			Store:           w.store,
			Authenticator:   w.auth,
			Quota:           imap.QuotaFunc(w.intake.QuotaBytes),
			TLSConfig:       w.tls,
			Logger:          w.log,
			Hostname:        w.cfg.Hostname,
			MaxAppendBytes:  w.cfg.Limits.MaxMessageBytes,
			MaxConnsPerIP:   -1,
			MaxConnsPerUser: w.cfg.Limits.MaxIMAPConnectionsPerUser,
			Observer:        imapObserver{m: w.metrics},
		})
		if err != nil {
			return nil, fmt.Errorf("creating the IMAP server: %w", err)
		}
		shutdown := once(srv.Shutdown)
		if l.IMAP.Enabled() {
			svcs = append(svcs, service{name: "imap", listener: l.IMAP, style: styleIMAP,
				serve: srv.Serve, shutdown: shutdown})
		}
		if l.IMAPS.Enabled() {
			svcs = append(svcs, service{name: "imaps", listener: l.IMAPS, style: styleIMAP, implicitTLS: true,
				serve: srv.ServeTLS, shutdown: shutdown})
		}
	}
	return svcs, nil
}

// smtpOptions maps the configuration to one SMTP listener's options.
// limits.commandTimeout is both the wait for the next command (the idle
// timeout, RFC 5321 §4.5.3.2.7) and the wait for each read of message data.
func smtpOptions(w wiring, mode smtp.Mode) smtp.Options {
	lim := w.cfg.Limits
	return smtp.Options{
		Hostname:        w.cfg.Hostname,
		Mode:            mode,
		TLSConfig:       w.tls,
		MaxMessageBytes: lim.MaxMessageBytes,
		MaxRecipients:   lim.MaxRecipients,
		MaxLineLength:   lim.MaxLineLength,
		CommandTimeout:  lim.CommandTimeout.Duration,
		DataTimeout:     lim.CommandTimeout.Duration,
		Logger:          w.log,
		Observer:        smtpObserver{m: w.metrics},
		Checker:         checkerFor(mode, w.checker),
	}
}

// checkerFor returns the message checker of an SMTP listener: the MX
// listener's only.
func checkerFor(mode smtp.Mode, c mail.MessageChecker) mail.MessageChecker {
	if mode != smtp.ModeMX {
		return nil
	}
	return c
}

// once makes a shutdown function run once; later calls return its result.
func once(f func(context.Context) error) func(context.Context) error {
	var (
		o   sync.Once
		err error
	)
	return func(ctx context.Context) error {
		o.Do(func() { err = f(ctx) })
		return err
	}
}
