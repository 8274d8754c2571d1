package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers/internal/verdicts"
	"github.com/kubemail/kubemail/internal/dnsendpoint"
	"github.com/kubemail/kubemail/mailserver/mail"
)

// MailDomainReconciler keeps each MailDomain's DKIM key (generating one
// when none is referenced), computes the DNS records the domain needs,
// publishes them through external-dns (or as a zone-file snippet in a
// ConfigMap), checks what DNS answers, and reports whether the domain is
// served. The MailServer reconciler compiles the domain into the configuration.
type MailDomainReconciler struct {
	client.Client
	Options
	verdicts *verdicts.Store
	checks   dnsChecks
	// externalDNS says whether the DNSEndpoint kind is served.
	externalDNS *kindCheck
}

// dnsChecks remembers when each domain's records were last looked up, so
// that the reconciles a busy domain gets (every new Mailbox) do not each
// query DNS: the records are looked up again when they change or when the
// check interval has passed.
type dnsChecks struct {
	mu   sync.Mutex
	last map[types.UID]dnsCheck
}

// dnsCheck is one domain's last look-up.
type dnsCheck struct {
	at          time.Time
	fingerprint string
	interval    time.Duration
}

// due reports whether records need a look-up now, and if not, how long until they do.
func (c *dnsChecks) due(uid types.UID, fingerprint string, now time.Time) (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.last[uid]
	if !ok || l.fingerprint != fingerprint || now.Sub(l.at) >= l.interval {
		return true, 0
	}
	return false, l.interval - now.Sub(l.at)
}

func (c *dnsChecks) done(uid types.UID, fingerprint string, now time.Time, interval time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[types.UID]dnsCheck{}
	}
	c.last[uid] = dnsCheck{at: now, fingerprint: fingerprint, interval: interval}
}

// domainState is what one reconcile of a MailDomain learns on the way.
type domainState struct {
	conds    conditionSet
	server   *mailv1.MailServer // nil when it does not exist
	conflict *problem           // an older MailDomain claims the domain
	dkimTXT  string
	after    time.Duration
}

// Reconcile brings one MailDomain's owned objects to their desired state
// and writes its status once.
func (r *MailDomainReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	d := &mailv1.MailDomain{}
	if err := r.Get(ctx, req.NamespacedName, d); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !d.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	before := d.DeepCopy()
	st := &domainState{conds: newConditionSet(d.Generation, &d.Status.Conditions)}
	for _, step := range []func(context.Context, *mailv1.MailDomain, *domainState) error{
		r.findConflict, r.reconcileDKIM, r.findServer, r.reconcileDNS, r.verifyDNS, r.count,
	} {
		if err := step(ctx, d, st); err != nil {
			return reconcile.Result{}, err
		}
	}
	r.setReady(d, st)
	d.Status.ObservedGeneration = d.Generation
	if !equality.Semantic.DeepEqual(before.Status, d.Status) {
		if err := r.Status().Patch(ctx, d, client.MergeFrom(before)); err != nil {
			return reconcile.Result{}, fmt.Errorf("writing the status of MailDomain %s: %w", d.Name, err)
		}
		r.recordReady(d, before.Status.Conditions, d.Status.Conditions)
	}
	return reconcile.Result{RequeueAfter: st.after}, nil
}

// reconcileDKIM makes sure the domain has a usable DKIM key: the referenced
// one, or one generated into a Secret the MailDomain owns (generated once,
// kept for good: replacing it would break the published record).
func (r *MailDomainReconciler) reconcileDKIM(ctx context.Context, d *mailv1.MailDomain, st *domainState) error {
	name, _, generated := dkimKeyRef(d)
	d.Status.DKIMSecretName = name
	key, err := readDKIMKey(ctx, r.Client, d)
	var ue *userError
	if generated && errors.As(err, &ue) && ue.reason == mailv1.ReasonKeyGenerating {
		if key, err = r.generateDKIMKey(ctx, d); err != nil {
			return err
		}
	}
	if errors.As(err, &ue) {
		st.conds.set(mailv1.MailDomainDKIMReady, metav1.ConditionFalse, ue.reason, ue.message)
		return nil
	}
	if err != nil {
		return err
	}
	signer, err := parseDKIMKey(key)
	if err != nil {
		return fmt.Errorf("parsing the DKIM key of MailDomain %s: %w", d.Name, err) // checked by readDKIMKey
	}
	if st.dkimTXT, err = dkimRecord(signer); err != nil {
		return err
	}
	st.conds.set(mailv1.MailDomainDKIMReady, metav1.ConditionTrue, mailv1.ReasonReady,
		fmt.Sprintf("signing with the key in Secret %s, selector %s", name, dkimSelector(d)))
	return nil
}

// generateDKIMKey creates the MailDomain's DKIM Secret with a new key.
func (r *MailDomainReconciler) generateDKIMKey(ctx context.Context, d *mailv1.MailDomain) ([]byte, error) {
	pemKey, err := newDKIMKey(d.Spec.DKIM.Algorithm)
	if err != nil {
		return nil, err
	}
	if err := r.Create(ctx, buildDomainDKIMSecret(d, pemKey)); err != nil {
		// AlreadyExists: a reconcile on a stale cache; the next one reads it.
		return nil, fmt.Errorf("creating the DKIM key of MailDomain %s: %w", d.Name, err)
	}
	return pemKey, nil
}

// findConflict reports an older MailDomain claiming the same domain.
func (r *MailDomainReconciler) findConflict(ctx context.Context, d *mailv1.MailDomain, st *domainState) error {
	var list mailv1.MailDomainList
	if err := r.List(ctx, &list, client.InNamespace(d.Namespace), client.MatchingFields{indexDomainName: string(d.Spec.Domain)}); err != nil {
		return fmt.Errorf("listing MailDomains: %w", err)
	}
	mine := age{d.CreationTimestamp, 0, d.Name}
	for _, o := range list.Items {
		if o.Name != d.Name && (age{o.CreationTimestamp, 0, o.Name}).before(mine) {
			st.conflict = &problem{Reason: mailv1.ReasonDomainConflict, Message: fmt.Sprintf(
				"MailDomain %s, which is older, already claims %s; delete one of the two", o.Name, d.Spec.Domain)}
		}
	}
	return nil
}

// findServer reads the MailServer the domain names, if it exists.
func (r *MailDomainReconciler) findServer(ctx context.Context, d *mailv1.MailDomain, st *domainState) error {
	ms := &mailv1.MailServer{}
	err := r.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: d.Spec.ServerRef.Name}, ms)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading MailServer %s: %w", d.Spec.ServerRef.Name, err)
	}
	st.server = ms
	return nil
}

// reconcileDNS computes the records and publishes them: as a DNSEndpoint
// when external-dns is installed and wanted, else as a ConfigMap holding a
// zone-file snippet. Only one of the two exists at a time.
func (r *MailDomainReconciler) reconcileDNS(ctx context.Context, d *mailv1.MailDomain, st *domainState) error {
	if st.server == nil || st.conflict != nil {
		d.Status.DNSRecords = nil
		st.conds.set(mailv1.MailDomainDNSPublished, metav1.ConditionUnknown, mailv1.ReasonReconciling,
			"the records are computed once the domain's MailServer exists and no other MailDomain claims the domain")
		return nil
	}
	records := dnsRecords(d, st.server, st.dkimTXT)
	d.Status.DNSRecords = mergeVerified(records, d.Status.DNSRecords)
	manual := d.Spec.DNS.Publish == mailv1.DNSPublishManual
	if !manual && r.externalDNS.installed() {
		_, err := ensure(ctx, r.Client, buildDNSEndpoint(d, records), func(e, des *dnsendpoint.DNSEndpoint) { e.Spec = des.Spec })
		switch e, conflict := asNotOwned(err); {
		case err == nil:
			st.conds.set(mailv1.MailDomainDNSPublished, metav1.ConditionTrue, mailv1.ReasonPublished,
				fmt.Sprintf("DNSEndpoint %s holds the %d records for external-dns", d.Name, len(records)))
			return deleteOwned(ctx, r.Client, d, &corev1.ConfigMap{}, dnsConfigMapName(d.Name))
		case conflict:
			st.conds.set(mailv1.MailDomainDNSPublished, metav1.ConditionFalse, reasonObjectConflict, e.Error())
			return nil
		case !meta.IsNoMatchError(err):
			return err
		}
	}
	if _, err := ensure(ctx, r.Client, buildDNSConfigMap(d, records), func(e, des *corev1.ConfigMap) { e.Data = des.Data }); err != nil {
		if e, ok := asNotOwned(err); ok {
			st.conds.set(mailv1.MailDomainDNSPublished, metav1.ConditionFalse, reasonObjectConflict, e.Error())
			return nil
		}
		return err
	}
	if manual {
		st.conds.set(mailv1.MailDomainDNSPublished, metav1.ConditionFalse, mailv1.ReasonManualPublishing, fmt.Sprintf(
			"spec.dns.publish is Manual: add the records in status.dnsRecords, or the zone-file snippet in ConfigMap %s, to the zone of %s",
			dnsConfigMapName(d.Name), d.Spec.Domain))
		if !r.externalDNS.installed() {
			return nil
		}
		if err := deleteOwned(ctx, r.Client, d, &dnsendpoint.DNSEndpoint{}, d.Name); err != nil && !meta.IsNoMatchError(err) {
			return err
		}
		return nil
	}
	st.conds.set(mailv1.MailDomainDNSPublished, metav1.ConditionFalse, mailv1.ReasonExternalDNSNotInstalled, fmt.Sprintf(
		"external-dns's DNSEndpoint kind is not installed: install external-dns, or add the records in ConfigMap %s (a zone-file snippet) to the zone of %s",
		dnsConfigMapName(d.Name), d.Spec.Domain))
	return nil
}

// mergeVerified keeps the Verified flags of records whose value is unchanged.
func mergeVerified(records, previous []mailv1.DNSRecord) []mailv1.DNSRecord {
	for i := range records {
		for _, p := range previous {
			if p.Name == records[i].Name && p.Type == records[i].Type && p.Value == records[i].Value {
				records[i].Verified = p.Verified
			}
		}
	}
	return records
}

// verifyDNS looks the records up with the injected resolver.
func (r *MailDomainReconciler) verifyDNS(ctx context.Context, d *mailv1.MailDomain, st *domainState) error {
	records := d.Status.DNSRecords
	switch {
	case r.Resolver == nil:
		st.conds.set(mailv1.MailDomainDNSVerified, metav1.ConditionUnknown, mailv1.ReasonReconciling, "the operator does not check DNS")
		return nil
	case len(records) == 0:
		st.conds.set(mailv1.MailDomainDNSVerified, metav1.ConditionUnknown, mailv1.ReasonReconciling, "no records to check yet")
		return nil
	}
	var fp strings.Builder
	for _, rec := range records {
		fmt.Fprintf(&fp, "%s %s %s\n", rec.Name, rec.Type, rec.Value)
	}
	now := r.now()
	// Skip the look-up only when the status already holds the result of one:
	// a look-up whose status write was lost (a conflict) must not leave the
	// condition at "not checked yet" until the next interval.
	prev := st.conds.get(mailv1.MailDomainDNSVerified)
	checked := prev != nil && (prev.Reason == mailv1.ReasonVerified || prev.Reason == mailv1.ReasonRecordsMissing)
	if due, wait := r.checks.due(d.UID, fp.String(), now); !due && checked {
		st.after = wait // the flags and the condition from the last look-up stand
		return nil
	}
	n := verifyRecords(ctx, r.Resolver, records)
	if n == len(records) {
		st.conds.set(mailv1.MailDomainDNSVerified, metav1.ConditionTrue, mailv1.ReasonVerified,
			fmt.Sprintf("all %d records resolve as expected", n))
		st.after = verifiedDNSCheckInterval
	} else {
		st.conds.set(mailv1.MailDomainDNSVerified, metav1.ConditionFalse, mailv1.ReasonRecordsMissing,
			fmt.Sprintf("%d of %d records do not resolve as expected yet; status.dnsRecords marks which", len(records)-n, len(records)))
		st.after = r.DNSCheckInterval
		if st.after == 0 {
			st.after = defaultDNSCheckInterval
		}
	}
	r.checks.done(d.UID, fp.String(), now, st.after)
	return nil
}

// count sets the numbers of Mailboxes and MailAliases in the domain.
func (r *MailDomainReconciler) count(ctx context.Context, d *mailv1.MailDomain, _ *domainState) error {
	d.Status.Mailboxes = int32(len(listByDomain(ctx, r.Client, &mailv1.MailboxList{}, d.Namespace, string(d.Spec.Domain)))) //nolint:gosec // G115: bounded: a namespace holds far fewer than 2^31 objects
	d.Status.Aliases = int32(len(listByDomain(ctx, r.Client, &mailv1.MailAliasList{}, d.Namespace, string(d.Spec.Domain)))) //nolint:gosec // G115: bounded: a namespace holds far fewer than 2^31 objects
	return nil
}

// setup registers the MailDomain controller with mgr: MailDomains and what
// they own, their DKIM Secrets, their MailServer's spec and status, the
// creation and deletion of the Mailboxes and MailAliases of their domain,
// and the wake-ups of the verdict store. DNSEndpoints are watched only
// when external-dns is installed.
func (r *MailDomainReconciler) setup(mgr manager.Manager, externalDNS bool) error {
	spec := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	createOrDelete := builder.WithPredicates(predicate.Funcs{
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	})
	byDomain := func(ctx context.Context, ns, domain string) []reconcile.Request {
		var list mailv1.MailDomainList
		if err := r.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{indexDomainName: domain}); err != nil {
			return nil
		}
		out := make([]reconcile.Request, len(list.Items))
		for i, d := range list.Items {
			out[i] = request(ns, d.Name)
		}
		return out
	}
	b := builder.ControllerManagedBy(mgr).Named("maildomain").
		For(&mailv1.MailDomain{}, spec).
		Owns(&corev1.Secret{}).Owns(&corev1.ConfigMap{}).
		// The other MailDomains of the same domain: the oldest one wins.
		Watches(&mailv1.MailDomain{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return byDomain(ctx, o.GetNamespace(), string(o.(*mailv1.MailDomain).Spec.Domain))
		}), spec).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var list mailv1.MailDomainList
			if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexDKIMSecret: o.GetName()}); err != nil {
				return nil
			}
			out := make([]reconcile.Request, len(list.Items))
			for i, d := range list.Items {
				out[i] = request(d.Namespace, d.Name)
			}
			return out
		})).
		// The MailServer's status for Ready, its spec for the records (hostname, protocols).
		Watches(&mailv1.MailServer{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var out []reconcile.Request
			for _, d := range domainsOfServer(ctx, r.Client, o.GetNamespace(), o.GetName()) {
				out = append(out, request(d.Namespace, d.Name))
			}
			return out
		}), builder.WithPredicates(predicate.Or(serverStatePredicate(), predicate.GenerationChangedPredicate{}))).
		Watches(&mailv1.Mailbox{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return byDomain(ctx, o.GetNamespace(), mail.Domain(string(o.(*mailv1.Mailbox).Spec.Address)))
		}), createOrDelete).
		Watches(&mailv1.MailAlias{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return byDomain(ctx, o.GetNamespace(), mail.Domain(o.(*mailv1.MailAlias).Spec.Address))
		}), createOrDelete).
		WatchesRawSource(source.Channel(r.verdicts.DomainEvents(), &handler.EnqueueRequestForObject{}))
	if externalDNS {
		b = b.Owns(&dnsendpoint.DNSEndpoint{})
	}
	if err := b.Complete(r); err != nil {
		return fmt.Errorf("setting up the MailDomain controller: %w", err)
	}
	return nil
}
