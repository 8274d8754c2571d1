package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubemail/kubemail/controllers"
)

// leaderElectionID names the Lease the operator replicas compete for.
const leaderElectionID = "kubemail-operator.mail.kubemail.io"

// listFlag is a flag that may be repeated and holds comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// operatorFlags are the operator's command-line settings.
type operatorFlags struct {
	metricsAddr, probeAddr  string
	pprofAddr               string
	metricsSecure           bool
	leaderElect             bool
	leaderElectionNamespace string
	namespaces              listFlag
	serverImage, kubeconfig string
	verifyDNS               bool
	apiQPS                  float64
	apiBurst                int
	configInterval          time.Duration
}

// Client-side rate limits of the operator's API requests. client-go's
// defaults (5 QPS, burst 10; 20/30 in controller-runtime) hold 10,000
// Mailboxes back for minutes; the API server's priority and fairness
// protects it from a busy client.
const (
	defaultAPIQPS   = 200
	defaultAPIBurst = 400
)

// withClientRate returns a copy of c with the client-side rate limits.
func withClientRate(c *rest.Config, qps float64, burst int) *rest.Config {
	c = rest.CopyConfig(c)
	c.QPS, c.Burst = float32(qps), burst
	return c
}

func parseOperatorFlags(args []string, stderr io.Writer) (*operatorFlags, error) {
	f := &operatorFlags{}
	fs := newFlagSet("operator", stderr)
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", "0", "address of the metrics endpoint, such as :8443; 0 disables it")
	fs.BoolVar(&f.metricsSecure, "metrics-secure", true, "serve metrics over HTTPS to clients the API server authenticates and authorises")
	fs.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints; 0 disables them")
	fs.StringVar(&f.pprofAddr, "pprof-bind-address", "0", "address of Go's pprof endpoints (/debug/pprof/), such as 127.0.0.1:6060; 0 disables them")
	fs.BoolVar(&f.leaderElect, "leader-elect", false, "elect one active operator among the replicas, through a Lease")
	fs.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease; the operator's own when in a cluster")
	fs.Var(&f.namespaces, "namespace", "namespace to watch; repeat or separate with commas for several; every namespace when unset")
	fs.StringVar(&f.serverImage, "server-image", os.Getenv("KUBEMAIL_IMAGE"), "image of the mail server pods when a MailServer sets no spec.image (default $KUBEMAIL_IMAGE)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file; in-cluster configuration, $KUBECONFIG or ~/.kube/config when unset")
	fs.BoolVar(&f.verifyDNS, "verify-dns", true, "check with the system resolver that each MailDomain's records are published")
	fs.Float64Var(&f.apiQPS, "kube-api-qps", defaultAPIQPS, "most requests per second to the API server, on average")
	fs.IntVar(&f.apiBurst, "kube-api-burst", defaultAPIBurst, "most requests to the API server in a burst")
	fs.DurationVar(&f.configInterval, "config-interval", controllers.DefaultConfigInterval,
		"shortest time between two compilations of one MailServer's configuration; changes meanwhile are compiled together")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	return f, nil
}

// runOperator runs the controller manager until ctx is done.
func runOperator(ctx context.Context, args []string, _, stderr io.Writer) error {
	f, err := parseOperatorFlags(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr)
	setControllerLogger(log)
	if f.serverImage == "" {
		log.Warn("No server image: MailServers without spec.image will not run; set --server-image or KUBEMAIL_IMAGE")
	}

	restConfig, err := loadRESTConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	restConfig = withClientRate(restConfig, f.apiQPS, f.apiBurst)
	scheme, err := controllers.NewScheme()
	if err != nil {
		return err
	}
	metrics := metricsserver.Options{BindAddress: f.metricsAddr, SecureServing: f.metricsSecure}
	if f.metricsSecure {
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	// The cache holds every object the operator watches, 10,000 Mailboxes
	// and their Secrets among them; managedFields are a third of each and
	// never read.
	opts := manager.Options{
		Scheme:                        scheme,
		Metrics:                       metrics,
		HealthProbeBindAddress:        f.probeAddr,
		PprofBindAddress:              f.pprofAddr,
		LeaderElection:                f.leaderElect,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionNamespace:       f.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Logger:                        logr.FromSlogHandler(log.Handler()),
	}
	opts.Cache.DefaultTransform = cache.TransformStripManagedFields()
	if len(f.namespaces) > 0 {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range f.namespaces {
			opts.Cache.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	mgr, err := manager.New(restConfig, opts)
	if err != nil {
		return fmt.Errorf("creating the controller manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding the readiness check: %w", err)
	}
	copts := controllers.Options{ServerImage: f.serverImage, ConfigInterval: f.configInterval}
	if f.configInterval == 0 {
		copts.ConfigInterval = -1 // 0 on the command line: no spacing
	}
	if f.verifyDNS {
		copts.Resolver = net.DefaultResolver
	}
	if err := controllers.Setup(ctx, mgr, copts); err != nil {
		return err
	}
	log.Info("Starting the operator", "namespaces", f.namespaces.String(), "serverImage", f.serverImage, "leaderElection", f.leaderElect)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the controller manager: %w", err)
	}
	return nil
}

// loadRESTConfig reads the kubeconfig file, or finds the configuration as
// kubectl does when path is empty.
func loadRESTConfig(path string) (*rest.Config, error) {
	if path != "" {
		c, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
		}
		return c, nil
	}
	c, err := config.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("finding the cluster's configuration: %w", err)
	}
	return c, nil
}
