package devrun

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestExpand(t *testing.T) {
	vals := map[string]string{"POD_NAME": "mx1-0", "EMPTY": ""}
	for _, tc := range []struct{ name, in, want string }{
		{"a defined variable is replaced", "mx1-status-$(POD_NAME)", "mx1-status-mx1-0"},
		{"an unknown variable stays as written", "$(NOPE)-x", "$(NOPE)-x"},
		{"$$ escapes a reference", "$$(POD_NAME)", "$(POD_NAME)"},
		{"an unterminated reference stays", "a$(POD_NAME", "a$(POD_NAME"},
		{"a lone dollar stays", "cost: 5$ and $", "cost: 5$ and $"},
		{"an empty value is replaced", "[$(EMPTY)]", "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := expand(tc.in, vals); got != tc.want {
				t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestContainerEnvResolvesTheDownwardAPI(t *testing.T) {
	s := &podSpec{namespace: "mail", name: "mx1-0", container: corev1.Container{Env: []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "STATUS", Value: "mx1-status-$(POD_NAME)"},
	}}}
	env, err := containerEnv(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(env, " "); got != "POD_NAME=mx1-0 POD_NAMESPACE=mail STATUS=mx1-status-mx1-0" {
		t.Errorf("environment %s", got)
	}
	s.container.Env = append(s.container.Env, corev1.EnvVar{Name: "NODE",
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}})
	if _, err := containerEnv(s); err == nil || !strings.Contains(err.Error(), "NODE") {
		t.Errorf("an unsupported field reference: %v", err)
	}
}

func TestSyncDirMirrorsTheSecret(t *testing.T) {
	dir := t.TempDir()
	if err := syncDir(dir, map[string][]byte{"tls.crt": []byte("a"), "tls.key": []byte("b")}, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := syncDir(dir, map[string][]byte{"tls.crt": []byte("c")}, 0o640); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "tls.crt" {
		t.Fatalf("directory holds %v, want tls.crt alone", entries)
	}
	data, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
	if err != nil || string(data) != "c" {
		t.Errorf("tls.crt holds %q (%v), want the new value", data, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "tls.crt")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("tls.crt mode %v (%v)", fi.Mode(), err)
	}
}

func TestPublishPortsKeepsFreePortsAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ports.json")
	first, err := publishPorts(context.Background(), path, []int32{2525, 1993})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || !strings.HasPrefix(first[2525], "127.0.0.1:") || first[2525] == first[1993] {
		t.Fatalf("published %v", first)
	}
	again, err := publishPorts(context.Background(), path, []int32{2525, 1993})
	if err != nil {
		t.Fatal(err)
	}
	if again[2525] != first[2525] || again[1993] != first[1993] {
		t.Errorf("a restart moved the ports: %v then %v", first, again)
	}
}
