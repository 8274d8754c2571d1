package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers/internal/verdicts"
	"github.com/kubemail/kubemail/internal/dnsendpoint"
	"github.com/kubemail/kubemail/mailserver/mail"
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
		{&mailv1.Mailbox{}, indexAddressDomain, func(o client.Object) []string { return one(mail.Domain(string(o.(*mailv1.Mailbox).Spec.Address))) }},
		{&mailv1.Mailbox{}, indexPasswordSecret, func(o client.Object) []string {
			if ref := o.(*mailv1.Mailbox).Spec.PasswordSecretRef; ref != nil {
				return one(ref.Name)
			}
			return nil
		}},
		{&mailv1.MailAlias{}, indexAddressDomain, func(o client.Object) []string { return one(mail.Domain(o.(*mailv1.MailAlias).Spec.Address)) }},
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
	store := verdicts.New()
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
