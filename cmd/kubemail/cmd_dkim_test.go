package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kubemail/kubemail/mailserver/msgauth"
)

func TestDKIMKeygenPrintsAKeyAndItsRecord(t *testing.T) {
	for _, alg := range []string{"rsa", "ed25519"} {
		t.Run(alg, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"dkim", "keygen", "--domain", "Example.COM", "--selector", "k2026", "--algorithm", alg}, &stdout, &stderr)
			if code != 0 {
				t.Fatalf("exit code %d: %s", code, stderr.String())
			}
			out := stdout.String()
			key, err := msgauth.ParseKey([]byte(out))
			if err != nil {
				t.Fatalf("the output holds no usable key: %v\n%s", err, out)
			}
			want, err := msgauth.TXTRecord(key)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "k2026._domainkey.example.com. IN TXT (") {
				t.Fatalf("no zone record for k2026._domainkey.example.com:\n%s", out)
			}
			var joined string
			for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(out, -1) {
				joined += m[1]
			}
			if joined != want {
				t.Fatalf("the record %q does not publish the key's %q", joined, want)
			}
		})
	}
}

func TestDKIMKeygenWritesTheKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.pem")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"dkim", "keygen", "--domain", "example.com", "--selector", "s", "--out", path}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr.String())
	}
	if strings.Contains(stdout.String(), "PRIVATE KEY") {
		t.Fatal("the key was printed although --out was given")
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v; want mode 0600", st, err)
	}
	if _, err := msgauth.LoadKey(path); err != nil {
		t.Fatal(err)
	}
}

func TestDKIMKeygenRefusesBadArguments(t *testing.T) {
	for name, args := range map[string][]string{
		"no subcommand":         {"dkim"},
		"an unknown subcommand": {"dkim", "rotate"},
		"no domain":             {"dkim", "keygen", "--selector", "s"},
		"a bad selector":        {"dkim", "keygen", "--domain", "example.com", "--selector", "bad_selector"},
		"an unknown algorithm":  {"dkim", "keygen", "--domain", "example.com", "--selector", "s", "--algorithm", "dsa"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr); code == 0 {
				t.Fatalf("accepted; stdout %q", stdout.String())
			}
			if stdout.Len() != 0 {
				t.Fatalf("printed %q on failure", stdout.String())
			}
		})
	}
}
