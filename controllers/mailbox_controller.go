package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers/internal/verdicts"
	"github.com/kubemail/kubemail/mailserver/mail"
)

// MailboxReconciler keeps each Mailbox's password hash in its credentials
// Secret (generating a password when none is referenced) and reports
// whether the Mailbox's server serves it. The MailServer reconciler
// compiles the account into the configuration.
type MailboxReconciler struct {
	client.Client
	Options
	verdicts *verdicts.Store
}

// Reconcile stores the Mailbox's password hash and writes its status once.
func (r *MailboxReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	m := &mailv1.Mailbox{}
	if err := r.Get(ctx, req.NamespacedName, m); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !m.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	before := m.DeepCopy()
	conds := newConditionSet(m.Generation, &m.Status.Conditions)

	hash, err := r.reconcileCredentials(ctx, m)
	var ue *userError
	switch {
	case errors.As(err, &ue):
		conds.set(mailv1.ConditionReady, metav1.ConditionFalse, ue.reason, ue.message)
	case err != nil:
		return reconcile.Result{}, err
	default:
		s, err := r.servingState(ctx, m, hash)
		if err != nil {
			return reconcile.Result{}, err
		}
		if wait, hold := holdFirstStatus(m, before.Status.Conditions, s, r.now()); hold {
			return reconcile.Result{RequeueAfter: wait}, nil
		}
		conds.set(mailv1.ConditionReady, s.status, s.reason, s.message)
	}
	if n, ok := r.verdicts.Usage(m.Namespace, string(m.Spec.Address)); ok && usedChanged(m.Status.Used, n) {
		m.Status.Used = usedQuantity(n)
	}
	m.Status.ObservedGeneration = m.Generation
	if equality.Semantic.DeepEqual(before.Status, m.Status) {
		return reconcile.Result{}, nil
	}
	if conflict, err := updateStatus(ctx, r.Client, m); conflict || err != nil {
		return reconcile.Result{RequeueAfter: conflictRetry(conflict)}, err
	}
	r.recordReady(m, before.Status.Conditions, m.Status.Conditions)
	return reconcile.Result{}, nil
}

// servingState says whether m's server serves it with the password hash.
func (r *MailboxReconciler) servingState(ctx context.Context, m *mailv1.Mailbox, hash string) (readiness, error) {
	s, err := servingState(ctx, r.Client, r.verdicts, m, string(m.Spec.Address), "the account with its current password",
		func(sc *verdicts.Config) bool { return sc.Mailboxes[m.Name] != "" && sc.Mailboxes[m.Name] == hash })
	if err != nil {
		return readiness{}, err
	}
	if s.status == metav1.ConditionTrue && m.Spec.Suspended {
		return readiness{metav1.ConditionTrue, mailv1.ReasonSuspended, s.message + "; suspended: logins are refused"}, nil
	}
	return s, nil
}

// readiness is a Ready condition's status, reason and message.
type readiness struct {
	status          metav1.ConditionStatus
	reason, message string
}

// servingState says whether the server of addr's domain serves obj (a
// Mailbox or MailAlias), which isServed tells from a compiled configuration.
func servingState(ctx context.Context, c client.Reader, store *verdicts.Store, obj client.Object, addr, what string,
	isServed func(*verdicts.Config) bool) (readiness, error) {
	ms, st, reason, msg, err := serverForAddress(ctx, c, obj.GetNamespace(), addr)
	if err != nil || ms == nil {
		return readiness{st, reason, msg}, err
	}
	v := store.Lookup(obj)
	if !v.Judged {
		return readiness{metav1.ConditionUnknown, mailv1.ReasonReconciling,
			fmt.Sprintf("waiting for MailServer %s to compile its configuration", ms.Name)}, nil
	}
	if v.Problem.Reason != "" {
		return readiness{metav1.ConditionFalse, v.Problem.Reason, v.Problem.Message}, nil
	}
	if rolled := store.ServedByReplicas(ms); rolled == nil || !isServed(rolled) {
		if latest := store.Latest(obj.GetNamespace(), ms.Name); latest == nil || !isServed(latest) {
			return readiness{metav1.ConditionUnknown, mailv1.ReasonConfigPending,
				fmt.Sprintf("waiting for MailServer %s to compile %s", ms.Name, what)}, nil
		}
		return readiness{metav1.ConditionUnknown, mailv1.ReasonConfigPending,
			fmt.Sprintf("waiting for every replica of MailServer %s to load the configuration with %s", ms.Name, what)}, nil
	}
	return readiness{metav1.ConditionTrue, mailv1.ReasonReady, fmt.Sprintf("served by MailServer %s", ms.Name)}, nil
}

// serverForAddress finds the MailServer serving an address's domain. When
// there is none, it returns a False status with the reason and message.
func serverForAddress(ctx context.Context, c client.Reader, ns, addr string) (*mailv1.MailServer, metav1.ConditionStatus, string, string, error) {
	domain := mail.Domain(addr)
	var list mailv1.MailDomainList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{indexDomainName: domain}); err != nil {
		return nil, "", "", "", fmt.Errorf("looking up the MailDomain of %s: %w", domain, err)
	}
	if len(list.Items) == 0 {
		return nil, metav1.ConditionFalse, mailv1.ReasonDomainNotFound,
			fmt.Sprintf("no MailDomain in this namespace serves %s; create one", domain), nil
	}
	sort.Slice(list.Items, func(a, b int) bool {
		x, y := &list.Items[a], &list.Items[b]
		return age{x.CreationTimestamp, 0, x.Name}.before(age{y.CreationTimestamp, 0, y.Name})
	})
	d := &list.Items[0]
	ms := &mailv1.MailServer{}
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: d.Spec.ServerRef.Name}, ms)
	if apierrors.IsNotFound(err) {
		return nil, metav1.ConditionFalse, mailv1.ReasonServerNotFound,
			fmt.Sprintf("MailDomain %s names MailServer %s, which does not exist", d.Name, d.Spec.ServerRef.Name), nil
	}
	if err != nil {
		return nil, "", "", "", fmt.Errorf("reading MailServer %s: %w", d.Spec.ServerRef.Name, err)
	}
	return ms, "", "", "", nil
}

// mailboxWorkers is how many Mailboxes are reconciled at once.
const mailboxWorkers = 32

// setup registers the Mailbox controller with mgr: Mailboxes, their
// credentials and password Secrets, the MailDomains of their domains, the
// creation and deletion of MailServers, and the wake-ups of the verdict store.
func (r *MailboxReconciler) setup(mgr manager.Manager) error {
	spec := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	err := builder.ControllerManagedBy(mgr).Named("mailbox").
		// Mailboxes come by the thousand, each a credentials Secret write
		// and a status write, some an argon2id hash: several at once.
		WithOptions(controller.Options{MaxConcurrentReconciles: mailboxWorkers}).
		For(&mailv1.Mailbox{}, spec).
		Owns(&corev1.Secret{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.mailboxesOfSecret)).
		Watches(&mailv1.MailDomain{}, handler.EnqueueRequestsFromMapFunc(mailboxesOfDomain(r.Client)), spec).
		Watches(&mailv1.MailServer{}, handler.EnqueueRequestsFromMapFunc(mailboxesOfServer(r.Client)), serverLifecycle()).
		WatchesRawSource(source.Channel(r.verdicts.MailboxEvents(), &handler.EnqueueRequestForObject{})).
		Complete(r)
	if err != nil {
		return fmt.Errorf("setting up the Mailbox controller: %w", err)
	}
	return nil
}

// mailboxesOfSecret maps a Secret to the Mailboxes whose password it holds.
func (r *MailboxReconciler) mailboxesOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list mailv1.MailboxList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexPasswordSecret: o.GetName()}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, len(list.Items))
	for i, m := range list.Items {
		out[i] = request(m.Namespace, m.Name)
	}
	return out
}

// mailboxesOfDomain maps a MailDomain to the Mailboxes in its domain.
func mailboxesOfDomain(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return listByDomain(ctx, c, &mailv1.MailboxList{}, o.GetNamespace(), string(o.(*mailv1.MailDomain).Spec.Domain))
	}
}

// mailboxesOfServer maps a MailServer to the Mailboxes of its domains.
func mailboxesOfServer(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var out []reconcile.Request
		for _, d := range domainsOfServer(ctx, c, o.GetNamespace(), o.GetName()) {
			out = append(out, listByDomain(ctx, c, &mailv1.MailboxList{}, o.GetNamespace(), string(d.Spec.Domain))...)
		}
		return out
	}
}
