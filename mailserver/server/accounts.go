package server

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
)

// ensureParallelism is how many EnsureAccount calls run at once: each waits
// for a commit, and concurrent ones share it (group commit).
const ensureParallelism = 16

// ensureAccounts creates, with the default folders, the store account of
// every mailbox of cfg that the store lacks. It runs at start and after
// every configuration change, before the new configuration is served, so a
// new mailbox can receive mail and log in as soon as it is served. Accounts
// of mailboxes removed from the configuration are kept: deleting mail is not
// a side effect of a configuration change. It returns how many accounts it
// created.
func ensureAccounts(ctx context.Context, st store.Store, cfg *config.Config) (int, error) {
	existing, err := st.Accounts(ctx)
	if err != nil {
		return 0, fmt.Errorf("listing store accounts: %w", err)
	}
	had := make(map[string]bool, len(existing))
	for _, a := range existing {
		had[a.Address] = true
	}
	var missing []string
	for _, m := range cfg.Mailboxes {
		if a := mail.Fold(m.Address); !had[a] {
			missing = append(missing, a)
		}
	}
	if len(missing) == 0 {
		return 0, nil
	}

	work := make(chan string)
	var (
		mu      sync.Mutex
		created int
		errs    []error
		wg      sync.WaitGroup
	)
	for range min(ensureParallelism, len(missing)) {
		wg.Go(func() {
			for a := range work {
				ok, err := st.EnsureAccount(ctx, a)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("creating account %s: %w", a, err))
				} else if ok {
					created++
				}
				mu.Unlock()
			}
		})
	}
	for _, a := range missing {
		work <- a
	}
	close(work)
	wg.Wait()
	return created, errors.Join(errs...)
}
