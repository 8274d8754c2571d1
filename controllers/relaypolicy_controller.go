package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers/internal/verdicts"
)

// RelayPolicyReconciler reports whether each RelayPolicy applies: its
// MailServer exists, no older policy routes that server, its credentials
// Secrets exist, and the server serves a configuration with its routes.
// The MailServer reconciler compiles it into the configuration's relay and
// outbound sections.
type RelayPolicyReconciler struct {
	client.Client
	Options
	verdicts *verdicts.Store
}

// Reconcile writes the RelayPolicy's status.
func (r *RelayPolicyReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	p := &mailv1.RelayPolicy{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !p.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	before := p.DeepCopy()
	s, err := r.readiness(ctx, p)
	if err != nil {
		return reconcile.Result{}, err
	}
	newConditionSet(p.Generation, &p.Status.Conditions).set(mailv1.ConditionReady, s.status, s.reason, s.message)
	p.Status.ObservedGeneration = p.Generation
	if equality.Semantic.DeepEqual(before.Status, p.Status) {
		return reconcile.Result{}, nil
	}
	if err := r.Status().Patch(ctx, p, client.MergeFrom(before)); err != nil {
		return reconcile.Result{}, fmt.Errorf("writing the status of RelayPolicy %s: %w", p.Name, err)
	}
	r.recordReady(p, before.Status.Conditions, p.Status.Conditions)
	return reconcile.Result{}, nil
}

// readiness runs the checks in order; the first that fails decides.
func (r *RelayPolicyReconciler) readiness(ctx context.Context, p *mailv1.RelayPolicy) (readiness, error) {
	ms := &mailv1.MailServer{}
	err := r.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: p.Spec.ServerRef.Name}, ms)
	if apierrors.IsNotFound(err) {
		return readiness{metav1.ConditionFalse, mailv1.ReasonServerNotFound, fmt.Sprintf(
			"MailServer %s does not exist in this namespace; create it or correct spec.serverRef.name", p.Spec.ServerRef.Name)}, nil
	}
	if err != nil {
		return readiness{}, fmt.Errorf("reading MailServer %s: %w", p.Spec.ServerRef.Name, err)
	}
	var list mailv1.RelayPolicyList
	if err := r.List(ctx, &list, client.InNamespace(p.Namespace), client.MatchingFields{indexServerRef: ms.Name}); err != nil {
		return readiness{}, fmt.Errorf("listing RelayPolicies: %w", err)
	}
	if _, problems := electPolicy(list.Items); problems[p.Name].Reason != "" {
		return readiness{metav1.ConditionFalse, problems[p.Name].Reason, problems[p.Name].Message}, nil
	}
	if _, err := readRelayCredentials(ctx, r.Client, p); err != nil {
		var ue *userError
		if errors.As(err, &ue) {
			return readiness{metav1.ConditionFalse, ue.reason, ue.message}, nil
		}
		return readiness{}, err
	}
	served := r.verdicts.Latest(p.Namespace, ms.Name)
	if served == nil || served.Relay != policyKey(p) {
		return readiness{metav1.ConditionUnknown, mailv1.ReasonConfigPending,
			fmt.Sprintf("waiting for MailServer %s to compile the policy", ms.Name)}, nil
	}
	if rolled := r.verdicts.ServedByReplicas(ms); rolled == nil || rolled.Relay != policyKey(p) {
		return readiness{metav1.ConditionUnknown, mailv1.ReasonConfigPending,
			fmt.Sprintf("waiting for every replica of MailServer %s to load the policy", ms.Name)}, nil
	}
	return readiness{metav1.ConditionTrue, mailv1.ReasonReady, fmt.Sprintf("MailServer %s routes outbound mail by this policy", ms.Name)}, nil
}

// setup registers the RelayPolicy controller with mgr: RelayPolicies (the
// oldest of a server wins), their MailServer's state and their credentials
// Secrets.
func (r *RelayPolicyReconciler) setup(mgr manager.Manager) error {
	byServer := func(ctx context.Context, ns, server string) []reconcile.Request {
		var list mailv1.RelayPolicyList
		if err := r.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{indexServerRef: server}); err != nil {
			return nil
		}
		out := make([]reconcile.Request, len(list.Items))
		for i, p := range list.Items {
			out[i] = request(ns, p.Name)
		}
		return out
	}
	err := builder.ControllerManagedBy(mgr).Named("relaypolicy").
		For(&mailv1.RelayPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// The other policies of the same server: the oldest one wins.
		Watches(&mailv1.RelayPolicy{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return byServer(ctx, o.GetNamespace(), o.(*mailv1.RelayPolicy).Spec.ServerRef.Name)
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&mailv1.MailServer{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return byServer(ctx, o.GetNamespace(), o.GetName())
		}), serverStateChanged()).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var list mailv1.RelayPolicyList
			if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexRelaySecrets: o.GetName()}); err != nil {
				return nil
			}
			out := make([]reconcile.Request, len(list.Items))
			for i, p := range list.Items {
				out[i] = request(p.Namespace, p.Name)
			}
			return out
		})).
		Complete(r)
	if err != nil {
		return fmt.Errorf("setting up the RelayPolicy controller: %w", err)
	}
	return nil
}
