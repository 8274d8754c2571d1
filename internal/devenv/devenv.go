// Package devenv runs a local Kubernetes control plane — kube-apiserver and
// etcd built by hack/envtest-bins.sh — with kubemail's CRDs installed. It
// backs `kubemail dev` and the envtest suites, so both run against the same
// real API server on a machine with no cluster and no internet.
package devenv

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// K8sVersion is the version of the kube-apiserver and etcd that
// hack/envtest-bins.sh builds; keep it in step with the Makefile.
const K8sVersion = "1.37.2"

// startTimeout bounds how long the API server may take to come up; the
// first start on a loaded 2-core machine takes tens of seconds.
const startTimeout = 2 * time.Minute

// AssetsDir returns the directory holding kube-apiserver, etcd and kubectl:
// $KUBEBUILDER_ASSETS when set, else the cache hack/envtest-bins.sh fills.
func AssetsDir() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	cache := os.Getenv("KUBEMAIL_CACHE")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = filepath.Join(os.TempDir(), "cache")
		}
		cache = filepath.Join(base, "kubemail")
	}
	return filepath.Join(cache, "k8s", K8sVersion+"-linux-amd64")
}

// CheckAssets reports, in words a newcomer can act on, why dir cannot run a control plane.
func CheckAssets(dir string) error {
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return fmt.Errorf("%s is missing from %s: run `make envtest-bins` (builds it once from the Go module proxy): %w", bin, dir, err)
		}
	}
	return nil
}

// Options configure a control plane.
type Options struct {
	// AssetsDir holds kube-apiserver, etcd and kubectl; AssetsDir() when empty.
	AssetsDir string
	// CRDDirs are the directories of CRD manifests to install.
	CRDDirs []string
	// StateDir, when set, keeps etcd's data across restarts and receives the
	// kubeconfig; when empty everything lives in temporary directories.
	StateDir string
	// Logger receives progress messages; slog.Default() when nil.
	Logger *slog.Logger
}

// Env is a running control plane.
type Env struct {
	// Config reaches the API server as a cluster administrator.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for kubectl (empty without StateDir).
	Kubeconfig string

	env *envtest.Environment
}

// Start brings up etcd and kube-apiserver, installs the CRDs and waits until
// they are served.
func Start(opts Options) (*Env, error) {
	if opts.AssetsDir == "" {
		opts.AssetsDir = AssetsDir()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := CheckAssets(opts.AssetsDir); err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory:    opts.AssetsDir,
		CRDDirectoryPaths:        opts.CRDDirs,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: startTimeout,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	if opts.StateDir != "" {
		etcdDir := filepath.Join(opts.StateDir, "etcd")
		if err := os.MkdirAll(etcdDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the etcd data directory: %w", err)
		}
		te.ControlPlane.Etcd = &envtest.Etcd{DataDir: etcdDir}
	}
	opts.Logger.Info("Starting etcd and kube-apiserver", "assets", opts.AssetsDir)
	cfg, err := te.Start()
	if err != nil {
		// Start may fail after etcd and kube-apiserver are up (installing the
		// CRDs, say); stop whatever it started.
		return nil, errors.Join(fmt.Errorf("starting the local control plane: %w", err), te.Stop())
	}
	e := &Env{Config: cfg, env: te}
	if opts.StateDir != "" {
		if e.Kubeconfig, err = e.writeKubeconfig(opts.StateDir); err != nil {
			return nil, errors.Join(err, e.Stop())
		}
	}
	return e, nil
}

// writeKubeconfig writes an administrator's kubeconfig into dir.
func (e *Env) writeKubeconfig(dir string) (string, error) {
	user, err := e.env.AddUser(envtest.User{Name: "kubemail-dev", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("creating the kubeconfig user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("rendering the kubeconfig: %w", err)
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("writing the kubeconfig: %w", err)
	}
	return path, nil
}

// Stop stops kube-apiserver and etcd. etcd's data stays in the state directory.
func (e *Env) Stop() error {
	if err := e.env.Stop(); err != nil {
		return fmt.Errorf("stopping the local control plane: %w", err)
	}
	return nil
}
