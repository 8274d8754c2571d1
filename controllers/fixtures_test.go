package controllers

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// update rewrites the golden files: go test ./controllers/ -run X -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testHash is the argon2id hash of "secret".
const testHash = "$argon2id$v=19$m=19456,t=2,p=1$/cAhGcWo8WpVR33OLdEjaw$IP+x/JdlaaR1mmSm1K6K5IH0DoGElFwJzewjoK3meWc"

// testHash2 is the argon2id hash of "other".
const testHash2 = "$argon2id$v=19$m=19456,t=2,p=1$yV1tS+iWOo/5vf6Jf/oUJw$1iNUM9JQcJ/4cmbD2BxLfSjR45LBYZFqCvh5Jeubyd8"

// epoch is the creation time of the first fixture; later ones are created
// a minute apart, in the order the test builds them.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// golden compares got with testdata/<name>.golden, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// goldenYAML renders objects as YAML documents and compares them with a golden file.
func goldenYAML(t *testing.T, name string, objs ...any) {
	t.Helper()
	var buf bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		data, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(data)
	}
	golden(t, name, buf.Bytes())
}

// objMeta returns object metadata created minutes after epoch in namespace "mail".
func objMeta(name string, minutes int) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: "mail", Generation: 1,
		UID:               types.UID("uid-" + name),
		CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(minutes) * time.Minute)),
	}
}

// server returns a MailServer with the schema's defaults, changed by opts.
func server(name string, opts ...func(*mailv1.MailServer)) *mailv1.MailServer {
	ms := &mailv1.MailServer{
		TypeMeta:   metav1.TypeMeta{APIVersion: mailv1.GroupVersion.String(), Kind: "MailServer"},
		ObjectMeta: objMeta(name, 0),
		Spec: mailv1.MailServerSpec{
			Hostname: "mx1.example.com",
			Replicas: ptr.To[int32](1),
			Protocols: []mailv1.Protocol{mailv1.ProtocolSMTP, mailv1.ProtocolSubmission, mailv1.ProtocolSubmissions,
				mailv1.ProtocolIMAP, mailv1.ProtocolIMAPS, mailv1.ProtocolPOP3, mailv1.ProtocolPOP3S},
			Storage: mailv1.MailServerStorage{Type: mailv1.StorageEmbedded, Size: ptr.To(resource.MustParse("10Gi"))},
			Service: mailv1.MailServerService{Type: "LoadBalancer", ExternalTrafficPolicy: "Local"},
			Limits: mailv1.MailServerLimits{MaxMessageSize: ptr.To(resource.MustParse("25Mi")),
				MaxRecipients: 100, MaxConnectionsPerIP: 20},
		},
	}
	for _, o := range opts {
		o(ms)
	}
	return ms
}

// domain returns a MailDomain for name on server mx1, changed by opts.
func domain(objName, name string, minutes int, opts ...func(*mailv1.MailDomain)) mailv1.MailDomain {
	d := mailv1.MailDomain{
		TypeMeta:   metav1.TypeMeta{APIVersion: mailv1.GroupVersion.String(), Kind: "MailDomain"},
		ObjectMeta: objMeta(objName, minutes),
		Spec: mailv1.MailDomainSpec{
			Domain:    mailv1.DomainName(name),
			ServerRef: corev1.LocalObjectReference{Name: "mx1"},
			DNS: mailv1.MailDomainDNS{Publish: mailv1.DNSPublishExternalDNS, TTL: 3600,
				SPF: mailv1.MailDomainSPF{All: mailv1.SPFSoftFail}, DMARC: mailv1.MailDomainDMARC{Policy: mailv1.DMARCQuarantine},
				MTASTS: mailv1.MTASTSTesting, Autoconfig: ptr.To(true)},
			DKIM: mailv1.MailDomainDKIM{Selector: "kubemail", Algorithm: mailv1.DKIMRSA2048},
		},
	}
	for _, o := range opts {
		o(&d)
	}
	return d
}

// mailbox returns a Mailbox for addr, changed by opts.
func mailbox(name, addr string, minutes int, opts ...func(*mailv1.Mailbox)) mailv1.Mailbox {
	m := mailv1.Mailbox{
		TypeMeta:   metav1.TypeMeta{APIVersion: mailv1.GroupVersion.String(), Kind: "Mailbox"},
		ObjectMeta: objMeta(name, minutes),
		Spec:       mailv1.MailboxSpec{Address: mailv1.EmailAddress(addr), KeepCopy: ptr.To(true)},
	}
	for _, o := range opts {
		o(&m)
	}
	return m
}

// alias returns a MailAlias from addr to targets.
func alias(name, addr string, minutes int, targets ...string) mailv1.MailAlias {
	a := mailv1.MailAlias{
		TypeMeta:   metav1.TypeMeta{APIVersion: mailv1.GroupVersion.String(), Kind: "MailAlias"},
		ObjectMeta: objMeta(name, minutes),
		Spec:       mailv1.MailAliasSpec{Address: addr},
	}
	for _, t := range targets {
		a.Spec.Targets = append(a.Spec.Targets, mailv1.EmailAddress(t))
	}
	return a
}

func withAliases(addrs ...string) func(*mailv1.Mailbox) {
	return func(m *mailv1.Mailbox) {
		for _, a := range addrs {
			m.Spec.Aliases = append(m.Spec.Aliases, mailv1.EmailAddress(a))
		}
	}
}

func withForward(keep bool, addrs ...string) func(*mailv1.Mailbox) {
	return func(m *mailv1.Mailbox) {
		m.Spec.KeepCopy = ptr.To(keep)
		for _, a := range addrs {
			m.Spec.ForwardTo = append(m.Spec.ForwardTo, mailv1.EmailAddress(a))
		}
	}
}

func withQuota(q string) func(*mailv1.Mailbox) {
	return func(m *mailv1.Mailbox) { m.Spec.Quota = ptr.To(resource.MustParse(q)) }
}

func suspended(m *mailv1.Mailbox) { m.Spec.Suspended = true }

func onServer(name string) func(*mailv1.MailDomain) {
	return func(d *mailv1.MailDomain) { d.Spec.ServerRef.Name = name }
}

func withDefaultQuota(q string) func(*mailv1.MailDomain) {
	return func(d *mailv1.MailDomain) { d.Spec.DefaultQuota = ptr.To(resource.MustParse(q)) }
}

func resourceQuantity(s string) resource.Quantity { return resource.MustParse(s) }
