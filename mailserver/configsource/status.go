package configsource

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/kubemail/kubemail/mailserver/config"
)

// StatusReporter writes the hash served into the pod's status ConfigMap
// (config.StatusHashKey), on its own goroutine so a slow API server never
// holds up a reload; it writes only the latest hash. A nil *StatusReporter
// reports nothing.
//
// It also writes the usage of the pod's accounts (config.StatusUsageKey in
// binaryData, config.EncodeUsage's format), which the operator copies into
// each Mailbox's status.used. The server measures it periodically and
// hands each measurement to SetUsage; the reporter keeps only the latest
// and writes it, on the same goroutine as the hash, only when it differs
// enough from the measurement last written, so 10,000 mailboxes with mail
// flowing do not turn into an Update every interval:
//
//   - the first measurement is written;
//   - a measurement whose set of accounts differs (a mailbox came or went)
//     is written;
//   - a measurement in which some account's usage changed, since the last
//     write, to or from zero (a mailbox's first message, or one emptied),
//     or by 64 KiB or more and by 1% of its written value or more, is
//     written;
//   - a smaller difference is written once the written measurement is 5
//     minutes older than the new one, so status.used is exact within 5
//     minutes;
//   - any other measurement, and one identical to what was written, is
//     dropped.
//
// So it writes at most once per measurement (once per interval), at most
// once per 5 minutes while only small changes happen, and never while
// nothing changes: the time in the report is then older than the last
// measurement, not a sign the pod stopped reporting. A measurement that
// cannot be written (an API error, a ConfigMap not there yet) is logged
// and dropped; the next one is compared with what was written, so it is
// tried again then.
type StatusReporter struct {
	client          kubernetes.Interface
	namespace, name string
	retry           time.Duration
	log             *slog.Logger
	latest          chan string      // capacity 1: the hash to write next
	usage           chan usageReport // capacity 1: the usage measured last
	written         usageReport      // the usage the ConfigMap holds; Run's own
}

// NewStatusReporter returns the reporter of o.StatusConfigMap, nil when
// there is none.
func NewStatusReporter(o SecretOptions, log *slog.Logger) *StatusReporter {
	if o.StatusConfigMap == "" {
		return nil
	}
	if o.StatusNamespace == "" {
		o.StatusNamespace = o.Namespace
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultSecretRetryInterval
	}
	return &StatusReporter{
		client: o.Client, namespace: o.StatusNamespace, name: o.StatusConfigMap, retry: o.RetryInterval,
		log:    log.With("configMap", o.StatusNamespace+"/"+o.StatusConfigMap),
		latest: make(chan string, 1),
		usage:  make(chan usageReport, 1),
	}
}

// SetUsage hands the reporter a measurement: the bytes used by each
// account to report, keyed by address, measured at at. It replaces a
// measurement not yet considered and never blocks; the reporter writes it
// or drops it by the rule above. The reporter takes used over: the caller
// must not change it afterwards.
func (r *StatusReporter) SetUsage(used map[string]int64, at time.Time) {
	if r == nil {
		return
	}
	if used == nil {
		used = map[string]int64{}
	}
	for {
		select {
		case r.usage <- usageReport{used: used, at: at}:
			return
		default:
			select {
			case <-r.usage:
			default:
			}
		}
	}
}

// Set asks for hash to be written, replacing a hash not yet written.
func (r *StatusReporter) Set(hash string) {
	if r == nil {
		return
	}
	for {
		select {
		case r.latest <- hash:
			return
		default:
			select {
			case <-r.latest:
			default:
			}
		}
	}
}

// Run writes the hashes and usage asked for until ctx is done.
func (r *StatusReporter) Run(ctx context.Context) {
	var pending string
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case pending = <-r.latest:
		case <-retry:
		case u := <-r.usage:
			r.reportUsage(ctx, u) // a hash retry stays pending
			continue
		}
		retry = nil
		if err := r.write(ctx, pending); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.Error("Cannot report the configuration served in the status ConfigMap; trying again", "hash", pending, "error", err)
			retry = time.After(r.retry)
			continue
		}
		r.log.Info("Reported the configuration served", "hash", pending)
	}
}

// write sets data.configHash (config.StatusHashKey).
func (r *StatusReporter) write(ctx context.Context, hash string) error {
	return r.update(ctx, func(cm *corev1.ConfigMap) bool {
		if cm.Data[config.StatusHashKey] == hash {
			return false
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[config.StatusHashKey] = hash
		return true
	})
}

// update changes the status ConfigMap with Get, change and Update, again
// on a conflict, so a write of one key keeps the others; change reports
// whether there is anything to write.
func (r *StatusReporter) update(ctx context.Context, change func(*corev1.ConfigMap) bool) error {
	cms := r.client.CoreV1().ConfigMaps(r.namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := cms.Get(ctx, r.name, metav1.GetOptions{})
		if err != nil || !change(cm) {
			return err
		}
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("updating the status ConfigMap: it does not exist (the operator creates it): %w", err)
	}
	if err != nil {
		return fmt.Errorf("updating the status ConfigMap: %w", err)
	}
	return nil
}
