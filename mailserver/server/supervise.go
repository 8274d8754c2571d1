package server

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// supervisor runs the server's long-lived parts (listeners, the queue,
// the watchers, the HTTP endpoints) each on its own goroutine, in one of
// two groups that stop at different moments of the shutdown. A part that
// returns or panics before the shutdown began reports on failed, which ends
// Run; a panic is logged and counted (kubemail_panics_total) first.
type supervisor struct {
	log    *slog.Logger
	panics *prometheus.CounterVec

	stopping atomic.Bool
	failed   chan error

	// serving runs the protocol listeners, which stop first; background
	// runs everything else, which outlives them.
	serving, background sync.WaitGroup
}

func newSupervisor(log *slog.Logger, panics *prometheus.CounterVec, parts int) *supervisor {
	return &supervisor{log: log, panics: panics, failed: make(chan error, parts)}
}

// serve runs a protocol listener's serve loop.
func (sv *supervisor) serve(name string, f func() error) { sv.run(&sv.serving, name, f) }

// goBackground runs a background part.
func (sv *supervisor) goBackground(name string, f func() error) { sv.run(&sv.background, name, f) }

func (sv *supervisor) run(wg *sync.WaitGroup, name string, f func() error) {
	wg.Go(func() {
		defer func() {
			if v := recover(); v != nil {
				sv.panics.WithLabelValues(name).Inc()
				sv.log.Error("Panic", "component", name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				sv.fail(fmt.Errorf("%s panicked: %v", name, v))
			}
		}()
		if err := f(); !sv.stopping.Load() {
			sv.fail(fmt.Errorf("%s stopped: %w", name, err))
		}
	})
}

// fail reports a failure without blocking (the first ones are enough).
func (sv *supervisor) fail(err error) {
	select {
	case sv.failed <- err:
	default:
	}
}

// stop marks the shutdown as begun: parts returning from now on are
// expected to.
func (sv *supervisor) stop() { sv.stopping.Store(true) }
