package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/configsource"
	"github.com/kubemail/kubemail/mailserver/server"
)

// runServer runs the mail server with the configuration file given by
// --config, or the operator's configuration Secrets given by
// --config-secret, until ctx is done (SIGINT or SIGTERM), then shuts it
// down gracefully.
func runServer(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("server", stderr)
	configPath := fs.String("config", "", "the server configuration file (see config/standalone/server.yaml)")
	configSecret := fs.String("config-secret", "",
		"NAMESPACE/NAME of shard 0 of the configuration Secrets the operator writes, read through the Kubernetes API")
	kubeconfig := fs.String("kubeconfig", "", "with --config-secret: the kubeconfig file (default: the in-cluster configuration)")
	root := fs.String("root", "", "with --config-secret: run the pod's configuration locally, its absolute paths under this directory (kubemail dev)")
	resolver := fs.String("resolver", "", "with --config-secret: the DNS server for outbound mail and sender checks, in place of the configuration's (kubemail dev)")
	var publish listFlag
	fs.Var(&publish, "publish", "with --config-secret: CONTAINERPORT=HOST:PORT, listen on HOST:PORT for the configuration's listener on that port; repeat for each (kubemail dev)")
	startupOps := fs.String("startup-ops-address", "",
		"with --config-secret: serve /healthz, /readyz (not ready) and /metrics here until the configuration is found, such as :9380 (the pod's probes)")
	pprofAddr := fs.String("pprof-address", "", "serve Go's profiles (/debug/pprof/) on this address, such as 127.0.0.1:6060; keep it on loopback")
	shutdownTimeout := fs.Duration("shutdown-timeout", server.DefaultShutdownTimeout,
		"how long to let sessions finish on shutdown before closing them")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *configPath == "" && *configSecret == "":
		fmt.Fprintln(stderr, "kubemail server: --config is required, or --config-secret NAMESPACE/NAME")
		fs.Usage()
		return errUsage
	case *configPath != "" && *configSecret != "":
		fmt.Fprintln(stderr, "kubemail server: --config and --config-secret are mutually exclusive")
		fs.Usage()
		return errUsage
	}
	opts := server.Options{
		ConfigPath:      *configPath,
		Logger:          newLogger(stderr),
		ShutdownTimeout: *shutdownTimeout,
	}
	if *configSecret != "" {
		so, err := secretOptions(*configSecret, *kubeconfig)
		if err != nil {
			return err
		}
		if so.Local, err = localOptions(*root, *resolver, publish); err != nil {
			fmt.Fprintf(stderr, "kubemail server: %v\n", err)
			return errUsage
		}
		so.StartupOpsAddress = *startupOps
		opts.ConfigSecret = so
	} else if *kubeconfig != "" || *root != "" || *resolver != "" || len(publish) > 0 || *startupOps != "" {
		fmt.Fprintln(stderr, "kubemail server: --kubeconfig, --root, --resolver, --publish and --startup-ops-address go with --config-secret")
		fs.Usage()
		return errUsage
	}
	srv, err := server.New(opts)
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		if _, err := servePprof(ctx, *pprofAddr, opts.Logger); err != nil {
			return err
		}
	}
	return srv.Run(ctx)
}

// secretOptions builds the client and reads the status ConfigMap's name
// and namespace from the environment.
func secretOptions(ref, kubeconfig string) (*configsource.SecretOptions, error) {
	ns, name, err := configsource.ParseSecretRef(ref)
	if err != nil {
		return nil, err
	}
	var rc *rest.Config
	if kubeconfig != "" {
		if rc, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
			return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
		}
	} else if rc, err = rest.InClusterConfig(); err != nil {
		return nil, fmt.Errorf("loading the in-cluster Kubernetes configuration (use --kubeconfig outside a cluster): %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	return &configsource.SecretOptions{
		Client: client, Namespace: ns, Name: name,
		StatusConfigMap: os.Getenv(config.EnvStatusConfigMap),
		StatusNamespace: os.Getenv(config.EnvPodNamespace),
	}, nil
}

// localOptions reads --root, --resolver and --publish; nil when neither is given.
func localOptions(root, resolver string, publish []string) (*configsource.Local, error) {
	if root == "" && resolver == "" && len(publish) == 0 {
		return nil, nil
	}
	l := &configsource.Local{Root: root, Resolver: resolver, Publish: map[int]string{}}
	for _, p := range publish {
		port, addr, err := configsource.ParsePublish(p)
		if err != nil {
			return nil, fmt.Errorf("--publish: %w", err)
		}
		l.Publish[port] = addr
	}
	return l, nil
}
