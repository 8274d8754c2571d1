package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubemail/kubemail/controllers"
	"github.com/kubemail/kubemail/internal/devenv"
	"github.com/kubemail/kubemail/internal/devrun"
)

// devImage is the image the operator writes into the server StatefulSets
// under kubemail dev; the local runtime runs this binary in its place.
const devImage = "kubemail:dev"

// devFieldOwner is the server-side apply field manager of the samples.
const devFieldOwner = "kubemail-dev"

// runDev runs the local control plane, the operator, and one local server
// process per MailServer until ctx is done, then stops every process it
// started.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", stderr)
	stateDir := fs.String("state-dir", ".kubemail-dev", "directory for etcd's data, the kubeconfig, endpoints.json and the servers' stores and logs")
	assetsDir := fs.String("assets-dir", devenv.AssetsDir(), "directory holding kube-apiserver, etcd and kubectl (make envtest-bins)")
	crdDir := fs.String("crd-dir", filepath.Join("config", "crd", "bases"), "directory of the CRD manifests to install")
	samples := fs.String("samples", filepath.Join("config", "samples"), "directory of manifests to apply at start; empty applies none")
	resolver := fs.String("resolver", "", "the DNS server (host:port) the mail servers use; the system's when empty")
	withOperator := fs.Bool("operator", true, "run the operator in this process; false leaves it to a `kubemail operator` you run yourself (as make bench-operator does)")
	serverBinary := fs.String("server-binary", "", "the kubemail binary to run the servers with (default: this one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log := newLogger(stderr)
	setControllerLogger(log)

	state, err := filepath.Abs(*stateDir)
	if err != nil {
		return fmt.Errorf("resolving the state directory: %w", err)
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	binary := *serverBinary
	if binary == "" {
		if binary, err = os.Executable(); err != nil {
			return fmt.Errorf("finding this program to run the servers with (use --server-binary): %w", err)
		}
	}
	env, err := devenv.Start(devenv.Options{
		AssetsDir: *assetsDir,
		CRDDirs:   []string{*crdDir},
		StateDir:  state,
		Logger:    log,
	})
	if err != nil {
		return err
	}
	runErr := runDevOperator(ctx, env.Config, devOptions{
		state: state, binary: binary, samples: *samples, kubectl: filepath.Join(*assetsDir, "kubectl"),
		kubeconfig: env.Kubeconfig, resolver: *resolver, operator: *withOperator, log: log, stdout: stdout,
	})
	log.Info("Stopping the local control plane")
	return errors.Join(runErr, env.Stop())
}

type devOptions struct {
	state, binary, samples, kubectl, kubeconfig, resolver string
	operator                                              bool
	log                                                   *slog.Logger
	stdout                                                io.Writer
}

// runDevOperator runs the operator and the local pod runtime against the
// control plane at cfg until ctx is done; the servers are stopped when it
// returns.
func runDevOperator(ctx context.Context, cfg *rest.Config, o devOptions) error {
	scheme, err := controllers.NewScheme()
	if err != nil {
		return err
	}
	cfg = withClientRate(cfg, defaultAPIQPS, defaultAPIBurst)
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
		Logger:                 logr.FromSlogHandler(o.log.Handler()),
	})
	if err != nil {
		return fmt.Errorf("creating the controller manager: %w", err)
	}
	// No DNS verification: kubemail dev must not query the machine's
	// resolver for example.com's records; DNSVerified stays Unknown.
	if o.operator {
		if err := controllers.Setup(ctx, mgr, controllers.Options{ServerImage: devImage}); err != nil {
			return err
		}
	}
	if _, err := devrun.Setup(mgr, devrun.Options{
		Command: o.binary, StateDir: o.state, Config: cfg, Logger: o.log, Announce: o.stdout, Resolver: o.resolver,
	}); err != nil {
		return err
	}
	mgrCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()

	var applied []string
	if o.samples != "" {
		if applied, err = applyManifests(ctx, cfg, o.samples, o.log); err != nil {
			stop()
			return errors.Join(err, <-done)
		}
	}
	kubectl := o.kubectl
	operator := "the operator"
	if !o.operator {
		operator = "no operator (run kubemail operator yourself)"
	}
	fmt.Fprintf(o.stdout, `kubemail dev is running: a local kube-apiserver at %s with the kubemail CRDs, %s,
and one local server process per MailServer (their addresses follow, and are in %s).

  kubeconfig:  %s
`, cfg.Host, operator, filepath.Join(o.state, devrun.EndpointsFile), o.kubeconfig)
	if len(applied) > 0 {
		fmt.Fprintf(o.stdout, "  applied:     %s\n", strings.Join(applied, ", "))
	}
	fmt.Fprintf(o.stdout, `
Try:
  export KUBECONFIG=%s
  %s get mail
  %s get maildomains
  %s get secret alice-credentials -o jsonpath='{.data.password}' | base64 -d

Press Ctrl-C to stop; etcd's data and the mail stay in %s.
`, o.kubeconfig, kubectl, kubectl, kubectl, o.state)

	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("running the operator: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	o.log.Info("Stopping the operator and the servers")
	stop()
	if err := <-done; err != nil {
		return fmt.Errorf("running the operator: %w", err)
	}
	return nil
}

// applyManifests server-side applies every YAML document of the files in
// dir, into namespace default when they name none. A field someone else
// changed since is left as they set it: the conflict is logged, not forced.
func applyManifests(ctx context.Context, cfg *rest.Config, dir string, log *slog.Logger) ([]string, error) {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("creating a client to apply %s: %w", dir, err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("applying the samples: no *.yaml files in %s", dir)
	}
	sort.Strings(files)
	var applied []string
	for _, file := range files {
		objs, err := readManifests(file)
		if err != nil {
			return nil, err
		}
		for _, u := range objs {
			if u.GetNamespace() == "" {
				u.SetNamespace("default")
			}
			//nolint:staticcheck // SA1019: client.Apply on unstructured objects is what applying arbitrary manifests needs
			err := c.Patch(ctx, u, client.Apply, client.FieldOwner(devFieldOwner))
			switch {
			case apierrors.IsConflict(err):
				log.Warn("Keeping a sample as it was changed since", "object", u.GetKind()+"/"+u.GetName(), "conflict", err)
			case err != nil:
				return nil, fmt.Errorf("applying %s %s from %s: %w", u.GetKind(), u.GetName(), file, err)
			}
			applied = append(applied, strings.ToLower(u.GetKind())+"/"+u.GetName())
		}
	}
	return applied, nil
}

// readManifests decodes the YAML documents of a file.
func readManifests(file string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	defer func() { _ = f.Close() }()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", file, err)
		}
		if len(u.Object) == 0 {
			continue // an empty document
		}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("reading %s: a document has no kind or apiVersion", file)
		}
		out = append(out, u)
	}
}

// setControllerLogger sends controller-runtime's and client-go's logs to
// log. Those loggers are process-wide and read without locks by every
// client, so they are set once: a process runs one command (tests run
// several, whose clients may still be stopping).
func setControllerLogger(log *slog.Logger) {
	controllerLoggerOnce.Do(func() {
		logger := logr.FromSlogHandler(log.Handler())
		ctrllog.SetLogger(logger)
		klog.SetLogger(logger)
	})
}

var controllerLoggerOnce sync.Once
