package controllers

import (
	"context"
	"fmt"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers/internal/verdicts"
	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/mail"
)

// MailServerReconciler runs the server of each MailServer: it compiles the
// objects that target the server into its configuration Secrets, and
// keeps its StatefulSet, Services, PodDisruptionBudget, ServiceAccount,
// Role, certificate and DKIM Secret as built by the pure builders.
type MailServerReconciler struct {
	client.Client
	Options
	verdicts *verdicts.Store
	pace     *pacer
	usage    usageReports
}

// serverState is what one reconcile of a MailServer learns on the way.
type serverState struct {
	conds conditionSet
	after time.Duration // requeue after, when something is not watched
	// failed holds the condition types found False this round, which
	// later steps must not overwrite.
	failed map[string]bool
	// served is what the configuration compiled this round holds; nil if
	// it did not compile.
	served *verdicts.Config
}

// fail sets a condition False for this round.
func (st *serverState) fail(typ, reason, message string) {
	st.conds.set(typ, metav1.ConditionFalse, reason, message)
	st.failed[typ] = true
}

// requeueAfter asks for another reconcile after d at the latest.
func (st *serverState) requeueAfter(d time.Duration) {
	if st.after == 0 || d < st.after {
		st.after = d
	}
}

// conflictOr turns a *notOwnedError into a False condition of type typ
// and returns other errors for a retry.
func (st *serverState) conflictOr(typ string, err error) error {
	if e, ok := asNotOwned(err); ok {
		st.fail(typ, reasonObjectConflict, e.Error())
		return nil
	}
	return err
}

// Reconcile brings one MailServer's children to their desired state and
// writes its status once.
func (r *MailServerReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if wait := r.pace.wait(req.NamespacedName, r.now()); wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	ms := &mailv1.MailServer{}
	if err := r.Get(ctx, req.NamespacedName, ms); err != nil {
		if apierrors.IsNotFound(err) {
			r.verdicts.Forget(req.Namespace, req.Name)
			r.pace.forget(req.NamespacedName)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !ms.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil // the garbage collector removes what it owns
	}
	before := ms.DeepCopy()
	st := &serverState{conds: newConditionSet(ms.Generation, &ms.Status.Conditions), failed: map[string]bool{}}

	g, err := r.gather(ctx, ms)
	if err != nil {
		return reconcile.Result{}, err
	}
	steps := []func(context.Context, *mailv1.MailServer, *serverState) error{
		func(ctx context.Context, ms *mailv1.MailServer, st *serverState) error {
			return r.reconcileConfig(ctx, ms, g, st)
		},
		r.reconcileTLS,
		r.reconcileAccess,
		r.reconcileServices,
		r.reconcileWorkload,
		r.observeConfig,
	}
	for _, step := range steps {
		if err := step(ctx, ms, st); err != nil {
			return reconcile.Result{}, err
		}
	}
	st.conds.summarise(fmt.Sprintf("serving %s", ms.Spec.Hostname),
		mailv1.MailServerAvailable, mailv1.MailServerConfigApplied, mailv1.MailServerCertificateReady)
	// Publish before the status says so: the reconcilers woken by the
	// status change, or by notify, read the store, which is then never
	// older than what their cache shows.
	r.notify(ctx, before, ms, g, st)
	r.observeUsage(ctx, ms, g)
	if err := r.writeStatus(ctx, before, ms); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: st.after}, nil
}

// notify publishes the verdicts and what the configuration holds, and
// wakes the Mailboxes and MailAliases whose verdict, compiled state or
// served state changed (they do not watch the MailServer's status: with
// 10,000 of them, every rollout step would wake them all).
func (r *MailServerReconciler) notify(ctx context.Context, before, ms *mailv1.MailServer, g *gathered, st *serverState) {
	objects := g.objects.objects()
	prevLatest := r.verdicts.Latest(ms.Namespace, ms.Name)
	wake := r.verdicts.Publish(ms.Namespace, ms.Name, objects, g.verdicts.published(), st.served)
	r.verdicts.SetServedHash(ms.Namespace, ms.Name, ms.Status.ServedConfigHash)
	if st.served != nil && (prevLatest == nil || prevLatest.Hash != st.served.Hash) {
		wake = append(wake, verdicts.ServingChanges(prevLatest, st.served, objects, g.verdicts.serverOf, ms.Name)...)
	}
	if was, now := before.Status.ServedConfigHash, ms.Status.ServedConfigHash; was != now {
		a := r.verdicts.CompiledAs(ms.Namespace, ms.Name, was)
		b := r.verdicts.CompiledAs(ms.Namespace, ms.Name, now)
		wake = append(wake, verdicts.ServingChanges(a, b, objects, g.verdicts.serverOf, ms.Name)...)
	}
	r.verdicts.Wake(ctx, wake)
}

// reconcileAccess keeps the server's ServiceAccount and RoleBinding (the
// Role is written with the configuration) and one status ConfigMap per replica.
func (r *MailServerReconciler) reconcileAccess(ctx context.Context, ms *mailv1.MailServer, st *serverState) error {
	if _, err := ensure(ctx, r.Client, buildServiceAccount(ms), func(_, _ *corev1.ServiceAccount) {}); err != nil {
		return st.conflictOr(mailv1.MailServerAvailable, err)
	}
	if _, err := ensure(ctx, r.Client, buildRoleBinding(ms), func(e, d *rbacv1.RoleBinding) { e.Subjects = d.Subjects }); err != nil {
		return st.conflictOr(mailv1.MailServerAvailable, err)
	}
	n := int(effectiveReplicas(ms))
	keep := make([]string, n)
	for i := range n {
		cm := buildStatusConfigMap(ms, i)
		keep[i] = cm.Name
		// The replica writes the data: never overwrite it.
		if _, err := ensure(ctx, r.Client, cm, func(_, _ *corev1.ConfigMap) {}); err != nil {
			return st.conflictOr(mailv1.MailServerConfigApplied, err)
		}
	}
	return r.deleteStale(ctx, ms, &corev1.ConfigMapList{}, statusLabels(ms.Name), keep)
}

// reconcileServices keeps the mail Service and the pods' headless Service,
// and reads the mail Service's address.
func (r *MailServerReconciler) reconcileServices(ctx context.Context, ms *mailv1.MailServer, st *serverState) error {
	if _, err := ensure(ctx, r.Client, buildHeadlessService(ms), updateService); err != nil {
		return st.conflictOr(mailv1.MailServerAvailable, err)
	}
	svc, err := ensure(ctx, r.Client, buildService(ms), updateService)
	if err != nil {
		return st.conflictOr(mailv1.MailServerAvailable, err)
	}
	ms.Status.Address = serviceAddress(svc)
	return nil
}

// updateService copies a desired Service's spec, keeping what the API
// server allocated (cluster IPs, node ports) and annotations others added.
func updateService(existing, desired *corev1.Service) {
	spec := desired.Spec
	spec.ClusterIP, spec.ClusterIPs = existing.Spec.ClusterIP, existing.Spec.ClusterIPs
	spec.IPFamilies, spec.IPFamilyPolicy = existing.Spec.IPFamilies, existing.Spec.IPFamilyPolicy
	if existing.Spec.Type == spec.Type {
		spec.HealthCheckNodePort = existing.Spec.HealthCheckNodePort
		for i := range spec.Ports {
			for _, old := range existing.Spec.Ports {
				if old.Name == spec.Ports[i].Name {
					spec.Ports[i].NodePort = old.NodePort
				}
			}
		}
	}
	existing.Spec = spec
}

// serviceAddress is the address clients reach a Service at: the load
// balancer's, or else the cluster IP.
func serviceAddress(svc *corev1.Service) string {
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				return in.IP
			}
			if in.Hostname != "" {
				return in.Hostname
			}
		}
		return ""
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return ""
	}
	return svc.Spec.ClusterIP
}

// reconcileWorkload keeps the StatefulSet and the PodDisruptionBudget and
// sets Available.
func (r *MailServerReconciler) reconcileWorkload(ctx context.Context, ms *mailv1.MailServer, st *serverState) error {
	if st.failed[mailv1.MailServerAvailable] {
		return nil // an object the pods need belongs to someone else
	}
	image := ms.Spec.Image
	if image == "" {
		image = r.ServerImage
	}
	if image == "" {
		st.fail(mailv1.MailServerAvailable, reasonNoImage, errNoImage.Error())
		return nil
	}
	if _, err := ensure(ctx, r.Client, buildPodDisruptionBudget(ms), func(e, d *policyv1.PodDisruptionBudget) { e.Spec = d.Spec }); err != nil {
		return st.conflictOr(mailv1.MailServerAvailable, err)
	}
	sts, err := ensure(ctx, r.Client, buildStatefulSet(ms, image), updateStatefulSet)
	if err != nil {
		return st.conflictOr(mailv1.MailServerAvailable, err)
	}
	ms.Status.Replicas, ms.Status.ReadyReplicas = sts.Status.Replicas, sts.Status.ReadyReplicas
	asked := ptr.Deref(ms.Spec.Replicas, 1)
	switch {
	case asked > effectiveReplicas(ms):
		st.conds.set(mailv1.MailServerAvailable, metav1.ConditionFalse, mailv1.ReasonTooManyReplicas,
			fmt.Sprintf("spec.replicas is %d but the Embedded storage serves one replica, so one runs; set spec.replicas to 1, or use PostgreSQL storage to scale out", asked))
	case asked == 0:
		st.conds.set(mailv1.MailServerAvailable, metav1.ConditionFalse, reasonScaledToZero, "spec.replicas is 0, so no server runs")
	case sts.Status.ReadyReplicas == 0:
		st.conds.set(mailv1.MailServerAvailable, metav1.ConditionUnknown, mailv1.ReasonPodsNotReady,
			fmt.Sprintf("waiting for a server pod of StatefulSet %s to become ready", sts.Name))
	case ms.Status.Address == "":
		st.conds.set(mailv1.MailServerAvailable, metav1.ConditionUnknown, reasonAddressPending,
			fmt.Sprintf("waiting for Service %s to get an external address", ms.Name))
	default:
		st.conds.set(mailv1.MailServerAvailable, metav1.ConditionTrue, reasonAvailable,
			fmt.Sprintf("%d of %d replicas ready at %s", sts.Status.ReadyReplicas, effectiveReplicas(ms), ms.Status.Address))
	}
	return nil
}

// updateStatefulSet copies a desired StatefulSet's spec except the fields
// the API server refuses to change.
func updateStatefulSet(existing, desired *appsv1.StatefulSet) {
	spec := desired.Spec
	spec.Selector, spec.ServiceName = existing.Spec.Selector, existing.Spec.ServiceName
	spec.VolumeClaimTemplates, spec.PodManagementPolicy = existing.Spec.VolumeClaimTemplates, existing.Spec.PodManagementPolicy
	existing.Spec = spec
}

// observeConfig counts the replicas that report serving status.configHash
// in their status ConfigMaps and sets ConfigApplied.
func (r *MailServerReconciler) observeConfig(ctx context.Context, ms *mailv1.MailServer, st *serverState) error {
	n := int(effectiveReplicas(ms))
	updated := 0
	common, agree := "", true // the hash every replica serves
	for i := range n {
		cm := &corev1.ConfigMap{}
		err := r.Get(ctx, client.ObjectKey{Namespace: ms.Namespace, Name: statusConfigMapName(ms.Name, podName(ms.Name, i))}, cm)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("reading the status of replica %d of MailServer %s: %w", i, ms.Name, err)
		}
		if err == nil && ms.Status.ConfigHash != "" && cm.Data[config.StatusHashKey] == ms.Status.ConfigHash {
			updated++
		}
		switch h := cm.Data[config.StatusHashKey]; {
		case i == 0:
			common = h
		case h != common:
			agree = false
		}
	}
	ms.Status.UpdatedReplicas = int32(updated)
	ms.Status.ServedConfigHash = ""
	if agree && n > 0 {
		ms.Status.ServedConfigHash = common
	}
	if st.failed[mailv1.MailServerConfigApplied] {
		return nil // compiling or writing failed this round; that is the news
	}
	short := ms.Status.ConfigHash
	if len(short) > 12 {
		short = short[:12]
	}
	if n > 0 && updated == n {
		st.conds.set(mailv1.MailServerConfigApplied, metav1.ConditionTrue, reasonConfigApplied,
			fmt.Sprintf("every replica serves configuration %s", short))
		return nil
	}
	st.conds.set(mailv1.MailServerConfigApplied, metav1.ConditionUnknown, mailv1.ReasonConfigPending,
		fmt.Sprintf("%d of %d replicas serve configuration %s", updated, n, short))
	return nil
}

// writeStatus patches the status, if it changed, and records an event when
// Ready changes.
func (r *MailServerReconciler) writeStatus(ctx context.Context, before, ms *mailv1.MailServer) error {
	ms.Status.ObservedGeneration = ms.Generation
	if equality.Semantic.DeepEqual(before.Status, ms.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, ms, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("writing the status of MailServer %s: %w", ms.Name, err)
	}
	r.recordReady(ms, before.Status.Conditions, ms.Status.Conditions)
	return nil
}

// setup registers the MailServer controller with mgr: MailServers, what
// they own, and the objects and Secrets their configuration is compiled
// from. Certificates are watched only when cert-manager is installed.
func (r *MailServerReconciler) setup(mgr manager.Manager, certManager bool) error {
	spec := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	b := builder.ControllerManagedBy(mgr).Named("mailserver").
		For(&mailv1.MailServer{}, spec).
		Owns(&appsv1.StatefulSet{}).Owns(&corev1.Service{}).Owns(&corev1.ConfigMap{}).Owns(&corev1.Secret{}).
		Owns(&policyv1.PodDisruptionBudget{}).Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).Owns(&rbacv1.RoleBinding{}).
		Watches(&mailv1.MailDomain{}, handler.EnqueueRequestsFromMapFunc(r.serverOfDomain), spec).
		Watches(&mailv1.Mailbox{}, handler.EnqueueRequestsFromMapFunc(r.serverOfMailbox), spec).
		Watches(&mailv1.MailAlias{}, handler.EnqueueRequestsFromMapFunc(r.serverOfAlias), spec).
		Watches(&mailv1.RelayPolicy{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{request(o.GetNamespace(), o.(*mailv1.RelayPolicy).Spec.ServerRef.Name)}
		}), spec).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.serversOfSecret))
	if certManager {
		b = b.Owns(&cmv1.Certificate{})
	}
	if err := b.Complete(r); err != nil {
		return fmt.Errorf("setting up the MailServer controller: %w", err)
	}
	return nil
}

// serverOfDomain maps a MailDomain to its MailServer.
func (r *MailServerReconciler) serverOfDomain(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{request(o.GetNamespace(), o.(*mailv1.MailDomain).Spec.ServerRef.Name)}
}

// serverOfMailbox maps a Mailbox to the MailServer of its domain.
func (r *MailServerReconciler) serverOfMailbox(ctx context.Context, o client.Object) []reconcile.Request {
	return serversOfDomain(ctx, r.Client, o.GetNamespace(), mail.Domain(string(o.(*mailv1.Mailbox).Spec.Address)))
}

// serverOfAlias maps a MailAlias to the MailServer of its domain.
func (r *MailServerReconciler) serverOfAlias(ctx context.Context, o client.Object) []reconcile.Request {
	return serversOfDomain(ctx, r.Client, o.GetNamespace(), mail.Domain(o.(*mailv1.MailAlias).Spec.Address))
}

// serversOfDomain returns the MailServers of the MailDomains claiming domain.
func serversOfDomain(ctx context.Context, c client.Reader, ns, domain string) []reconcile.Request {
	var list mailv1.MailDomainList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{indexDomainName: domain}); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, d := range list.Items {
		out = append(out, request(ns, d.Spec.ServerRef.Name))
	}
	return out
}

// serversOfSecret maps a Secret to the MailServers whose configuration or
// certificate it feeds: a Mailbox's credentials or password hashes
// (spec.passwordSecretRef), a MailDomain's DKIM key
// (generated or referenced), a RelayPolicy's smarthost credentials, or a
// MailServer's own certificate Secret.
func (r *MailServerReconciler) serversOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	ns := o.GetNamespace()
	var out []reconcile.Request
	if ref := metav1.GetControllerOf(o); ref != nil && ref.APIVersion == mailv1.GroupVersion.String() {
		switch ref.Kind {
		case "Mailbox":
			m := &mailv1.Mailbox{}
			if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, m); err == nil {
				out = append(out, serversOfDomain(ctx, r.Client, ns, mail.Domain(string(m.Spec.Address)))...)
			}
		case "MailDomain":
			d := &mailv1.MailDomain{}
			if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, d); err == nil {
				out = append(out, request(ns, d.Spec.ServerRef.Name))
			}
		}
	}
	// Mailboxes whose spec.passwordSecretRef holds their hash: one request
	// per domain, however many Mailboxes share the Secret.
	var mailboxes mailv1.MailboxList
	if err := r.List(ctx, &mailboxes, client.InNamespace(ns), client.MatchingFields{indexPasswordSecret: o.GetName()},
		client.UnsafeDisableDeepCopy); err == nil {
		seen := map[string]bool{}
		for i := range mailboxes.Items {
			if d := mail.Domain(string(mailboxes.Items[i].Spec.Address)); !seen[d] {
				seen[d] = true
				out = append(out, serversOfDomain(ctx, r.Client, ns, d)...)
			}
		}
	}
	var domains mailv1.MailDomainList
	if err := r.List(ctx, &domains, client.InNamespace(ns), client.MatchingFields{indexDKIMSecret: o.GetName()}); err == nil {
		for _, d := range domains.Items {
			out = append(out, request(ns, d.Spec.ServerRef.Name))
		}
	}
	var policies mailv1.RelayPolicyList
	if err := r.List(ctx, &policies, client.InNamespace(ns), client.MatchingFields{indexRelaySecrets: o.GetName()}); err == nil {
		for _, p := range policies.Items {
			out = append(out, request(ns, p.Spec.ServerRef.Name))
		}
	}
	var servers mailv1.MailServerList
	if err := r.List(ctx, &servers, client.InNamespace(ns), client.MatchingFields{indexTLSSecret: o.GetName()}); err == nil {
		for _, s := range servers.Items {
			out = append(out, request(ns, s.Name))
		}
	}
	return out
}
