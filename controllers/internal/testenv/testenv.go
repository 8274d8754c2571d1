// Package testenv runs the operator's reconcilers against a real
// kube-apiserver and etcd (internal/devenv) for the envtest suites: one
// control plane per test binary, and per test a namespace of its own with
// a manager whose cache sees only that namespace.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubemail/kubemail/internal/devenv"
)

// Env is a running control plane and an administrator's client.
type Env struct {
	// Config reaches the API server.
	Config *rest.Config
	// Client is an uncached client with the operator's scheme.
	Client client.Client
	// Scheme is the operator's scheme.
	Scheme *runtime.Scheme

	env *devenv.Env
	ns  atomic.Int64
}

// RepoRoot returns the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Start brings up a control plane with the kubemail CRDs and, with
// thirdParty, cert-manager's and external-dns's CRDs from hack/crds.
// scheme is the operator's.
func Start(thirdParty bool, scheme *runtime.Scheme) (*Env, error) {
	root := RepoRoot()
	dirs := []string{filepath.Join(root, "config", "crd", "bases")}
	if thirdParty {
		dirs = append(dirs, filepath.Join(root, "hack", "crds", "cert-manager"), filepath.Join(root, "hack", "crds", "external-dns"))
	}
	// Controller-runtime logs through logr; keep only errors, on stderr.
	ctrllog.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	env, err := devenv.Start(devenv.Options{CRDDirs: dirs,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return nil, err
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("creating the test client: %w", err), env.Stop())
	}
	return &Env{Config: env.Config, Client: c, Scheme: scheme, env: env}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error { return e.env.Stop() }

// Namespace creates a namespace of the test's own.
func (e *Env) Namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d-%s", e.ns.Add(1), slug(t.Name()))}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

// slug shortens a test name into a DNS label fragment.
func slug(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

// StartManager runs a manager on namespace ns, with what setup registers,
// until the test ends, and returns it.
func (e *Env) StartManager(t *testing.T, ns string, setup func(context.Context, manager.Manager) error) manager.Manager {
	t.Helper()
	mgr, err := manager.New(e.Config, manager.Options{
		Scheme:                 e.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("creating the manager: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := setup(ctx, mgr); err != nil {
		cancel()
		t.Fatalf("setting up the reconcilers: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return mgr
}

// Create creates obj, retrying while the API server does not serve a
// just-installed CRD yet.
func (e *Env) Create(t *testing.T, obj client.Object) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; {
		err = e.Client.Create(context.Background(), obj)
		if err == nil || !strings.Contains(err.Error(), "no matches for kind") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// Timeout bounds Eventually.
const Timeout = 2 * time.Minute

// Eventually calls check until it returns nil, and fails the test with its
// last error after Timeout.
func Eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
