package configsource

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/kubemail/kubemail/mailserver/config"
)

// StatusReporter writes the hash served into the pod's status ConfigMap
// (config.config.StatusHashKey), on its own goroutine so a slow API server never
// holds up a reload; it writes only the latest hash. A nil *StatusReporter
// reports nothing.
type StatusReporter struct {
	client          kubernetes.Interface
	namespace, name string
	retry           time.Duration
	log             *slog.Logger
	latest          chan string // capacity 1: the hash to write next
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

// Run writes the hashes asked for until ctx is done.
func (r *StatusReporter) Run(ctx context.Context) {
	var pending string
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case pending = <-r.latest:
		case <-retry:
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

// write sets data.configHash (config.StatusHashKey) with Get and Update, again on a conflict.
func (r *StatusReporter) write(ctx context.Context, hash string) error {
	cms := r.client.CoreV1().ConfigMaps(r.namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := cms.Get(ctx, r.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.Data[config.StatusHashKey] == hash {
			return nil
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[config.StatusHashKey] = hash
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
