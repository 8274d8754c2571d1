package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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

// TestKustomizeRendersTheDefaultInstall checks `kubectl kustomize config/default`.
func TestKustomizeRendersTheDefaultInstall(t *testing.T) {
	kubectl := filepath.Join(devenv.AssetsDir(), "kubectl")
	out, err := exec.Command(kubectl, "kustomize", filepath.Join("..", "..", "config", "default")).CombinedOutput()
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
