package controllers

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/mailserver/config"
)

// Mailbox usage (status.used, the USED column). Each server replica
// reports the bytes its mailboxes use in its status ConfigMap
// (config.StatusUsageKey; mailserver/configsource paces those writes). The
// MailServer reconciler, woken by the ConfigMap change, reads the newest
// measurement of its replicas into the verdict store and wakes the
// Mailboxes whose status.used would change; each Mailbox writes it with
// its status. So that 10,000 Mailboxes do not flood the API server, a
// Mailbox's status.used is first written when the mailbox holds something
// (an empty one shows no USED rather than costing 10,000 writes of "0"),
// and then changes only when it drops to zero or moves by at least
// usedMinStep and by at least one part in usedMinFraction of its value; it
// is shown rounded up to KiB.
const (
	usedMinStep     = 64 << 10
	usedMinFraction = 100
)

// usedChanged reports whether status.used, currently old, should become
// bytes under the rule above.
func usedChanged(old *resource.Quantity, bytes int64) bool {
	bytes = usedQuantity(bytes).Value()
	if old == nil {
		return bytes > 0
	}
	was := old.Value()
	switch {
	case was == bytes:
		return false
	case was == 0 || bytes == 0:
		return true
	}
	diff := bytes - was
	if diff < 0 {
		diff = -diff
	}
	return diff >= usedMinStep && diff*usedMinFraction >= was
}

// usedQuantity is bytes as status.used shows it: rounded up to whole KiB
// (so the column reads "12Ki", "3Mi" rather than a long number, and a
// mailbox holding anything never reads 0).
func usedQuantity(bytes int64) *resource.Quantity {
	if bytes > 0 {
		bytes = (bytes + 1023) / 1024 * 1024
	}
	return resource.NewQuantity(bytes, resource.BinarySI)
}

// usageReports remembers each status ConfigMap's decoded usage by its
// resourceVersion, so a reconcile that finds a report unchanged does not
// decompress and parse it again (10,000 lines at 10,000 Mailboxes).
type usageReports struct {
	mu   sync.Mutex
	byCM map[types.NamespacedName]decodedUsage
}

// decodedUsage is one status ConfigMap's report, decoded.
type decodedUsage struct {
	version string
	used    map[string]int64
	at      time.Time
}

// decode returns cm's usage report; ok is false when it has none.
func (u *usageReports) decode(cm *corev1.ConfigMap) (used map[string]int64, at time.Time, ok bool, err error) {
	key := types.NamespacedName{Namespace: cm.Namespace, Name: cm.Name}
	u.mu.Lock()
	defer u.mu.Unlock()
	if d, hit := u.byCM[key]; hit && d.version == cm.ResourceVersion && cm.ResourceVersion != "" {
		return d.used, d.at, d.used != nil, nil
	}
	data := cm.BinaryData[config.StatusUsageKey]
	if len(data) > 0 {
		if used, at, err = config.DecodeUsage(data); err != nil {
			return nil, time.Time{}, false, err
		}
	}
	if u.byCM == nil {
		u.byCM = map[types.NamespacedName]decodedUsage{}
	}
	u.byCM[key] = decodedUsage{version: cm.ResourceVersion, used: used, at: at}
	return used, at, used != nil, nil
}

// observeUsage reads the newest usage measurement of ms's replicas into
// the verdict store and wakes the Mailboxes whose status.used changes. A
// replica without a measurement yet is skipped; one that cannot be read is
// logged and skipped (usage is informational: it never fails the round).
func (r *MailServerReconciler) observeUsage(ctx context.Context, ms *mailv1.MailServer, g *gathered) {
	var newest map[string]int64
	var at time.Time
	for i := range int(effectiveReplicas(ms)) {
		cm := &corev1.ConfigMap{}
		err := r.Get(ctx, client.ObjectKey{Namespace: ms.Namespace, Name: statusConfigMapName(ms.Name, podName(ms.Name, i))}, cm)
		if err != nil {
			if !apierrors.IsNotFound(err) {
				log.FromContext(ctx).Info("Cannot read a replica's status ConfigMap for the mailbox usage", "replica", i, "error", err)
			}
			continue
		}
		used, when, ok, err := r.usage.decode(cm)
		if err != nil {
			log.FromContext(ctx).Info("Ignoring a malformed usage report", "configMap", cm.Name, "error", err)
			continue
		}
		if !ok {
			continue
		}
		if newest == nil || when.After(at) {
			newest, at = used, when
		}
	}
	changed := r.verdicts.SetUsage(ms.Namespace, ms.Name, newest)
	if len(changed) == 0 {
		return
	}
	byAddress := make(map[string]bool, len(changed))
	for _, a := range changed {
		byAddress[a] = true
	}
	var wake []client.Object
	for i := range g.objects.mailboxes {
		m := &g.objects.mailboxes[i]
		addr := string(m.Spec.Address)
		if !byAddress[addr] {
			continue
		}
		if n, ok := r.verdicts.Usage(m.Namespace, addr); ok && usedChanged(m.Status.Used, n) {
			wake = append(wake, m)
		}
	}
	r.verdicts.Wake(ctx, wake)
}
