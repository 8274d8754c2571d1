package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/internal/dnsendpoint"
)

// setReady sets Ready from a chain of checks, the first failing one
// deciding: the domain is the namespace's only claim on it, its server
// exists, its DKIM key is ready, the server compiled the domain (with the
// key) into a configuration every replica serves, and the server is Ready.
// DNS does not hold Ready back: records published by hand are the user's step.
func (r *MailDomainReconciler) setReady(d *mailv1.MailDomain, st *domainState) {
	set := func(s metav1.ConditionStatus, reason, msg string) {
		st.conds.set(mailv1.ConditionReady, s, reason, msg)
	}
	if st.conflict != nil {
		set(metav1.ConditionFalse, st.conflict.reason, st.conflict.message)
		return
	}
	if st.server == nil {
		set(metav1.ConditionFalse, mailv1.ReasonServerNotFound, fmt.Sprintf(
			"MailServer %s does not exist in this namespace; create it or correct spec.serverRef.name", d.Spec.ServerRef.Name))
		return
	}
	if k := st.conds.get(mailv1.MailDomainDKIMReady); k.Status != metav1.ConditionTrue {
		set(k.Status, k.Reason, k.Message)
		return
	}
	ms := st.server
	served := r.verdicts.servedByReplicas(ms)
	if served == nil || !served.domains[d.Name] || !served.dkim[d.Name] {
		set(metav1.ConditionUnknown, mailv1.ReasonConfigPending, fmt.Sprintf(
			"waiting for every replica of MailServer %s to serve the domain with its DKIM key", ms.Name))
		return
	}
	if c := meta.FindStatusCondition(ms.Status.Conditions, mailv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		status, msg := metav1.ConditionUnknown, "MailServer "+ms.Name+" is not Ready yet"
		if c != nil {
			msg = fmt.Sprintf("MailServer %s is not Ready: %s", ms.Name, c.Message)
			if c.Status == metav1.ConditionFalse {
				status = metav1.ConditionFalse
			}
		}
		set(status, mailv1.ReasonServerNotReady, msg)
		return
	}
	set(metav1.ConditionTrue, mailv1.ReasonReady, fmt.Sprintf("served by MailServer %s", ms.Name))
}

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
			return byDomain(ctx, o.GetNamespace(), domainPart(string(o.(*mailv1.Mailbox).Spec.Address)))
		}), createOrDelete).
		Watches(&mailv1.MailAlias{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return byDomain(ctx, o.GetNamespace(), domainPart(o.(*mailv1.MailAlias).Spec.Address))
		}), createOrDelete).
		WatchesRawSource(source.Channel(r.verdicts.domains, &handler.EnqueueRequestForObject{}))
	if externalDNS {
		b = b.Owns(&dnsendpoint.DNSEndpoint{})
	}
	if err := b.Complete(r); err != nil {
		return fmt.Errorf("setting up the MailDomain controller: %w", err)
	}
	return nil
}
