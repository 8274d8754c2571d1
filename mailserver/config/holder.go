package config

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Holder holds the configuration being served and swaps it atomically.
// Readers call Current for every unit of work (a connection, a message, a
// login) and use that one *Config throughout, so they never see half of
// an old configuration and half of a new one.
type Holder struct {
	cur atomic.Pointer[Config]

	mu        sync.Mutex // serialises Store and the callbacks
	callbacks []func(old, new *Config)
}

// NewHolder returns a Holder serving initial, which must have been built by
// [New], [Parse] or [Load].
func NewHolder(initial *Config) *Holder {
	initial.mustBeCompiled()
	h := &Holder{}
	h.cur.Store(initial)
	return h
}

// Current returns the configuration being served.
func (h *Holder) Current() *Config { return h.cur.Load() }

// OnChange registers f to be called after each swap with the previous and
// the new configuration, for subsystems that must react (reload TLS
// certificates, open or close listeners). Callbacks run one at a time, in
// registration order, on the goroutine that called Store; they should be
// quick.
func (h *Holder) OnChange(f func(old, new *Config)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.callbacks = append(h.callbacks, f)
}

// Store serves c from now on, unless its hash equals the current one's, and
// then runs the OnChange callbacks. changed reports whether it swapped. A
// callback that panics does not stop the others; the panics come back as
// err (the swap has happened regardless).
func (h *Holder) Store(c *Config) (changed bool, err error) {
	c.mustBeCompiled()
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.cur.Load()
	if old.Hash() == c.Hash() {
		return false, nil
	}
	h.cur.Store(c)
	var errs []error
	for i, f := range h.callbacks {
		if err := runCallback(f, old, c); err != nil {
			errs = append(errs, fmt.Errorf("configuration change callback %d: %w", i, err))
		}
	}
	return true, errors.Join(errs...)
}

func runCallback(f func(old, new *Config), old, c *Config) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	f(old, c)
	return nil
}

// LookupPassword is [Config.LookupPassword] on the current configuration,
// so an auth.Authenticator built once sees every reload.
func (h *Holder) LookupPassword(username string) (hash string, suspended bool, ok bool) {
	return h.Current().LookupPassword(username)
}
