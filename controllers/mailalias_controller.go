package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers/internal/verdicts"
)

// MailAliasReconciler reports whether each MailAlias is served: its domain
// exists, it conflicts with no older address, it closes no loop, and its
// server serves a configuration holding it. The MailServer reconciler
// compiles it (a "@domain" alias as the domain's catch-all).
type MailAliasReconciler struct {
	client.Client
	Options
	verdicts *verdicts.Store
}

// Reconcile writes the MailAlias's status.
func (r *MailAliasReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	a := &mailv1.MailAlias{}
	if err := r.Get(ctx, req.NamespacedName, a); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !a.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	before := a.DeepCopy()
	s, err := servingState(ctx, r.Client, r.verdicts, a, a.Spec.Address, "the alias",
		func(sc *verdicts.Config) bool { return sc.Aliases[a.Name] })
	if err != nil {
		return reconcile.Result{}, err
	}
	if wait, hold := holdFirstStatus(a, before.Status.Conditions, s, r.now()); hold {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	newConditionSet(a.Generation, &a.Status.Conditions).set(mailv1.ConditionReady, s.status, s.reason, s.message)
	a.Status.ObservedGeneration = a.Generation
	if equality.Semantic.DeepEqual(before.Status, a.Status) {
		return reconcile.Result{}, nil
	}
	if conflict, err := updateStatus(ctx, r.Client, a); conflict || err != nil {
		return reconcile.Result{RequeueAfter: conflictRetry(conflict)}, err
	}
	r.recordReady(a, before.Status.Conditions, a.Status.Conditions)
	return reconcile.Result{}, nil
}

// setup registers the MailAlias controller with mgr: MailAliases, the
// MailDomains of their domains, the creation and deletion of MailServers,
// and the wake-ups of the verdict store.
func (r *MailAliasReconciler) setup(mgr manager.Manager) error {
	spec := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	err := builder.ControllerManagedBy(mgr).Named("mailalias").
		For(&mailv1.MailAlias{}, spec).
		Watches(&mailv1.MailDomain{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return listByDomain(ctx, r.Client, &mailv1.MailAliasList{}, o.GetNamespace(), string(o.(*mailv1.MailDomain).Spec.Domain))
		}), spec).
		Watches(&mailv1.MailServer{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var out []reconcile.Request
			for _, d := range domainsOfServer(ctx, r.Client, o.GetNamespace(), o.GetName()) {
				out = append(out, listByDomain(ctx, r.Client, &mailv1.MailAliasList{}, o.GetNamespace(), string(d.Spec.Domain))...)
			}
			return out
		}), serverLifecycle()).
		WatchesRawSource(source.Channel(r.verdicts.AliasEvents(), &handler.EnqueueRequestForObject{})).
		Complete(r)
	if err != nil {
		return fmt.Errorf("setting up the MailAlias controller: %w", err)
	}
	return nil
}
