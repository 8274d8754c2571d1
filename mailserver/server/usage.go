package server

import (
	"context"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/store"
)

// Usage reporting. With a status ConfigMap, the server measures what each
// account of its store takes every UsageInterval, starting as soon as it
// serves, and hands the measurement to the status reporter, which writes it
// (config.StatusUsageKey) when it changed enough to matter
// (configsource.StatusReporter states the rule). The measurement runs on
// its own goroutine and the write on the reporter's, so neither a slow
// store listing nor a slow API server holds up mail; a failed listing is
// logged and measured again at the next tick.
//
// Only the accounts of mailboxes in the configuration served are reported,
// keyed by their address as that configuration holds it: accounts of
// mailboxes removed from the configuration stay in the store (their mail
// is not deleted) but are not reported.

// DefaultUsageInterval is the default of [Options].UsageInterval.
const DefaultUsageInterval = 30 * time.Second

// reportUsage measures the usage and hands it to the status reporter every
// interval until ctx is done. Without a status ConfigMap it only waits for
// ctx.
func (s *Server) reportUsage(ctx context.Context) {
	if s.status == nil {
		<-ctx.Done()
		return
	}
	interval := s.opts.UsageInterval
	if interval <= 0 {
		interval = DefaultUsageInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	log := s.log.With("component", "usage")
	for {
		at := time.Now()
		accounts, err := s.store.Accounts(ctx)
		switch {
		case err == nil:
			s.status.SetUsage(servedUsage(s.serving.Current(), accounts), at)
		case ctx.Err() == nil:
			log.Warn("Cannot list the usage of the store accounts; trying again at the next measurement", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// servedUsage is the bytes used by the accounts of the mailboxes cfg
// serves, keyed by the mailbox's address as cfg holds it.
func servedUsage(cfg *config.Config, accounts []store.Account) map[string]int64 {
	used := make(map[string]int64, len(cfg.Mailboxes))
	for _, a := range accounts {
		if m, ok := cfg.LookupMailbox(a.Address); ok {
			used[m.Address] = a.Usage.Bytes
		}
	}
	return used
}
