package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/internal/dnsendpoint"
)

// Options configure the reconcilers. The zero value works except for
// ServerImage, without which no MailServer can run.
type Options struct {
	// ServerImage is the kubemail image the server pods run when a
	// MailServer sets no spec.image: the operator's own image.
	ServerImage string
	// ShardBytes is the most configuration bytes one Secret holds;
	// config.DefaultShardBytes when 0.
	ShardBytes int
	// Recorder records events; the manager's when nil.
	Recorder events.EventRecorder
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// Resolver checks what DNS answers for a domain's records; no
	// verification when nil (DNSVerified stays Unknown).
	Resolver Resolver
	// DNSCheckInterval is how often a domain's records are checked again
	// while they do not all verify; defaultDNSCheckInterval when 0.
	DNSCheckInterval time.Duration
	// ConfigInterval is the shortest time between two reconciles (and so
	// compilations of the configuration) of one MailServer;
	// DefaultConfigInterval when 0, none when negative.
	ConfigInterval time.Duration
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// NewScheme returns a scheme with every kind the operator reads or writes:
// the built-in kinds, the mail.kubemail.io API, cert-manager's Certificate
// and external-dns's DNSEndpoint.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, mailv1.AddToScheme, cmv1.AddToScheme, dnsendpoint.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building the scheme: %w", err)
		}
	}
	return s, nil
}

// Field indexes the reconcilers look objects up by.
const (
	indexDomainName     = "spec.domain"                        // MailDomain
	indexServerRef      = "spec.serverRef.name"                // MailDomain, RelayPolicy
	indexAddressDomain  = "addressDomain"                      // Mailbox, MailAlias
	indexPasswordSecret = "spec.passwordSecretRef.name"        // Mailbox
	indexDKIMSecret     = "spec.dkim.privateKeySecretRef.name" // MailDomain
	indexTLSSecret      = "spec.tls.secretName"                // MailServer
	indexRelaySecrets   = "credentialsSecretRefs"              // RelayPolicy
	indexName           = "name"                               // Secret: peekSecret
)

func registerIndexes(ctx context.Context, mgr manager.Manager) error {
	one := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	indexes := []struct {
		obj   client.Object
		field string
		fn    client.IndexerFunc
	}{
		{&mailv1.MailDomain{}, indexDomainName, func(o client.Object) []string { return one(string(o.(*mailv1.MailDomain).Spec.Domain)) }},
		{&mailv1.MailDomain{}, indexServerRef, func(o client.Object) []string { return one(o.(*mailv1.MailDomain).Spec.ServerRef.Name) }},
		{&mailv1.MailDomain{}, indexDKIMSecret, func(o client.Object) []string {
			if ref := o.(*mailv1.MailDomain).Spec.DKIM.PrivateKeySecretRef; ref != nil {
				return one(ref.Name)
			}
			return nil
		}},
		{&mailv1.RelayPolicy{}, indexServerRef, func(o client.Object) []string { return one(o.(*mailv1.RelayPolicy).Spec.ServerRef.Name) }},
		{&mailv1.RelayPolicy{}, indexRelaySecrets, func(o client.Object) []string { return relaySecretNames(o.(*mailv1.RelayPolicy)) }},
		{&mailv1.Mailbox{}, indexAddressDomain, func(o client.Object) []string { return one(domainPart(string(o.(*mailv1.Mailbox).Spec.Address))) }},
		{&mailv1.Mailbox{}, indexPasswordSecret, func(o client.Object) []string {
			if ref := o.(*mailv1.Mailbox).Spec.PasswordSecretRef; ref != nil {
				return one(ref.Name)
			}
			return nil
		}},
		{&mailv1.MailAlias{}, indexAddressDomain, func(o client.Object) []string { return one(domainPart(o.(*mailv1.MailAlias).Spec.Address)) }},
		{&mailv1.MailServer{}, indexTLSSecret, func(o client.Object) []string { return one(o.(*mailv1.MailServer).Spec.TLS.SecretName) }},
		{&corev1.Secret{}, indexName, func(o client.Object) []string { return one(o.GetName()) }},
	}
	for _, ix := range indexes {
		if err := mgr.GetFieldIndexer().IndexField(ctx, ix.obj, ix.field, ix.fn); err != nil {
			return fmt.Errorf("indexing %T by %s: %w", ix.obj, ix.field, err)
		}
	}
	return nil
}

// installed reports whether the API server serves a kind. A kind installed
// after the operator started is used, but not watched, until it restarts.
func installed(mgr manager.Manager, gvk schema.GroupVersionKind) bool {
	_, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	return err == nil
}

// kindRecheck is how long kindCheck trusts its last answer.
const kindRecheck = time.Minute

// kindCheck says whether the API server serves a kind, asking again at
// most once per kindRecheck: the REST mapper answers a kind it does not
// know with a discovery round trip to the API server, every time, and the
// MailDomain reconciler, which needs to know whether external-dns is
// installed, runs at every new Mailbox of the domain.
type kindCheck struct {
	mapper meta.RESTMapper
	gvk    schema.GroupVersionKind
	now    func() time.Time

	mu      sync.Mutex
	checked time.Time
	ok      bool
}

func (k *kindCheck) installed() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now := k.now(); k.checked.IsZero() || now.Sub(k.checked) >= kindRecheck || now.Before(k.checked) {
		_, err := k.mapper.RESTMapping(k.gvk.GroupKind(), k.gvk.Version)
		k.checked, k.ok = now, err == nil
	}
	return k.ok
}

// Setup registers the field indexes and every reconciler with mgr, whose
// scheme must come from NewScheme.
func Setup(ctx context.Context, mgr manager.Manager, opts Options) error {
	if opts.Recorder == nil {
		opts.Recorder = mgr.GetEventRecorder(managerName)
	}
	if err := registerIndexes(ctx, mgr); err != nil {
		return err
	}
	store := newVerdictStore()
	interval := opts.ConfigInterval
	if interval == 0 {
		interval = DefaultConfigInterval
	}
	ms := &MailServerReconciler{Client: mgr.GetClient(), Options: opts, verdicts: store, pace: newPacer(interval)}
	if err := ms.setup(mgr, installed(mgr, cmv1.SchemeGroupVersion.WithKind(cmv1.CertificateKind))); err != nil {
		return err
	}
	mbx := &MailboxReconciler{Client: mgr.GetClient(), Options: opts, verdicts: store}
	if err := mbx.setup(mgr); err != nil {
		return err
	}
	mal := &MailAliasReconciler{Client: mgr.GetClient(), Options: opts, verdicts: store}
	if err := mal.setup(mgr); err != nil {
		return err
	}
	rp := &RelayPolicyReconciler{Client: mgr.GetClient(), Options: opts, verdicts: store}
	if err := rp.setup(mgr); err != nil {
		return err
	}
	md := &MailDomainReconciler{Client: mgr.GetClient(), Options: opts, verdicts: store,
		externalDNS: &kindCheck{mapper: mgr.GetRESTMapper(), gvk: dnsendpoint.GroupVersion.WithKind(dnsendpoint.Kind), now: opts.now}}
	return md.setup(mgr, md.externalDNS.installed())
}

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

func request(ns, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}}
}

func (r *MailServerReconciler) serverOfDomain(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{request(o.GetNamespace(), o.(*mailv1.MailDomain).Spec.ServerRef.Name)}
}

func (r *MailServerReconciler) serverOfMailbox(ctx context.Context, o client.Object) []reconcile.Request {
	return serversOfDomain(ctx, r.Client, o.GetNamespace(), domainPart(string(o.(*mailv1.Mailbox).Spec.Address)))
}

func (r *MailServerReconciler) serverOfAlias(ctx context.Context, o client.Object) []reconcile.Request {
	return serversOfDomain(ctx, r.Client, o.GetNamespace(), domainPart(o.(*mailv1.MailAlias).Spec.Address))
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
				out = append(out, serversOfDomain(ctx, r.Client, ns, domainPart(string(m.Spec.Address)))...)
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
			if d := domainPart(string(mailboxes.Items[i].Spec.Address)); !seen[d] {
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

// relaySecretNames lists the credentials Secrets a RelayPolicy refers to.
func relaySecretNames(p *mailv1.RelayPolicy) []string {
	var out []string
	if p.Spec.Smarthost != nil && p.Spec.Smarthost.CredentialsSecretRef != nil {
		out = append(out, p.Spec.Smarthost.CredentialsSecretRef.Name)
	}
	for _, rt := range p.Spec.Routes {
		if rt.Smarthost != nil && rt.Smarthost.CredentialsSecretRef != nil {
			out = append(out, rt.Smarthost.CredentialsSecretRef.Name)
		}
	}
	return out
}
