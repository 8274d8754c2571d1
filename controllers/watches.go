package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// The map functions and predicates several reconcilers' watches share.
// Each reconciler's own setup and mapping sit beside its Reconcile.

// request is a reconcile request for the object ns/name.
func request(ns, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}}
}

// serverLifecycle passes the creation and deletion of MailServers only:
// the MailServer reconciler wakes the Mailboxes and MailAliases a change of
// its configuration or rollout concerns (notify).
func serverLifecycle() builder.Predicates {
	return builder.WithPredicates(predicate.Funcs{
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	})
}

// serverStateChanged passes the creation and deletion of MailServers and
// the changes of what the objects targeting them report: the configuration
// hashes compiled and served, and the ConfigApplied and Ready conditions. The event arrives once
// the cache holds the new status, which the reconcile then reads.
func serverStateChanged() builder.Predicates {
	return builder.WithPredicates(serverStatePredicate())
}

// serverStatePredicate is the predicate of serverStateChanged.
func serverStatePredicate() predicate.Predicate {
	state := func(o client.Object) string {
		ms, ok := o.(*mailv1.MailServer)
		if !ok {
			return ""
		}
		s := ms.Status.ConfigHash + "/" + ms.Status.ServedConfigHash
		for _, typ := range []string{mailv1.MailServerConfigApplied, mailv1.ConditionReady} {
			if c := meta.FindStatusCondition(ms.Status.Conditions, typ); c != nil {
				s += "/" + string(c.Status)
			}
		}
		return s
	}
	return predicate.Funcs{
		UpdateFunc:  func(e event.UpdateEvent) bool { return state(e.ObjectOld) != state(e.ObjectNew) },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// domainsOfServer lists the MailDomains naming a MailServer.
func domainsOfServer(ctx context.Context, c client.Reader, ns, server string) []mailv1.MailDomain {
	var list mailv1.MailDomainList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{indexServerRef: server}); err != nil {
		return nil
	}
	return list.Items
}

// listByDomain returns requests for the Mailboxes or MailAliases of a domain.
func listByDomain(ctx context.Context, c client.Reader, list client.ObjectList, ns, domain string) []reconcile.Request {
	if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingFields{indexAddressDomain: domain}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var out []reconcile.Request
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		obj := o.(client.Object)
		out = append(out, request(obj.GetNamespace(), obj.GetName()))
		return nil
	})
	return out
}
