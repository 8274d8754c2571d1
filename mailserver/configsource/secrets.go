package configsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kubemail/kubemail/mailserver/config"
)

// Configuration from Kubernetes Secrets. The operator writes the
// configuration with config.Split into <server>-config-0…n-1, shard 0 last
// (controllers/doc.go). Every change of the configuration changes shard 0
// (it carries the hash), so the source watches shard 0 alone, with a field
// selector on its name (the server's Role grants get, list and watch on
// those names only), and on each change reads the shards its index lists
// and joins them. Shards of another version (a writer caught half-way) or
// an API error are tried again after RetryInterval; an invalid
// configuration is refused until the next change. The current
// configuration keeps being served meanwhile.

// DefaultSecretRetryInterval is the default of
// [SecretOptions].RetryInterval.
const DefaultSecretRetryInterval = 5 * time.Second

// SecretOptions configure reading the configuration from sharded Secrets.
type SecretOptions struct {
	// Client reaches the API server. Required.
	Client kubernetes.Interface
	// Namespace and Name are those of shard 0 (<server>-config-0). Required.
	Namespace, Name string
	// StatusConfigMap, when set, is the ConfigMap whose data.configHash
	// receives the hash of each configuration served.
	StatusConfigMap string
	// StatusNamespace is StatusConfigMap's namespace; Namespace when empty.
	StatusNamespace string
	// RetryInterval is how long to wait before reading the Secrets again
	// after a missing Secret, an API error or shards of different versions.
	// Zero means DefaultSecretRetryInterval.
	RetryInterval time.Duration
	// Local, when set, runs the pod's configuration on a local machine
	// (local.go); the status ConfigMap still receives the hash of the
	// configuration in the Secrets.
	Local *Local
	// StartupOpsAddress, when set, serves the ops endpoints (/healthz 200,
	// /readyz 503, /metrics) while Run waits for the first configuration,
	// so a pod's probes answer before its Secret exists; the
	// configuration's ops listener takes over once it is found. With Local,
	// its port is published like the configuration's listeners.
	StartupOpsAddress string
}

// ParseSecretRef splits "NAMESPACE/NAME".
func ParseSecretRef(ref string) (namespace, name string, err error) {
	namespace, name, ok := strings.Cut(ref, "/")
	if !ok || namespace == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("parsing the Secret reference %q: want NAMESPACE/NAME", ref)
	}
	return namespace, name, nil
}

// errRetry marks a refusal worth trying again without a change: a missing
// Secret, an API error, shards of different versions.
type errRetry struct{ err error }

func (e errRetry) Error() string { return e.err.Error() }
func (e errRetry) Unwrap() error { return e.err }

// Secrets reads the configuration from the operator's Secrets and hands
// each valid new one to the function given to Start. Create it with
// NewSecrets and run it with Run.
type Secrets struct {
	opts     SecretOptions
	log      *slog.Logger
	debounce time.Duration

	kickCh chan struct{} // capacity 1: a read is wanted

	mu      sync.Mutex
	deliver func(*config.Config) // nil until the first configuration is taken
	first   chan *config.Config  // receives the first valid configuration
	last    string               // hash of the last configuration delivered

	hashes sourceHashes // with Local: the Secrets' hash of each rebased configuration
}

// NewSecrets returns a source reading opts's Secrets; log receives its
// reloads and refusals, and debounce (zero: DefaultDebounce) is the quiet
// time after a change before the Secrets are read.
func NewSecrets(opts SecretOptions, log *slog.Logger, debounce time.Duration) (*Secrets, error) {
	if opts.Client == nil || opts.Namespace == "" || opts.Name == "" {
		return nil, errors.New("reading the configuration from Secrets: Client, Namespace and Name are required")
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultSecretRetryInterval
	}
	if opts.StatusNamespace == "" {
		opts.StatusNamespace = opts.Namespace
	}
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	return &Secrets{
		opts: opts, debounce: debounce, first: make(chan *config.Config, 1), kickCh: make(chan struct{}, 1),
		log: log.With("secret", opts.Namespace+"/"+opts.Name),
	}, nil
}

// Ref names shard 0, NAMESPACE/NAME, for messages.
func (s *Secrets) Ref() string { return s.opts.Namespace + "/" + s.opts.Name }

// read fetches shard 0 and the shards its index lists and joins them.
func (s *Secrets) read(ctx context.Context) (*config.Config, error) {
	secrets := s.opts.Client.CoreV1().Secrets(s.opts.Namespace)
	get := func(name string) (map[string][]byte, error) {
		sec, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, errRetry{fmt.Errorf("reading the configuration Secret %s/%s: %w", s.opts.Namespace, name, err)}
		}
		return sec.Data, nil
	}
	shard0, err := get(s.opts.Name)
	if err != nil {
		return nil, err
	}
	idx, err := config.ReadShardIndex(shard0)
	if err != nil {
		return nil, err
	}
	shards := []map[string][]byte{shard0}
	for _, name := range idx.Shards[1:] {
		data, err := get(name)
		if err != nil {
			return nil, err
		}
		shards = append(shards, data)
	}
	c, err := config.Join(shards)
	if errors.Is(err, config.ErrShardMismatch) {
		return nil, errRetry{err}
	}
	if err != nil || s.opts.Local == nil {
		return c, err
	}
	rebased, err := s.opts.Local.rebase(c)
	if err != nil {
		return nil, err
	}
	s.hashes.add(rebased.Hash(), c.Hash())
	return rebased, nil
}

// SourceHash returns the hash, as the operator computed it, of the
// configuration whose hash is served.
func (s *Secrets) SourceHash(served string) string {
	if s == nil {
		return served
	}
	return s.hashes.of(served)
}

// load reads the Secrets once and delivers a valid new configuration. It
// reports whether to try again later.
func (s *Secrets) load(ctx context.Context) (retryLater bool) {
	c, err := s.read(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		if s.deliver == nil && s.last == "" {
			s.log.Warn("Waiting for a valid configuration in the Secrets before starting", "error", err)
		} else {
			s.log.Error(RefusalMessage+"; keeping the current configuration", "servingHash", s.last, "error", err)
		}
		var r errRetry
		return errors.As(err, &r)
	}
	if c.Hash() == s.last {
		return false
	}
	if s.deliver == nil {
		if s.last == "" {
			s.first <- c // buffered; taken by waitFirst
			s.last = c.Hash()
			s.log.Info("Configuration read from the Secrets", "hash", s.SourceHash(c.Hash()))
		}
		// A change before the server took the first one is read again once
		// it has (start asks for a reload).
		return false
	}
	prev := s.last
	s.last = c.Hash()
	s.deliver(c)
	s.log.Info("Configuration reloaded", "hash", s.SourceHash(c.Hash()), "previousHash", s.SourceHash(prev))
	return false
}

// Start hands further configurations to deliver and reads the Secrets
// again, for changes made while the server was starting.
func (s *Secrets) Start(deliver func(*config.Config)) {
	s.mu.Lock()
	s.deliver = deliver
	s.mu.Unlock()
	s.kick()
}

// kick asks run for a read (after the debounce).
func (s *Secrets) kick() {
	select {
	case s.kickCh <- struct{}{}:
	default:
	}
}

// WaitFirst returns the first valid configuration, or nil when ctx ends.
func (s *Secrets) WaitFirst(ctx context.Context) *config.Config {
	select {
	case c := <-s.first:
		return c
	case <-ctx.Done():
		return nil
	}
}

// Run watches shard 0 until ctx is done, reading the Secrets on each change.
func (s *Secrets) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(s.opts.Client, 0,
		informers.WithNamespace(s.opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", s.opts.Name).String()
		}))
	inf := factory.Core().V1().Secrets().Informer()
	onSecret := func(obj any) {
		if sec, ok := obj.(*corev1.Secret); ok && sec.Name == s.opts.Name {
			s.kick()
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onSecret,
		UpdateFunc: func(_, obj any) { onSecret(obj) },
	}); err != nil {
		return fmt.Errorf("watching the configuration Secret %s: %w", s.Ref(), err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	s.kick() // read once at the start, whether or not the Secret exists
	var timer *time.Timer
	var fire <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	arm := func(d time.Duration) {
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		fire = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kickCh:
			arm(s.debounce)
		case <-fire:
			fire = nil
			if s.load(ctx) {
				arm(s.opts.RetryInterval)
			}
		}
	}
}
