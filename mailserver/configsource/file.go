package configsource

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/kubemail/kubemail/mailserver/config"
)

// Defaults of [WatcherOptions].
const (
	DefaultDebounce     = 200 * time.Millisecond
	DefaultPollInterval = 5 * time.Second
)

// WatcherOptions configures a [Watcher].
type WatcherOptions struct {
	// Path is the configuration file. Required.
	Path string
	// Holder receives each valid new configuration. Required.
	Holder *config.Holder
	// Logger logs reloads and refusals; nil means slog.Default().
	Logger *slog.Logger
	// Debounce is how long the file must stay quiet after a change before it
	// is read, so a write in several steps is read once. Zero means
	// DefaultDebounce.
	Debounce time.Duration
	// PollInterval is how often the file is checked when file notifications
	// cannot be set up. Zero means DefaultPollInterval.
	PollInterval time.Duration
}

// Watcher reloads the configuration file when it changes and hands valid
// new configurations to a [Holder]. A file that fails to load or validate is
// refused: the error is logged (naming the fields) and kept for
// [Watcher.LastError], and the current configuration keeps being served.
//
// It watches the file's directory rather than the file, so that editors that
// write a new file and rename it over the old one, and the way Kubernetes
// updates mounted ConfigMaps and Secrets (the file is a symlink through
// "..data", which is swapped by an atomic rename), are both seen. If the file
// is itself a symlink, the directory of its target is watched too. If file
// notifications are unavailable it polls.
type Watcher struct {
	opts    WatcherOptions
	log     *slog.Logger
	notify  func() (*fsnotify.Watcher, error) // replaced by tests
	dir     string                            // directory of the file
	base    string                            // file name
	mu      sync.Mutex                        // serialises reloads
	errMu   sync.Mutex
	lastErr error
}

// NewWatcher checks the options and returns a Watcher; call Run to start it.
func NewWatcher(opts WatcherOptions) (*Watcher, error) {
	if opts.Path == "" || opts.Holder == nil {
		return nil, errors.New("creating configuration watcher: Path and Holder are required")
	}
	abs, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("creating configuration watcher: %w", err)
	}
	opts.Path = abs
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	w := &Watcher{opts: opts, log: opts.Logger, notify: fsnotify.NewWatcher, dir: filepath.Dir(abs), base: filepath.Base(abs)}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.log = w.log.With("path", abs)
	return w, nil
}

// LastError returns why the last reload was refused, or nil if it succeeded
// (or none has been tried).
func (w *Watcher) LastError() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.lastErr
}

// Reload loads the file now and serves it if it is valid. It returns the
// error that made it refuse the file (also kept for LastError) and does not
// log it.
func (w *Watcher) Reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, err := config.Load(w.opts.Path)
	w.errMu.Lock()
	w.lastErr = err
	w.errMu.Unlock()
	if err != nil {
		return err
	}
	old := w.opts.Holder.Current()
	changed, err := w.opts.Holder.Store(c)
	if changed {
		w.log.Info("Configuration reloaded", "hash", c.Hash(), "previousHash", old.Hash())
	}
	if err != nil {
		w.log.Error("Configuration change callback failed", "error", err)
	}
	return nil
}

// reload is Reload with the refusal logged.
func (w *Watcher) reload() {
	if err := w.Reload(); err != nil {
		w.log.Error(RefusalMessage+"; keeping the current configuration",
			"servingHash", w.opts.Holder.Current().Hash(), "error", err)
	}
}

// Run watches until ctx is done, then returns nil. It reloads once at the
// start, to catch changes made between the initial Load and the watch.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := w.notify()
	if err == nil {
		err = fw.Add(w.dir)
		if err != nil {
			_ = fw.Close()
		}
	}
	if err != nil {
		w.log.Warn("File notifications unavailable; polling the configuration file",
			"interval", w.opts.PollInterval, "error", err)
		return w.poll(ctx)
	}
	defer fw.Close()
	target := w.watchTarget(fw, "")
	w.reload()

	var debounce *time.Timer
	var fire <-chan time.Time
	defer func() {
		if debounce != nil {
			debounce.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return w.poll(ctx)
			}
			if !w.relevant(ev.Name, target) {
				continue
			}
			if debounce == nil {
				debounce = time.NewTimer(w.opts.Debounce)
			} else {
				debounce.Reset(w.opts.Debounce)
			}
			fire = debounce.C
		case err, ok := <-fw.Errors:
			if !ok {
				return w.poll(ctx)
			}
			// An overflow may have hidden a change: look at the file.
			w.log.Warn("File notification error; reloading to be safe", "error", err)
			w.reload()
		case <-fire:
			fire = nil
			w.reload()
			target = w.watchTarget(fw, target)
		}
	}
}

// relevant reports whether an event may concern the configuration file: the
// file itself, its symlink target, or Kubernetes' "..data" machinery.
func (w *Watcher) relevant(name, target string) bool {
	b := filepath.Base(name)
	return b == w.base || strings.HasPrefix(b, "..") || (target != "" && name == target)
}

// watchTarget watches the directory of the file's symlink target, if it is
// a symlink into another directory, and stops watching the previous one.
// It returns the resolved target path ("" when not a symlink elsewhere).
func (w *Watcher) watchTarget(fw *fsnotify.Watcher, prev string) string {
	resolved, err := filepath.EvalSymlinks(w.opts.Path)
	if err != nil || filepath.Dir(resolved) == w.dir {
		resolved = ""
	}
	if prev != "" && (resolved == "" || filepath.Dir(prev) != filepath.Dir(resolved)) {
		_ = fw.Remove(filepath.Dir(prev)) // may be gone already
	}
	if resolved != "" && (prev == "" || filepath.Dir(prev) != filepath.Dir(resolved)) {
		if err := fw.Add(filepath.Dir(resolved)); err != nil {
			w.log.Warn("Cannot watch the configuration file's symlink target", "target", resolved, "error", err)
		}
	}
	return resolved
}

// poll reads the file every PollInterval and reloads when its content
// changes. Comparing content rather than modification times keeps working
// on file systems with coarse timestamps; the fallback can afford it.
func (w *Watcher) poll(ctx context.Context) error {
	t := time.NewTicker(w.opts.PollInterval)
	defer t.Stop()
	prev := fingerprint(w.opts.Path)
	w.reload()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if cur := fingerprint(w.opts.Path); cur != prev {
				prev = cur
				w.reload()
			}
		}
	}
}

// fingerprint is the SHA-256 of the file's content, zero if unreadable.
func fingerprint(path string) [sha256.Size]byte {
	data, err := os.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}
	}
	return sha256.Sum256(data)
}
