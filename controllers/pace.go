package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// DefaultConfigInterval is Options.ConfigInterval's default.
const DefaultConfigInterval = time.Second

// pacer spaces the reconciles of each MailServer by at least an interval.
//
// A MailServer's reconcile compiles every object targeting it into the
// configuration and writes it; with 10,000 Mailboxes that is a few hundred
// milliseconds of the operator's time, a Secret of close to a megabyte for
// the API server to store and send, and a reload for every replica. While
// Mailboxes are applied by the thousand, events arrive faster than that,
// and reconciling back to back spent most of the machine on configurations
// overwritten a moment later. Spaced, one reconcile takes in every change
// of the interval; a change after a quiet interval is still compiled at once.
type pacer struct {
	interval time.Duration
	mu       sync.Mutex
	last     map[types.NamespacedName]time.Time
}

func newPacer(interval time.Duration) *pacer {
	return &pacer{interval: interval, last: map[types.NamespacedName]time.Time{}}
}

// wait returns how long the reconcile of key must wait; when zero, the
// reconcile may run now, and its start is recorded. A nil pacer never
// waits.
func (p *pacer) wait(key types.NamespacedName, now time.Time) time.Duration {
	if p == nil || p.interval <= 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if last, ok := p.last[key]; ok {
		if d := last.Add(p.interval).Sub(now); d > 0 && d <= p.interval {
			return d
		}
	}
	p.last[key] = now
	return 0
}

// forget drops key's record (its MailServer is gone).
func (p *pacer) forget(key types.NamespacedName) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.last, key)
}
