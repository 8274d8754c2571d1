package absent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers"
	"github.com/kubemail/kubemail/controllers/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	scheme, err := controllers.NewScheme()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if env, err = testenv.Start(false, scheme); err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
	}
	os.Exit(code)
}

func start(t *testing.T) string {
	t.Helper()
	ns := env.Namespace(t)
	env.StartManager(t, ns, func(ctx context.Context, mgr manager.Manager) error {
		return controllers.Setup(ctx, mgr, controllers.Options{ServerImage: "kubemail:test"})
	})
	return ns
}

func condition(conds []metav1.Condition, gen int64, typ string, status metav1.ConditionStatus, reason string) error {
	c := meta.FindStatusCondition(conds, typ)
	switch {
	case c == nil:
		return fmt.Errorf("no %s condition", typ)
	case c.Status != status || c.Reason != reason:
		return fmt.Errorf("%s is %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	case c.ObservedGeneration != gen:
		return fmt.Errorf("%s describes generation %d, not %d", typ, c.ObservedGeneration, gen)
	}
	return nil
}

func TestWithoutCertManagerAnIssuerRefIsReported(t *testing.T) {
	ns := start(t)
	env.Create(t, &mailv1.MailServer{ObjectMeta: metav1.ObjectMeta{Name: "mx1", Namespace: ns}, Spec: mailv1.MailServerSpec{
		Hostname: "mx1.example.com",
		TLS:      mailv1.MailServerTLS{IssuerRef: &mailv1.IssuerReference{Name: "letsencrypt", Kind: "ClusterIssuer"}},
	}})
	testenv.Eventually(t, "CertManagerNotInstalled", func() error {
		ms := &mailv1.MailServer{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "mx1"}, ms); err != nil {
			return err
		}
		return errors.Join(
			condition(ms.Status.Conditions, ms.Generation, mailv1.MailServerCertificateReady, metav1.ConditionFalse, mailv1.ReasonCertManagerNotInstalled),
			condition(ms.Status.Conditions, ms.Generation, mailv1.ConditionReady, metav1.ConditionFalse, mailv1.ReasonCertManagerNotInstalled))
	})
	// The rest of the server is still built.
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "mx1-config-0"}, &corev1.Secret{}); err != nil {
		t.Errorf("the configuration was not written: %v", err)
	}
}

func TestWithoutExternalDNSTheRecordsGoToAConfigMap(t *testing.T) {
	ns := start(t)
	env.Create(t, &mailv1.MailServer{ObjectMeta: metav1.ObjectMeta{Name: "mx1", Namespace: ns},
		Spec: mailv1.MailServerSpec{Hostname: "mx1.example.com"}})
	env.Create(t, &mailv1.MailDomain{ObjectMeta: metav1.ObjectMeta{Name: "example-com", Namespace: ns}, Spec: mailv1.MailDomainSpec{
		Domain: "example.com", ServerRef: corev1.LocalObjectReference{Name: "mx1"}}})
	testenv.Eventually(t, "ExternalDNSNotInstalled and the zone-file ConfigMap", func() error {
		d := &mailv1.MailDomain{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "example-com"}, d); err != nil {
			return err
		}
		if err := condition(d.Status.Conditions, d.Generation, mailv1.MailDomainDNSPublished, metav1.ConditionFalse, mailv1.ReasonExternalDNSNotInstalled); err != nil {
			return err
		}
		if len(d.Status.DNSRecords) == 0 {
			return errors.New("no records in status")
		}
		cm := &corev1.ConfigMap{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "example-com-dns"}, cm); err != nil {
			return err
		}
		if !strings.Contains(cm.Data["zone"], "kubemail._domainkey.example.com.") {
			return fmt.Errorf("zone snippet without the DKIM record: %q", cm.Data["zone"])
		}
		return nil
	})
}
