package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/internal/devenv"
)

// The suite runs against a real kube-apiserver + etcd (make envtest-bins);
// it never skips: without the binaries it fails and says how to get them.
var (
	restConfig *rest.Config
	k8s        client.Client
	nsCounter  atomic.Int64
)

func TestMain(m *testing.M) {
	env, err := devenv.Start(devenv.Options{CRDDirs: []string{filepath.Join("..", "..", "config", "crd", "bases")}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		os.Exit(1)
	}
	restConfig = env.Config
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := mailv1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if k8s, err = client.New(restConfig, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "envtest client:", err)
		_ = env.Stop()
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
	}
	os.Exit(code)
}

// newNamespace creates a namespace of the test's own.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("crd-test-%d", nsCounter.Add(1))}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

// decodeAll splits a multi-document YAML manifest into objects.
func decodeAll(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if err.Error() == "EOF" {
				return objs
			}
			t.Fatalf("decoding manifest: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// create creates the objects of a manifest in ns, retrying the first create
// after a CRD was installed (the API server needs a moment to serve it).
func create(ctx context.Context, ns string, u *unstructured.Unstructured) error {
	u.SetNamespace(ns)
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; {
		err = k8s.Create(ctx, u)
		if err == nil || !strings.Contains(err.Error(), "no matches for kind") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestSamplesAreAccepted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "*.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("want the samples in config/samples, found %v (%v)", files, err)
	}
	ns := newNamespace(t)
	kinds := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range decodeAll(t, data) {
			if err := create(context.Background(), ns, u); err != nil {
				t.Errorf("%s: %s %s refused: %v", filepath.Base(f), u.GetKind(), u.GetName(), err)
			}
			kinds[u.GetKind()] = true
		}
	}
	for _, kind := range []string{"MailServer", "MailDomain", "Mailbox", "MailAlias", "RelayPolicy"} {
		if !kinds[kind] {
			t.Errorf("config/samples has no %s", kind)
		}
	}
	// Defaults from the schema are applied.
	ms := &mailv1.MailServer{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "mx1"}, ms); err != nil {
		t.Fatal(err)
	}
	if len(ms.Spec.Protocols) != 7 || ms.Spec.Service.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("MailServer defaults not applied: protocols %v, externalTrafficPolicy %q", ms.Spec.Protocols, ms.Spec.Service.ExternalTrafficPolicy)
	}
}
