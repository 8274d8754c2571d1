package server

import (
	"context"
	"log/slog"
	"reflect"
	"strings"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/configsource"
)

// Configuration reload. The Watcher stores each valid new file into a
// staging Holder; its callback (applyConfig) first creates the store
// accounts of new mailboxes and only then stores the configuration into the
// serving Holder, which every adapter reads. So a mailbox is never served
// before its account exists.
//
// What a reload changes at once: mailboxes, passwords, aliases, domains,
// quotas, suspensions, proxyProtocol.trustedCIDRs, the connection limits
// (limits.maxConnections, limits.maxConnectionsPerIP) and the TLS
// certificate files, and the outbound settings, routes, relay networks and
// rate limits (the queue reads them per attempt). What needs a restart
// (logged as a warning naming the fields): listener addresses and
// proxyProtocol flags, the hostname, the storage, outbound.resolver, and
// the limits the protocol servers are built with.

// applyConfig is the staging Holder's callback.
func (s *Server) applyConfig(ctx context.Context, cfg *config.Config) {
	if n, err := ensureAccounts(ctx, s.store, cfg); err != nil {
		// Served anyway: refusing the whole change for one account would
		// also hold back every other change. Mail for the account fails
		// temporarily (senders retry) until a later reload creates it.
		s.log.Error("Cannot create the store accounts of new mailboxes", "error", err)
	} else if n > 0 {
		s.log.Info("Created store accounts for new mailboxes", "count", n)
	}
	if _, err := s.serving.Store(cfg); err != nil {
		s.log.Error("Configuration change callback failed", "error", err)
	}
	if fields := restartNeeded(s.started, cfg); len(fields) > 0 {
		s.log.Warn("Some configuration changes take effect only after a restart; the values the server started with stay in use",
			"fields", strings.Join(fields, ","))
	}
}

// onServed runs after the serving configuration changed.
func (s *Server) onServed(_, cfg *config.Config) {
	s.metrics.setConfigHash(s.source.SourceHash(cfg.Hash()))
	s.metrics.reloads.WithLabelValues("ok").Inc()
	s.status.Set(s.source.SourceHash(cfg.Hash()))
	s.certs.refreshLogged() // new certificate paths, or self-signed for a new hostname
}

// restartNeeded lists the fields of cfg that differ from the configuration
// the server started with (old) and that the running server keeps until it
// restarts.
func restartNeeded(old, cfg *config.Config) []string {
	var fields []string
	check := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			fields = append(fields, name)
		}
	}
	check("hostname", old.Hostname, cfg.Hostname)
	ol, nl := old.Listeners, cfg.Listeners
	check("listeners.smtp", ol.SMTP, nl.SMTP)
	check("listeners.submission", ol.Submission, nl.Submission)
	check("listeners.submissions", ol.Submissions, nl.Submissions)
	check("listeners.imap", ol.IMAP, nl.IMAP)
	check("listeners.imaps", ol.IMAPS, nl.IMAPS)
	check("listeners.pop3", ol.POP3, nl.POP3)
	check("listeners.pop3s", ol.POP3S, nl.POP3S)
	check("listeners.ops", ol.Ops, nl.Ops)
	check("listeners.admin", ol.Admin, nl.Admin)
	check("outbound.resolver", old.Outbound.Resolver, cfg.Outbound.Resolver)
	check("storage", old.Storage, cfg.Storage)
	o, n := old.Limits, cfg.Limits
	check("limits.maxMessageBytes", o.MaxMessageBytes, n.MaxMessageBytes)
	check("limits.maxRecipients", o.MaxRecipients, n.MaxRecipients)
	check("limits.maxLineLength", o.MaxLineLength, n.MaxLineLength)
	check("limits.commandTimeout", o.CommandTimeout.Duration, n.CommandTimeout.Duration)
	check("limits.idleTimeout", o.IdleTimeout.Duration, n.IdleTimeout.Duration)
	check("limits.authFailureDelay", o.AuthFailureDelay.Duration, n.AuthFailureDelay.Duration)
	check("limits.authFailureMaxDelay", o.AuthFailureMaxDelay.Duration, n.AuthFailureMaxDelay.Duration)
	return fields
}

// reloadFailures wraps the Watcher's log handler to count the changes it
// refuses. The Watcher reports a refusal only by logging it (and through
// LastError, which a counter cannot poll without missing repeats), so the
// refusal record is recognised by its level and message; the end-to-end
// test of a refused reload checks the counter, so a change of wording is
// caught.
type reloadFailures struct {
	slog.Handler
	inc func()
}

// Handle implements slog.Handler.
func (h reloadFailures) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && strings.HasPrefix(r.Message, configsource.RefusalMessage) {
		h.inc()
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h reloadFailures) WithAttrs(attrs []slog.Attr) slog.Handler {
	return reloadFailures{Handler: h.Handler.WithAttrs(attrs), inc: h.inc}
}

// WithGroup implements slog.Handler.
func (h reloadFailures) WithGroup(name string) slog.Handler {
	return reloadFailures{Handler: h.Handler.WithGroup(name), inc: h.inc}
}
