package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// queueProbe tells when a relay's queue has settled after a load to a destination that is down.
type queueProbe interface {
	// begin is called before the load.
	begin(ctx context.Context) error
	// settled reports whether all want messages of the load wait for a retry, and a detail for the log.
	settled(ctx context.Context, want int) (bool, string, error)
}

// kubemailProbe counts kubemail's deferred delivery attempts (kubemail_outbound_attempts_total):
// every queued message is attempted once, fails, and waits for its retry. When the first pass over a
// large queue outlasts the first retry delay (5 minutes), retries count too and the sum reaches the
// load's size a little early; waitQueued's idle condition still holds the measurement until the relay
// stops working.
type kubemailProbe struct {
	ops  string
	base float64
}

func (p *kubemailProbe) begin(ctx context.Context) (err error) {
	p.base, err = opsMetric(ctx, p.ops, "kubemail_outbound_attempts_total", `outcome="deferred"`)
	return err
}

func (p *kubemailProbe) settled(ctx context.Context, want int) (bool, string, error) {
	v, err := opsMetric(ctx, p.ops, "kubemail_outbound_attempts_total", `outcome="deferred"`)
	if err != nil {
		return false, "", err
	}
	n := int(v - p.base)
	return n >= want, fmt.Sprintf("%d deferred attempts", n), nil
}

// postfixProbe looks at Postfix's queue directories.
type postfixProbe struct{ queueDir string }

func (postfixProbe) begin(context.Context) error { return nil }

func (p postfixProbe) settled(_ context.Context, want int) (bool, string, error) {
	return postfixQueued(p.queueDir, want)
}

// kubemailConfigs switches the served kubemail config between its defaults and raised settings.
type kubemailConfigs struct {
	live, ops        string
	defaults, raised []byte
}

// apply writes content over the live config and waits until kubemail reports the reload.
func (k *kubemailConfigs) apply(ctx context.Context, content []byte) error {
	ok0, err := opsMetric(ctx, k.ops, "kubemail_config_reloads_total", `result="ok"`)
	if err != nil {
		return err
	}
	failed0, err := opsMetric(ctx, k.ops, "kubemail_config_reloads_total", `result="failed"`)
	if err != nil {
		return err
	}
	if err := swapFile(k.live, content); err != nil {
		return fmt.Errorf("replacing %s: %w", k.live, err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
		ok, err1 := opsMetric(ctx, k.ops, "kubemail_config_reloads_total", `result="ok"`)
		failed, err2 := opsMetric(ctx, k.ops, "kubemail_config_reloads_total", `result="failed"`)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if failed > failed0 {
			return fmt.Errorf("kubemail refused the config written to %s (see its log)", k.live)
		}
		if ok > ok0 {
			return nil
		}
	}
	return fmt.Errorf("kubemail did not reload %s within a minute", k.live)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
