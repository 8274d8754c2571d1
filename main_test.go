package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubemail/kubemail/internal/devenv"
	"github.com/kubemail/kubemail/mailserver/auth"
)

func TestCommandLine(t *testing.T) {
	tests := map[string]struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		"no command prints the usage":      {nil, 2, "Usage: kubemail <command>"},
		"an unknown command is refused":    {[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		"help lists the commands":          {[]string{"help"}, 0, "passwd"},
		"a stray argument is refused":      {[]string{"dev", "extra"}, 2, `unexpected argument "extra"`},
		"an unknown flag is refused":       {[]string{"passwd", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		"dev refuses a missing assets dir": {[]string{"dev", "--assets-dir", "/nonexistent", "--state-dir", "STATE"}, 1, "run `make envtest-bins`"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for i, a := range tc.args {
				if a == "STATE" {
					tc.args[i] = t.TempDir()
				}
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.wantErr)
			}
		})
	}
}

func TestPasswdPrintsAVerifiableHash(t *testing.T) {
	// passwd reads os.Stdin; give it a pipe holding one line.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = old })
	if _, err := w.WriteString("s3cret pass\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"passwd"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr.String())
	}
	hash := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatalf("not an argon2id hash: %q", hash)
	}
	for pw, want := range map[string]bool{"s3cret pass": true, "s3cret pass\n": false, "other": false} {
		if ok, err := auth.Verify(hash, pw); err != nil || ok != want {
			t.Errorf("Verify(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
}

// TestDevServesTheSamples is the README's promise: `kubemail dev` brings up
// an API server with the CRDs, kubectl applies config/samples with the
// printed kubeconfig, `kubectl get mail` lists them, and an interrupt stops
// every process it started.
func TestDevServesTheSamples(t *testing.T) {
	assets := devenv.AssetsDir()
	if err := devenv.CheckAssets(assets); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--state-dir", state, "--assets-dir", assets,
			"--crd-dir", filepath.Join("config", "crd", "bases")}, &stdout, &stderr)
	}()
	kubeconfig := filepath.Join(state, "kubeconfig")
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(stdout.String(), "kubeconfig:") {
		select {
		case code := <-done:
			t.Fatalf("dev exited with %d: %s", code, stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev did not come up: %s", stderr.String())
		}
	}
	if !strings.Contains(stdout.String(), kubeconfig) {
		t.Errorf("dev did not print the kubeconfig path %s:\n%s", kubeconfig, stdout.String())
	}

	kubectl := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(assets, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	applied := kubectl("apply", "-f", filepath.Join("config", "samples"))
	for _, want := range []string{"mailserver.mail.kubemail.io/mx1 created", "maildomain.mail.kubemail.io/example-com created",
		"mailbox.mail.kubemail.io/alice created", "mailbox.mail.kubemail.io/bob created",
		"mailalias.mail.kubemail.io/postmaster created", "relaypolicy.mail.kubemail.io/outbound created"} {
		if !strings.Contains(applied, want) {
			t.Errorf("kubectl apply output lacks %q:\n%s", want, applied)
		}
	}
	all := kubectl("get", "mail")
	for _, want := range []string{"mailserver.mail.kubemail.io/mx1", "maildomain.mail.kubemail.io/example-com", "HOSTNAME", "DOMAIN", "TARGETS"} {
		if !strings.Contains(all, want) {
			t.Errorf("kubectl get mail lacks %q:\n%s", want, all)
		}
	}
	domains := kubectl("get", "maildomains")
	if header := strings.Fields(strings.SplitN(domains, "\n", 2)[0]); strings.Join(header, " ") != "NAME DOMAIN SERVER READY MAILBOXES DNS DKIM AGE" {
		t.Errorf("kubectl get maildomains header is %v", header)
	}

	// Interrupt: dev stops etcd and kube-apiserver and exits cleanly.
	host := apiHost(t, stdout.String())
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("dev exited with %d: %s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("dev did not stop after the interrupt")
	}
	if out, err := exec.Command(filepath.Join(assets, "kubectl"), "--kubeconfig", kubeconfig, "--request-timeout=2s", "get", "ns").CombinedOutput(); err == nil {
		t.Errorf("the API server at %s still answers after dev stopped:\n%s", host, out)
	}
}

// apiHost extracts the API server URL dev printed.
func apiHost(t *testing.T, out string) string {
	t.Helper()
	for _, f := range strings.Fields(out) {
		if u, err := url.Parse(f); err == nil && u.Scheme == "https" {
			return u.Host
		}
	}
	t.Fatalf("no API server URL in %q", out)
	return ""
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestKustomizeRendersTheDefaultInstall checks `kubectl kustomize config/default`.
func TestKustomizeRendersTheDefaultInstall(t *testing.T) {
	kubectl := filepath.Join(devenv.AssetsDir(), "kubectl")
	out, err := exec.Command(kubectl, "kustomize", filepath.Join("config", "default")).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v\n%s", err, out)
	}
	for _, want := range []string{
		"kind: CustomResourceDefinition\nmetadata:\n  annotations:\n    controller-gen.kubebuilder.io/version: v0.23.0\n  labels:\n    app.kubernetes.io/part-of: kubemail\n  name: mailboxes.mail.kubemail.io",
		"name: kubemail-system",
		"name: kubemail-manager-role",
		"name: kubemail-controller-manager\n  namespace: kubemail-system",
		"image: kubemail/kubemail:latest",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the rendered install lacks %q", want)
		}
	}
}
