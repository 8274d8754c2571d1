package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubemail/kubemail/mailserver/auth"
	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/configsource"
	"github.com/kubemail/kubemail/mailserver/store"
	"github.com/kubemail/kubemail/mailserver/store/sqlite"
)

// DefaultShutdownTimeout is how long Run waits for sessions to finish after
// ctx is done before it closes the remaining connections. It is shorter
// than Kubernetes' default termination grace period (30 s), so the store
// is closed before the kubelet's SIGKILL. (go-smtp's Shutdown waits for
// idle SMTP sessions too, so with a client idle between messages the
// whole timeout is used.)
const DefaultShutdownTimeout = 20 * time.Second

// Options configure a Server.
type Options struct {
	// ConfigPath is the configuration file. Exactly one of ConfigPath and
	// ConfigSecret is required.
	ConfigPath string
	// ConfigSecret, when set, reads the configuration from the operator's
	// sharded Secrets instead of a file (secretsource.go); Run waits for a
	// first valid configuration before it opens anything.
	ConfigSecret *configsource.SecretOptions
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// ShutdownTimeout bounds the graceful part of shutdown. Zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// CertPollInterval is how often the TLS certificate files are checked
	// for changes. Zero means DefaultCertPollInterval.
	CertPollInterval time.Duration
	// ProxyHeaderTimeout bounds the wait for a trusted peer's PROXY protocol
	// header. Zero means DefaultProxyHeaderTimeout.
	ProxyHeaderTimeout time.Duration
	// ConfigDebounce is passed to the configuration Watcher; zero means
	// config.DefaultDebounce.
	ConfigDebounce time.Duration
	// UsageInterval is how often the accounts' usage is measured for the
	// status ConfigMap (usage.go). Zero means DefaultUsageInterval.
	UsageInterval time.Duration
}

// Server is the kubemail mail server. Create it with New and run it with Run.
type Server struct {
	opts    Options
	log     *slog.Logger
	started *config.Config // the configuration loaded by New, or the first read from the Secrets
	metrics *metrics
	source  *configsource.Secrets        // nil when reading a file
	status  *configsource.StatusReporter // nil without a status ConfigMap

	stopSourceOnce sync.Once
	stopSource     func() // stops source and status; set by Run

	// Set by Run.
	store   store.Store
	staging *config.Holder // what the Watcher stores into
	serving *config.Holder // what the adapters read
	certs   *certSource
	out     *outbound // the queue and its Intake (outbound.go)

	ready     atomic.Bool
	readyCh   chan struct{}
	addrs     map[string]net.Addr // written before readyCh is closed
	runCalled atomic.Bool
}

// New loads and validates the configuration; a configuration that does not
// validate is refused with every field error. Nothing is opened or bound
// until Run.
func New(opts Options) (*Server, error) {
	if (opts.ConfigPath == "") == (opts.ConfigSecret == nil) {
		return nil, errors.New("creating the mail server: exactly one of a configuration file and a configuration Secret is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.CertPollInterval <= 0 {
		opts.CertPollInterval = DefaultCertPollInterval
	}
	s := &Server{
		opts:       opts,
		log:        opts.Logger,
		metrics:    newMetrics(),
		readyCh:    make(chan struct{}),
		stopSource: func() {},
	}
	if opts.ConfigSecret != nil {
		var err error
		if s.source, err = configsource.NewSecrets(*opts.ConfigSecret, s.configLog(), opts.ConfigDebounce); err != nil {
			return nil, fmt.Errorf("creating the mail server: %w", err)
		}
		s.status = configsource.NewStatusReporter(*opts.ConfigSecret, s.log.With("component", "status"))
		return s, nil
	}
	cfg, err := config.Load(opts.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("refusing to start: %w", err)
	}
	if err := checkDriver(cfg); err != nil {
		return nil, err
	}
	s.started = cfg
	return s, nil
}

// checkDriver refuses a storage driver the server cannot open yet.
func checkDriver(cfg *config.Config) error {
	if cfg.Storage.Driver != config.DriverSQLite {
		return fmt.Errorf("refusing to start: storage driver %q is not supported yet; use %q",
			cfg.Storage.Driver, config.DriverSQLite)
	}
	return nil
}

// configLog is the logger of the configuration watcher or Secret source,
// which counts the changes they refuse.
func (s *Server) configLog() *slog.Logger {
	return slog.New(reloadFailures{
		Handler: s.log.Handler(),
		inc:     func() { s.metrics.reloads.WithLabelValues("failed").Inc() },
	}).With("component", "config")
}

// startSource runs the Secret source and the status reporter until
// stopSource is called, and waits for the first valid configuration; nil
// when ctx ends first.
func (s *Server) startSource(ctx context.Context) *config.Config {
	srcCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.source.Run(srcCtx); err != nil {
			s.log.Error("Watching the configuration Secret failed", "error", err)
		}
	})
	if s.status != nil {
		wg.Go(func() { s.status.Run(srcCtx) })
	}
	s.stopSource = func() { s.stopSourceOnce.Do(func() { cancel(); wg.Wait() }) }
	s.log.Info("Waiting for a valid configuration in the Secrets before starting", "secret", s.source.Ref())
	return s.source.WaitFirst(ctx)
}

// Ready is closed once every listener accepts connections.
func (s *Server) Ready() <-chan struct{} { return s.readyCh }

// Addr returns the address a listener ("smtp", "submission",
// "submissions", "pop3", "pop3s", "ops", "admin") is bound to, once Ready
// is closed; nil for a disabled listener.
func (s *Server) Addr(name string) net.Addr {
	select {
	case <-s.readyCh:
		return s.addrs[name]
	default:
		return nil
	}
}

// Run serves until ctx is done, then shuts down gracefully: it stops
// accepting, lets sessions finish for up to ShutdownTimeout, and closes the
// store (which commits what is queued). It returns nil after a shutdown
// asked for through ctx, or the error that stopped the server. Run may be
// called once.
func (s *Server) Run(ctx context.Context) error {
	if s.runCalled.Swap(true) {
		return errors.New("running the mail server: Run was called already")
	}
	from := s.opts.ConfigPath
	if s.source != nil {
		defer func() { s.stopSource() }()
		stopOps, err := s.startupOps(ctx)
		if err != nil {
			return err
		}
		s.started = s.startSource(ctx)
		stopOps()
		if s.started == nil {
			return nil // ctx ended before a configuration was found
		}
		if err := checkDriver(s.started); err != nil {
			return err
		}
		from = "secret:" + s.source.Ref()
	}
	cfg := s.started
	s.log.Info("Starting the mail server", "config", from, "hash", s.source.SourceHash(cfg.Hash()), "hostname", cfg.Hostname)

	st, err := sqlite.Open(cfg.Storage.Path, sqlite.Options{Logger: s.log.With("component", "store")}) //nolint:contextcheck // Open takes no context
	if err != nil {
		return fmt.Errorf("opening the store at %s: %w", cfg.Storage.Path, err)
	}
	s.store = st
	defer func() {
		if cerr := st.Close(); cerr != nil {
			s.log.Error("Closing the store failed", "error", cerr)
		} else {
			s.log.Info("Store closed")
		}
	}()
	if n, err := ensureAccounts(ctx, st, cfg); err != nil {
		return fmt.Errorf("creating the store accounts of the configured mailboxes: %w", err)
	} else if n > 0 {
		s.log.Info("Created store accounts for configured mailboxes", "count", n)
	}

	s.staging, s.serving = config.NewHolder(cfg), config.NewHolder(cfg)
	if s.certs, err = newCertSource(s.serving.Current, s.log.With("component", "tls")); err != nil {
		return err
	}
	s.metrics.setConfigHash(s.source.SourceHash(cfg.Hash()))
	if s.out, err = s.newOutbound(cfg, st); err != nil {
		return err
	}

	svcs, err := s.services(cfg)
	if err != nil {
		return err
	}
	gates, httpLns, err := s.listen(ctx, svcs)
	if err != nil {
		return err
	}
	return s.serve(ctx, svcs, gates, httpLns)
}

// services builds the adapters and the protocol servers.
func (s *Server) services(cfg *config.Config) ([]service, error) {
	throttle := auth.NewThrottle(auth.ThrottleOptions{
		BaseDelay: cfg.Limits.AuthFailureDelay.Duration,
		MaxDelay:  cfg.Limits.AuthFailureMaxDelay.Duration,
	})
	cache, err := auth.NewVerifyCache(auth.CacheOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating the password cache: %w", err)
	}
	a, err := auth.NewAuthenticator(auth.AuthenticatorOptions{
		Lookup:   s.serving.LookupPassword,
		Throttle: throttle,
		Cache:    cache,
		Logger:   s.log.With("component", "auth"),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the authenticator: %w", err)
	}
	return buildServices(wiring{
		cfg:     cfg,
		tls:     s.certs.tlsConfig(),
		auth:    a,
		intake:  s.out.intake,
		checker: s.out.checker,
		store:   s.store,
		metrics: s.metrics,
		log:     s.log,
	})
}

// httpListeners are the bound HTTP listeners, nil when disabled.
type httpListeners struct {
	ops, admin net.Listener
}

// listen binds every listener; on failure it closes those already bound.
func (s *Server) listen(ctx context.Context, svcs []service) ([]*gate, httpListeners, error) {
	var lc net.ListenConfig
	limiter := newConnLimiter(func() (int, int) {
		l := s.serving.Current().Limits
		return l.MaxConnections, l.MaxConnectionsPerIP
	})
	tlsConf := s.certs.tlsConfig()
	var gates []*gate
	closeAll := func() {
		for _, g := range gates {
			_ = g.Close()
			g.wait()
		}
	}
	for _, svc := range svcs {
		ln, err := lc.Listen(ctx, "tcp", svc.listener.Address)
		if err != nil {
			closeAll()
			return nil, httpListeners{}, fmt.Errorf("listening for %s on %s: %w", svc.name, svc.listener.Address, err)
		}
		o := gateOptions{
			name: svc.name, ln: ln, proxy: svc.listener.ProxyProtocol, style: svc.style,
			cfg: s.serving.Current, limiter: limiter, metrics: s.metrics,
			log:           s.log.With("listener", svc.name),
			headerTimeout: s.opts.ProxyHeaderTimeout,
		}
		if svc.implicitTLS {
			o.tlsConfig = tlsConf
		}
		gates = append(gates, newGate(ctx, o))
	}
	var lns httpListeners
	if ops := s.started.Listeners.Ops; ops.Enabled() {
		var err error
		if lns.ops, err = lc.Listen(ctx, "tcp", ops.Address); err != nil {
			closeAll()
			return nil, httpListeners{}, fmt.Errorf("listening for ops on %s: %w", ops.Address, err)
		}
	}
	if admin := s.started.Listeners.Admin; admin.Enabled() {
		var err error
		if lns.admin, err = lc.Listen(ctx, "tcp", admin.Address); err != nil {
			closeAll()
			if lns.ops != nil {
				_ = lns.ops.Close()
			}
			return nil, httpListeners{}, fmt.Errorf("listening for admin on %s: %w", admin.Address, err)
		}
	}
	return gates, lns, nil
}

// serve runs everything until ctx is done or a part fails, then shuts
// down: a small supervisor over the listeners and the background parts.
func (s *Server) serve(ctx context.Context, svcs []service, gates []*gate, lns httpListeners) error {
	watcher, err := s.fileWatcher()
	if err != nil {
		closeListeners(gates, lns)
		return err
	}
	// The background work (config and certificate watchers, the queue) and
	// the shutdown outlive ctx, which ends to start the shutdown.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	sv := newSupervisor(s.log, s.metrics.panics, len(svcs)+8)

	addrs := make(map[string]net.Addr, len(gates)+2)
	for i, svc := range svcs {
		g := gates[i]
		addrs[svc.name] = g.Addr()
		sv.serve(svc.name, func() error { return svc.serve(g) })
	}
	ops, admin := s.startHTTP(sv, lns, addrs)
	sv.goBackground("queue", func() error { return s.out.queue.Run(bg) })
	s.startConfig(bg, sv, watcher)
	sv.goBackground("certificate watcher", func() error { s.certs.run(bg, s.opts.CertPollInterval); return nil })
	sv.goBackground("usage reporter", func() error { s.reportUsage(bg); return nil })
	s.announce(svcs, addrs)

	var cause error
	select {
	case <-ctx.Done():
		s.log.Info("Shutting down")
	case cause = <-sv.failed:
		s.log.Error("Shutting down after a failure", "error", cause)
	}
	sv.stop()
	s.ready.Store(false)

	shCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	s.shutdownServices(shCtx, svcs, gates)
	sv.serving.Wait()
	stopBG()
	for _, h := range []*http.Server{ops, admin} {
		if h != nil {
			if err := h.Shutdown(shCtx); err != nil {
				_ = h.Close()
			}
		}
	}
	sv.background.Wait()
	return cause
}

// fileWatcher returns the watcher of the configuration file; nil when the
// configuration comes from the Secrets.
func (s *Server) fileWatcher() (*configsource.Watcher, error) {
	if s.source != nil {
		return nil, nil
	}
	return configsource.NewWatcher(configsource.WatcherOptions{
		Path: s.opts.ConfigPath, Holder: s.staging, Logger: s.configLog(), Debounce: s.opts.ConfigDebounce,
	})
}

// closeListeners closes what listen bound, when serve cannot start.
func closeListeners(gates []*gate, lns httpListeners) {
	for _, g := range gates {
		_ = g.Close()
		g.wait()
	}
	for _, ln := range []net.Listener{lns.ops, lns.admin} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

// startHTTP serves the ops and admin endpoints on their listeners, when
// bound, and records their addresses.
func (s *Server) startHTTP(sv *supervisor, lns httpListeners, addrs map[string]net.Addr) (ops, admin *http.Server) {
	if lns.ops != nil {
		ops = s.newOpsServer()
		addrs["ops"] = lns.ops.Addr()
		sv.goBackground("ops", func() error { return ops.Serve(lns.ops) })
	}
	if lns.admin != nil {
		admin = s.newAdminServer(s.out.admin)
		addrs["admin"] = lns.admin.Addr()
		sv.goBackground("admin", func() error { return admin.Serve(lns.admin) })
	}
	return ops, admin
}

// startConfig follows configuration changes: from the file's watcher, or
// from the Secret source, which is stopped with the background work so no
// configuration arrives once the store is closing.
func (s *Server) startConfig(bg context.Context, sv *supervisor, watcher *configsource.Watcher) {
	s.staging.OnChange(func(_, cfg *config.Config) { s.applyConfig(bg, cfg) })
	s.serving.OnChange(s.onServed)
	if watcher != nil {
		sv.goBackground("config watcher", func() error { return watcher.Run(bg) })
		return
	}
	s.source.Start(func(c *config.Config) {
		if _, err := s.staging.Store(c); err != nil {
			s.log.Error("Configuration change callback failed", "error", err)
		}
	})
	sv.goBackground("config watcher", func() error { <-bg.Done(); s.stopSource(); return nil })
}

// announce logs every listener's address and turns ready.
func (s *Server) announce(svcs []service, addrs map[string]net.Addr) {
	s.addrs = addrs
	for _, svc := range svcs {
		s.log.Info("Listening", "listener", svc.name, "address", addrs[svc.name].String(), "proxyProtocol", svc.listener.ProxyProtocol)
	}
	for _, name := range []string{"ops", "admin"} {
		if a, ok := addrs[name]; ok {
			s.log.Info("Listening", "listener", name, "address", a.String())
		}
	}
	s.log.Info("Outbound delivery running", "resolver", s.out.resolver)
	s.ready.Store(true)
	close(s.readyCh)
	s.status.Set(s.source.SourceHash(s.serving.Current().Hash()))
}

// shutdownServices stops the protocol servers gracefully, all at once, and
// closes their gates.
func (s *Server) shutdownServices(ctx context.Context, svcs []service, gates []*gate) {
	var wg sync.WaitGroup
	for _, svc := range svcs {
		wg.Go(func() {
			if err := svc.shutdown(ctx); err != nil {
				s.log.Warn("Shutdown did not finish in time; connections were closed", "listener", svc.name, "error", err)
			}
		})
	}
	wg.Wait()
	for _, g := range gates {
		_ = g.Close()
		g.wait()
	}
}
