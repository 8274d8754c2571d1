package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
)

// errSubmitRefused rolls back an all-or-nothing submission one of whose
// local targets failed; Submit then reports that target's error.
var errSubmitRefused = errors.New("a local target failed")

// Submit implements store.MessageStore: one transaction through tx.submit,
// the only code that writes mail into mailboxes and the queue (Settle's
// reports go through it too).
func (s *Store) Submit(ctx context.Context, sub store.Submission) ([]store.DeliveryResult, error) {
	if err := checkSubmission(sub); err != nil {
		return nil, fmt.Errorf("submitting: %w", err)
	}
	size := len(sub.Body)
	if sub.Outbound != nil && len(sub.Local) > 0 {
		size *= 2
	}
	var results []store.DeliveryResult
	err := s.doSized(ctx, size, func(tx *wtx) (err error) {
		results, err = tx.submit(sub, sub.BestEffort)
		return err
	})
	switch {
	case errors.Is(err, errSubmitRefused):
		var first error
		for i := range results {
			if results[i].Err == nil {
				results[i] = store.DeliveryResult{} // rolled back with the rest
			} else if first == nil {
				first = results[i].Err
			}
		}
		return results, fmt.Errorf("submitting: nothing stored: %w", first)
	case err != nil:
		return nil, fmt.Errorf("submitting: %w", err)
	}
	return results, nil
}

// submit stores sub inside tx: the body once, a message row for every
// local target, then the queue entry. All or nothing, it returns
// errSubmitRefused with the results when a target fails (the caller's
// transaction then rolls back, and the results name every target that
// failed); best effort, it runs each target under its
// own SAVEPOINT when there are several, skips those that fail, and drops the
// body again when no target took it. An *abortError (the database itself
// failed) always ends the transaction.
func (tx *wtx) submit(sub store.Submission, bestEffort bool) ([]store.DeliveryResult, error) {
	refs, flags, pre := localTargets(sub.Local)
	results := make([]store.DeliveryResult, len(sub.Local))
	if len(sub.Local) > 0 {
		date := sub.InternalDate
		if date.IsZero() {
			date = tx.now
		}
		bodyID, err := tx.insertBody(sub.Body)
		if err != nil {
			return nil, err
		}
		stored, refused := 0, false
		for i, t := range sub.Local {
			err := pre[i]
			if err == nil {
				m := newMessage{flags: flags[i], size: int64(len(sub.Body)), date: date, bodyID: bodyID}
				deliver := func() (err error) {
					results[i], err = tx.deliverOne(refs[i], m, t.QuotaBytes)
					return err
				}
				if bestEffort && len(sub.Local) > 1 {
					err = tx.savepoint(deliver)
				} else {
					err = deliver()
				}
			}
			var abort *abortError
			if errors.As(err, &abort) {
				return nil, err
			}
			if err != nil {
				results[i] = store.DeliveryResult{Err: fmt.Errorf("delivering to %s: %w", refs[i], err)}
				refused = true
				continue
			}
			stored++
		}
		if refused && !bestEffort {
			// Every target was tried, so the results name each failure.
			return results, errSubmitRefused
		}
		if refused && stored == 0 {
			// No message references the body: drop it.
			if _, err := tx.exec(`DELETE FROM bodies WHERE id = ? AND refs <= 0`, bodyID); err != nil {
				return nil, fmt.Errorf("dropping an unused body: %w", err)
			}
		}
	}
	if sub.Outbound != nil {
		if err := tx.enqueue(sub.Outbound, sub.Body); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// checkSubmission validates what the store relies on.
func checkSubmission(s store.Submission) error {
	out := s.Outbound
	if len(s.Local) == 0 && (out == nil || len(out.Recipients) == 0) {
		return fmt.Errorf("submission without local targets or outbound recipients: %w", store.ErrInvalidArgument)
	}
	if out == nil {
		return nil
	}
	if out.Message.ID == "" {
		return fmt.Errorf("outbound message without an id: %w", store.ErrInvalidArgument)
	}
	if len(out.Recipients) == 0 {
		return fmt.Errorf("outbound message %s without recipients: %w", out.Message.ID, store.ErrInvalidArgument)
	}
	for _, r := range out.Recipients {
		if mail.Domain(r.Address) == "" {
			return fmt.Errorf("outbound recipient %q has no domain: %w", r.Address, store.ErrInvalidArgument)
		}
	}
	return nil
}

// localTargets prepares a submission's local targets: the folder ("" is
// INBOX), the normalised flags and any error they have.
func localTargets(targets []store.DeliveryTarget) ([]store.FolderRef, []store.Flags, []error) {
	refs := make([]store.FolderRef, len(targets))
	flags := make([]store.Flags, len(targets))
	pre := make([]error, len(targets))
	for i, t := range targets {
		folder := t.Folder
		if folder == "" {
			folder = store.Inbox
		}
		refs[i] = ref(t.Account, folder)
		flags[i] = t.Flags.Normalize()
		pre[i] = flags[i].Validate()
	}
	return refs, flags, pre
}
