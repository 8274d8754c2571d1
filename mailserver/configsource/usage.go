package configsource

import (
	"bytes"
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubemail/kubemail/mailserver/config"
)

// The pace of the usage reports (StatusReporter's documentation states the
// rule).
const (
	// usageMinDelta is the smallest change of an account's usage worth a
	// write, whatever its size.
	usageMinDelta = 64 << 10
	// usageMinFraction is the smallest change worth a write, relative to
	// the usage last written.
	usageMinFraction = 0.01
	// usageRefresh is how old the written measurement must be before a
	// difference too small to matter is written anyway.
	usageRefresh = 5 * time.Minute
)

// usageReport is one measurement handed to SetUsage.
type usageReport struct {
	used map[string]int64 // bytes by address; nil for none written yet
	at   time.Time
}

// usageDue reports whether the measurement next is worth writing over
// last, the one the status ConfigMap holds (a zero usageReport when none
// was written yet).
func usageDue(last, next usageReport) bool {
	if last.used == nil || len(last.used) != len(next.used) {
		return true
	}
	differs := false
	for addr, n := range next.used {
		old, ok := last.used[addr]
		switch {
		case !ok:
			return true // an account came, another went
		case n == old:
			continue
		case significant(old, n):
			return true
		}
		differs = true
	}
	return differs && next.at.Sub(last.at) >= usageRefresh
}

// significant reports whether usage changing from old to n bytes matters:
// to or from zero (a mailbox's first message, or one emptied), or by
// usageMinDelta or more and by usageMinFraction of old or more.
func significant(old, n int64) bool {
	if (old == 0) != (n == 0) {
		return true
	}
	d := n - old // both are non-negative: no overflow
	if d < 0 {
		d = -d
	}
	return d >= usageMinDelta && float64(d) >= usageMinFraction*float64(old)
}

// reportUsage writes u when usageDue says it is worth it; an error is
// logged and the measurement dropped, since the next one comes soon and is
// again compared with what was written.
func (r *StatusReporter) reportUsage(ctx context.Context, u usageReport) {
	if !usageDue(r.written, u) {
		return
	}
	enc, err := config.EncodeUsage(u.used, u.at)
	if err != nil {
		r.log.Error("Cannot encode the usage of the accounts; not reporting it", "accounts", len(u.used), "error", err)
		return
	}
	if err := r.writeUsage(ctx, enc); err != nil {
		if ctx.Err() == nil {
			r.log.Error("Cannot report the usage of the accounts in the status ConfigMap; trying again with the next measurement",
				"accounts", len(u.used), "error", err)
		}
		return
	}
	r.written = u
	r.log.Debug("Reported the usage of the accounts", "accounts", len(u.used), "bytes", len(enc))
}

// writeUsage sets binaryData.usage (config.StatusUsageKey).
func (r *StatusReporter) writeUsage(ctx context.Context, enc []byte) error {
	return r.update(ctx, func(cm *corev1.ConfigMap) bool {
		if bytes.Equal(cm.BinaryData[config.StatusUsageKey], enc) {
			return false
		}
		if cm.BinaryData == nil {
			cm.BinaryData = map[string][]byte{}
		}
		cm.BinaryData[config.StatusUsageKey] = enc
		return true
	})
}
