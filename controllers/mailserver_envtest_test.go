package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers/internal/testenv"
	"github.com/kubemail/kubemail/controllers/internal/verdicts"
	"github.com/kubemail/kubemail/mailserver/config"
)

// fresh prepares a fixture for creation in ns.
func fresh[T client.Object](obj T, ns string) T {
	obj.SetNamespace(ns)
	obj.SetUID("")
	obj.SetResourceVersion("")
	obj.SetGeneration(0)
	obj.SetCreationTimestamp(metav1.Time{})
	return obj
}

// readConfig joins the configuration Secrets of a server.
func readConfig(ns, server string) (*config.Config, error) {
	s0 := &corev1.Secret{}
	if err := get(ns, configSecretName(server, 0), s0); err != nil {
		return nil, err
	}
	idx, err := config.ReadShardIndex(s0.Data)
	if err != nil {
		return nil, err
	}
	shards := []map[string][]byte{s0.Data}
	for _, name := range idx.Shards[1:] {
		s := &corev1.Secret{}
		if err := get(ns, name, s); err != nil {
			return nil, err
		}
		shards = append(shards, s.Data)
	}
	return config.Join(shards)
}

// mailServerStatus waits until check accepts the MailServer's status.
func waitMailServer(t *testing.T, ns, name, what string, check func(*mailv1.MailServer) error) *mailv1.MailServer {
	t.Helper()
	ms := &mailv1.MailServer{}
	testenv.Eventually(t, what, func() error {
		if err := get(ns, name, ms); err != nil {
			return err
		}
		if ms.Status.ObservedGeneration != ms.Generation {
			return fmt.Errorf("status describes generation %d, not %d", ms.Status.ObservedGeneration, ms.Generation)
		}
		return check(ms)
	})
	return ms
}

func TestMailServerRunsAndReportsRollout(t *testing.T) {
	ns, mgr := startOperator(t, Options{})
	ctx := context.Background()
	env.Create(t, fresh(server("mx1", argoManaged), ns))
	env.Create(t, fresh(ptrTo(domain("example-com", "example.com", 0)), ns))
	env.Create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bob-password", Namespace: ns},
		StringData: map[string]string{"password": "change-me-bob\n"}})
	env.Create(t, fresh(ptrTo(mailbox("bob", "bob@example.com", 0, func(m *mailv1.Mailbox) {
		m.Spec.PasswordSecretRef = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "bob-password"}, Key: "password"}
	})), ns))

	ms := waitMailServer(t, ns, "mx1", "the MailServer compiles bob into its configuration", func(ms *mailv1.MailServer) error {
		if ms.Status.ConfigHash == "" || ms.Status.Domains != 1 {
			return fmt.Errorf("configHash %q, domains %d", ms.Status.ConfigHash, ms.Status.Domains)
		}
		cfg, err := readConfig(ns, "mx1")
		if err != nil {
			return err
		}
		if _, ok := cfg.LookupMailbox("bob@example.com"); !ok {
			return errors.New("bob is not in the configuration yet")
		}
		if d, ok := cfg.LookupDomain("example.com"); !ok || d.DKIM == nil {
			return errors.New("the domain is not in the configuration with its DKIM key yet")
		}
		if cfg.Hash() != ms.Status.ConfigHash {
			return fmt.Errorf("the Secrets hold %s, status says %s", cfg.Hash(), ms.Status.ConfigHash)
		}
		return errors.Join(
			wantCondition(ms.Status.Conditions, ms.Generation, mailv1.MailServerCertificateReady, metav1.ConditionTrue, mailv1.ReasonSelfSigned),
			wantCondition(ms.Status.Conditions, ms.Generation, mailv1.MailServerAvailable, metav1.ConditionUnknown, mailv1.ReasonPodsNotReady),
			wantCondition(ms.Status.Conditions, ms.Generation, mailv1.MailServerConfigApplied, metav1.ConditionUnknown, mailv1.ReasonConfigPending),
			wantCondition(ms.Status.Conditions, ms.Generation, mailv1.ConditionReady, metav1.ConditionUnknown, ""))
	})

	t.Run("the password is hashed, never stored in the configuration", func(t *testing.T) {
		cfg, err := readConfig(ns, "mx1")
		if err != nil {
			t.Fatal(err)
		}
		hash, _, _ := cfg.LookupPassword("bob@example.com")
		if hash == "" || hash == "change-me-bob" {
			t.Fatalf("bob's password hash is %q", hash)
		}
	})

	t.Run("every child is owned by the MailServer and carries no Argo CD tracking", func(t *testing.T) {
		children := []client.Object{
			&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "mx1"}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "mx1"}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "mx1-pods"}},
			&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "mx1"}},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "mx1-server"}},
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "mx1-server"}},
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "mx1-server"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mx1-config-0"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mx1-selfsigned-tls"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mx1-dkim"}},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mx1-status-mx1-0"}},
		}
		for _, c := range children {
			if err := get(ns, c.GetName(), c); err != nil {
				t.Errorf("%T %s: %v", c, c.GetName(), err)
				continue
			}
			if !ownedBy(c, string(ms.UID)) {
				t.Errorf("%T %s is not controlled by the MailServer: %v", c, c.GetName(), c.GetOwnerReferences())
			}
			if _, ok := c.GetLabels()["app.kubernetes.io/instance"]; ok {
				t.Errorf("%T %s carries app.kubernetes.io/instance", c, c.GetName())
			}
			if _, ok := c.GetAnnotations()["argocd.argoproj.io/tracking-id"]; ok {
				t.Errorf("%T %s carries Argo CD's tracking annotation", c, c.GetName())
			}
		}
	})

	t.Run("the server's Role names only its configuration Secrets and status ConfigMap", func(t *testing.T) {
		role := &rbacv1.Role{}
		if err := get(ns, "mx1-server", role); err != nil {
			t.Fatal(err)
		}
		if len(role.Rules) != 2 || fmt.Sprint(role.Rules[0].ResourceNames) != "[mx1-config-0]" ||
			fmt.Sprint(role.Rules[1].ResourceNames) != "[mx1-status-mx1-0]" {
			t.Errorf("rules: %+v", role.Rules)
		}
	})

	t.Run("pods ready, an address and every replica on the latest configuration make it Ready", func(t *testing.T) {
		markPodsReady(t, ns, "mx1", 1)
		assignAddress(t, ns, "mx1", "192.0.2.25")
		reportServing(t, ns, "mx1", 0, ms.Status.ConfigHash)
		waitMailServer(t, ns, "mx1", "the MailServer becomes Ready", func(ms *mailv1.MailServer) error {
			if ms.Status.Address != "192.0.2.25" || ms.Status.ReadyReplicas != 1 || ms.Status.UpdatedReplicas != 1 {
				return fmt.Errorf("address %q, ready %d, updated %d", ms.Status.Address, ms.Status.ReadyReplicas, ms.Status.UpdatedReplicas)
			}
			return errors.Join(
				wantCondition(ms.Status.Conditions, ms.Generation, mailv1.MailServerAvailable, metav1.ConditionTrue, ""),
				wantCondition(ms.Status.Conditions, ms.Generation, mailv1.MailServerConfigApplied, metav1.ConditionTrue, ""),
				wantCondition(ms.Status.Conditions, ms.Generation, mailv1.ConditionReady, metav1.ConditionTrue, mailv1.ReasonReady))
		})
		waitMailbox(t, ns, "bob", "the Mailbox becomes Ready once served", func(m *mailv1.Mailbox) error {
			return wantCondition(m.Status.Conditions, m.Generation, mailv1.ConditionReady, metav1.ConditionTrue, mailv1.ReasonReady)
		})
	})

	t.Run("a reconcile that changes nothing writes nothing", func(t *testing.T) {
		var before []string
		var objs []client.Object
		for _, l := range []client.ObjectList{&appsv1.StatefulSetList{}, &corev1.ServiceList{}, &corev1.SecretList{},
			&corev1.ConfigMapList{}, &rbacv1.RoleList{}, &policyv1.PodDisruptionBudgetList{}} {
			if err := env.Client.List(ctx, l, client.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			objs = append(objs, items(l)...)
		}
		for _, o := range objs {
			before = append(before, fmt.Sprintf("%T/%s@%s", o, o.GetName(), o.GetResourceVersion()))
		}
		msBefore := &mailv1.MailServer{}
		if err := get(ns, "mx1", msBefore); err != nil {
			t.Fatal(err)
		}
		r := &MailServerReconciler{Client: mgr.GetClient(), Options: Options{ServerImage: "kubemail:test"}, verdicts: verdicts.New()}
		if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "mx1"}}); err != nil {
			t.Fatal(err)
		}
		for i, o := range objs {
			now := o.DeepCopyObject().(client.Object)
			if err := get(ns, o.GetName(), now); err != nil {
				t.Fatal(err)
			}
			if now.GetResourceVersion() != o.GetResourceVersion() {
				t.Errorf("%s was written again (now @%s)", before[i], now.GetResourceVersion())
			}
		}
		msAfter := &mailv1.MailServer{}
		if err := get(ns, "mx1", msAfter); err != nil {
			t.Fatal(err)
		}
		if msAfter.ResourceVersion != msBefore.ResourceVersion {
			t.Error("the MailServer's status was written again")
		}
	})

	t.Run("a deleted configuration Secret is written again", func(t *testing.T) {
		if err := env.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mx1-config-0", Namespace: ns}}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, "the Secret is back", func() error {
			_, err := readConfig(ns, "mx1")
			return err
		})
	})

	t.Run("a new mailbox rolls out a new configuration", func(t *testing.T) {
		old := ms.Status.ConfigHash
		env.Create(t, fresh(ptrTo(mailbox("carol", "carol@example.com", 0)), ns))
		ms = waitMailServer(t, ns, "mx1", "the configuration changes", func(ms *mailv1.MailServer) error {
			if ms.Status.ConfigHash == old {
				return errors.New("configHash unchanged")
			}
			return wantCondition(ms.Status.Conditions, ms.Generation, mailv1.MailServerConfigApplied, metav1.ConditionUnknown, mailv1.ReasonConfigPending)
		})
		waitMailbox(t, ns, "carol", "carol waits for the rollout", func(m *mailv1.Mailbox) error {
			if m.Status.CredentialsSecretName != "carol-credentials" {
				return fmt.Errorf("credentialsSecretName %q", m.Status.CredentialsSecretName)
			}
			return wantCondition(m.Status.Conditions, m.Generation, mailv1.ConditionReady, metav1.ConditionUnknown, mailv1.ReasonConfigPending)
		})
		// The configuration may change again meanwhile (the domain's DKIM key
		// arrives): play the replica serving whatever is latest.
		waitMailbox(t, ns, "carol", "carol is Ready after the rollout", func(m *mailv1.Mailbox) error {
			if err := get(ns, "mx1", ms); err != nil {
				return err
			}
			reportServing(t, ns, "mx1", 0, ms.Status.ConfigHash)
			return wantCondition(m.Status.Conditions, m.Generation, mailv1.ConditionReady, metav1.ConditionTrue, mailv1.ReasonReady)
		})
	})
}

func TestMailServerCertificates(t *testing.T) {
	ns, _ := startOperator(t, Options{})
	ctx := context.Background()

	t.Run("cert-manager issues the certificate of an issuerRef", func(t *testing.T) {
		env.Create(t, fresh(server("mx1", func(ms *mailv1.MailServer) {
			ms.Spec.TLS.IssuerRef = &mailv1.IssuerReference{Name: "letsencrypt", Kind: "ClusterIssuer"}
		}), ns))
		waitMailServer(t, ns, "mx1", "the certificate is requested", func(ms *mailv1.MailServer) error {
			return wantCondition(ms.Status.Conditions, ms.Generation, mailv1.MailServerCertificateReady, metav1.ConditionUnknown, mailv1.ReasonCertificateIssuing)
		})
		cert := &cmv1.Certificate{}
		if err := get(ns, "mx1", cert); err != nil {
			t.Fatal(err)
		}
		if cert.Spec.SecretName != "mx1-tls" || cert.Spec.DNSNames[0] != "mx1.example.com" || cert.Spec.IssuerRef.Kind != "ClusterIssuer" {
			t.Errorf("certificate spec: %+v", cert.Spec)
		}
		sts := &appsv1.StatefulSet{}
		if err := get(ns, "mx1", sts); err != nil {
			t.Fatal(err)
		}
		if got := sts.Spec.Template.Spec.Volumes[0].Secret.SecretName; got != "mx1-tls" {
			t.Errorf("the pods mount Secret %s, want mx1-tls", got)
		}
		cert.Status.Conditions = []cmv1.CertificateCondition{{Type: cmv1.CertificateConditionReady, Status: cmmeta.ConditionTrue,
			Reason: "Ready", Message: "issued", ObservedGeneration: cert.Generation, LastTransitionTime: &metav1.Time{Time: epoch}}}
		if err := env.Client.Status().Update(ctx, cert); err != nil {
			t.Fatal(err)
		}
		waitMailServer(t, ns, "mx1", "the issued certificate is ready", func(ms *mailv1.MailServer) error {
			return wantCondition(ms.Status.Conditions, ms.Generation, mailv1.MailServerCertificateReady, metav1.ConditionTrue, mailv1.ReasonReady)
		})
	})

	t.Run("a missing TLS Secret is reported until it is created", func(t *testing.T) {
		env.Create(t, fresh(server("mx2", func(ms *mailv1.MailServer) {
			ms.Spec.Hostname = "mx2.example.com"
			ms.Spec.TLS.SecretName = "mx2-cert"
		}), ns))
		waitMailServer(t, ns, "mx2", "the missing Secret is reported", func(ms *mailv1.MailServer) error {
			return errors.Join(
				wantCondition(ms.Status.Conditions, ms.Generation, mailv1.MailServerCertificateReady, metav1.ConditionFalse, mailv1.ReasonSecretNotFound),
				wantCondition(ms.Status.Conditions, ms.Generation, mailv1.ConditionReady, metav1.ConditionFalse, mailv1.ReasonSecretNotFound))
		})
		certPEM, keyPEM, err := newSelfSignedCertificate("mx2.example.com", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		env.Create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mx2-cert", Namespace: ns}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}})
		waitMailServer(t, ns, "mx2", "the created Secret is used", func(ms *mailv1.MailServer) error {
			return wantCondition(ms.Status.Conditions, ms.Generation, mailv1.MailServerCertificateReady, metav1.ConditionTrue, mailv1.ReasonReady)
		})
	})

	t.Run("an object in the way is reported, not taken over", func(t *testing.T) {
		env.Create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mx3-dkim", Namespace: ns}})
		env.Create(t, fresh(server("mx3", func(ms *mailv1.MailServer) { ms.Spec.Hostname = "mx3.example.com" }), ns))
		waitMailServer(t, ns, "mx3", "the conflict is reported", func(ms *mailv1.MailServer) error {
			return wantCondition(ms.Status.Conditions, ms.Generation, mailv1.MailServerConfigApplied, metav1.ConditionFalse, reasonObjectConflict)
		})
	})
}

// waitMailbox waits until check accepts the Mailbox.
func waitMailbox(t *testing.T, ns, name, what string, check func(*mailv1.Mailbox) error) *mailv1.Mailbox {
	t.Helper()
	m := &mailv1.Mailbox{}
	testenv.Eventually(t, what, func() error {
		if err := get(ns, name, m); err != nil {
			return err
		}
		if m.Status.ObservedGeneration != m.Generation {
			return fmt.Errorf("status describes generation %d, not %d", m.Status.ObservedGeneration, m.Generation)
		}
		return check(m)
	})
	return m
}

func ptrTo[T any](v T) *T { return &v }

// items returns the objects of a list.
func items(l client.ObjectList) []client.Object {
	list, err := meta.ExtractList(l)
	if err != nil {
		panic(err)
	}
	out := make([]client.Object, len(list))
	for i, o := range list {
		out[i] = o.(client.Object)
	}
	return out
}

// TestMailboxReadyWhileReplicasTrail: the replicas serve a configuration
// one change behind the latest. A Mailbox in the configuration they serve
// is Ready; one only in the latest waits; status.servedConfigHash says
// which configuration the replicas serve.
func TestMailboxReadyWhileReplicasTrail(t *testing.T) {
	ns, _ := startOperator(t, Options{})
	env.Create(t, fresh(server("mx1"), ns))
	env.Create(t, fresh(ptrTo(domain("example-com", "example.com", 0)), ns))
	env.Create(t, fresh(ptrTo(mailbox("alice", "alice@example.com", 0)), ns))
	markPodsReady(t, ns, "mx1", 1)
	assignAddress(t, ns, "mx1", "192.0.2.25")
	var first string
	waitMailServer(t, ns, "mx1", "alice is compiled", func(ms *mailv1.MailServer) error {
		cfg, err := readConfig(ns, "mx1")
		if err != nil {
			return err
		}
		if _, ok := cfg.LookupMailbox("alice@example.com"); !ok || cfg.Hash() != ms.Status.ConfigHash {
			return errors.New("alice is not in the latest configuration yet")
		}
		first = ms.Status.ConfigHash
		return nil
	})
	reportServing(t, ns, "mx1", 0, first)
	waitMailbox(t, ns, "alice", "alice is Ready", func(m *mailv1.Mailbox) error {
		return wantCondition(m.Status.Conditions, m.Generation, mailv1.ConditionReady, metav1.ConditionTrue, mailv1.ReasonReady)
	})

	env.Create(t, fresh(ptrTo(mailbox("bob", "bob@example.com", 0)), ns))
	waitMailServer(t, ns, "mx1", "bob is compiled; the replica still serves the first configuration", func(ms *mailv1.MailServer) error {
		if ms.Status.ConfigHash == first {
			return errors.New("no new configuration yet")
		}
		if ms.Status.ServedConfigHash != first {
			return fmt.Errorf("servedConfigHash %.12s, want %.12s", ms.Status.ServedConfigHash, first)
		}
		return wantCondition(ms.Status.Conditions, ms.Generation, mailv1.MailServerConfigApplied, metav1.ConditionUnknown, mailv1.ReasonConfigPending)
	})
	waitMailbox(t, ns, "bob", "bob waits for the replica", func(m *mailv1.Mailbox) error {
		c := meta.FindStatusCondition(m.Status.Conditions, mailv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionUnknown || !strings.Contains(c.Message, "every replica") {
			return fmt.Errorf("Ready is %+v", c)
		}
		return nil
	})
	waitMailbox(t, ns, "alice", "alice stays Ready: the replica serves her", func(m *mailv1.Mailbox) error {
		return wantCondition(m.Status.Conditions, m.Generation, mailv1.ConditionReady, metav1.ConditionTrue, mailv1.ReasonReady)
	})

	ms := &mailv1.MailServer{}
	if err := get(ns, "mx1", ms); err != nil {
		t.Fatal(err)
	}
	reportServing(t, ns, "mx1", 0, ms.Status.ConfigHash)
	waitMailbox(t, ns, "bob", "bob is Ready once the replica serves him", func(m *mailv1.Mailbox) error {
		return wantCondition(m.Status.Conditions, m.Generation, mailv1.ConditionReady, metav1.ConditionTrue, mailv1.ReasonReady)
	})
}
