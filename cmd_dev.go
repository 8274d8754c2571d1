package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kubemail/kubemail/internal/devenv"
)

// runDev runs the local control plane until ctx is done, then stops every
// process it started.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", stderr)
	stateDir := fs.String("state-dir", ".kubemail-dev", "directory for etcd's data and the kubeconfig")
	assetsDir := fs.String("assets-dir", devenv.AssetsDir(), "directory holding kube-apiserver, etcd and kubectl (make envtest-bins)")
	crdDir := fs.String("crd-dir", filepath.Join("config", "crd", "bases"), "directory of the CRD manifests to install")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log := newLogger(stderr)

	state, err := filepath.Abs(*stateDir)
	if err != nil {
		return fmt.Errorf("resolving the state directory: %w", err)
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
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
	kubectl := filepath.Join(*assetsDir, "kubectl")
	fmt.Fprintf(stdout, `kubemail dev is running: a local kube-apiserver at %s with the kubemail CRDs installed.

  kubeconfig:  %s

Try:
  export KUBECONFIG=%s
  %s apply -f config/samples/
  %s get mail
  %s get maildomains

Press Ctrl-C to stop; etcd's data stays in %s.
`, env.Config.Host, env.Kubeconfig, env.Kubeconfig, kubectl, kubectl, kubectl, state)

	<-ctx.Done()
	log.Info("Stopping the local control plane")
	return env.Stop()
}
