package server

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
)

// served returns the serial number of the certificate a TLS client gets.
func served(t *testing.T, s *certSource) string {
	t.Helper()
	c, err := s.tlsConfig().GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.SerialNumber.String()
}

func TestCertSourceReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, serial1 := writeCert(t, dir, "one")
	c := baseConfig()
	c.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	cfg := compile(t, c)
	var logs bytes.Buffer
	s, err := newCertSource(func() *config.Config { return cfg }, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, s); got != serial1.String() {
		t.Fatalf("serving serial %s, want %s", got, serial1)
	}

	// A half-written update (new certificate, old key) keeps the old pair.
	_, _, _ = writeCert(t, dir, "two")
	copyFile(t, filepath.Join(dir, "two.crt"), certFile)
	bumpMTime(t, certFile)
	s.refreshLogged()
	if got := served(t, s); got != serial1.String() {
		t.Fatalf("after a mismatched update serving %s, want the old %s", got, serial1)
	}
	if !bytes.Contains(logs.Bytes(), []byte("keeping the current one")) {
		t.Errorf("the failed load was not logged: %s", logs.String())
	}

	// The key follows: the new pair is served.
	copyFile(t, filepath.Join(dir, "two.key"), keyFile)
	bumpMTime(t, keyFile)
	s.refreshLogged()
	if got := served(t, s); got == serial1.String() {
		t.Fatal("the completed update was not loaded")
	}
}

func TestCertSourceFollowsASwappedSymlink(t *testing.T) {
	// The way Kubernetes updates a mounted Secret: tls.crt is a symlink
	// through "..data", which is swapped atomically to a new directory.
	dir := t.TempDir()
	for _, v := range []string{"v1", "v2"} {
		if err := os.Mkdir(filepath.Join(dir, v), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	_, _, serial1 := writeCert(t, filepath.Join(dir, "v1"), "tls")
	_, _, serial2 := writeCert(t, filepath.Join(dir, "v2"), "tls")
	symlink(t, "v1", filepath.Join(dir, "..data"))
	symlink(t, "..data/tls.crt", filepath.Join(dir, "tls.crt"))
	symlink(t, "..data/tls.key", filepath.Join(dir, "tls.key"))
	c := baseConfig()
	c.TLS = config.TLS{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	cfg := compile(t, c)
	s, err := newCertSource(func() *config.Config { return cfg }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, s); got != serial1.String() {
		t.Fatalf("serving %s, want %s", got, serial1)
	}
	symlink(t, "v2", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	s.refreshLogged()
	if got := served(t, s); got != serial2.String() {
		t.Fatalf("after the swap serving %s, want %s", got, serial2)
	}
}

func TestCertSourceGeneratesASelfSignedCertificate(t *testing.T) {
	var cfg atomic.Pointer[config.Config]
	cfg.Store(compile(t, baseConfig()))
	var logs bytes.Buffer
	s, err := newCertSource(cfg.Load, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	leaf := s.cur.Load().Leaf
	if err := leaf.VerifyHostname("mx.example.test"); err != nil {
		t.Errorf("the self-signed certificate does not name the hostname: %v", err)
	}
	if !bytes.Contains(logs.Bytes(), []byte("generated a self-signed one")) {
		t.Errorf("the generation was not logged: %s", logs.String())
	}
	first := served(t, s)
	s.refreshLogged()
	if served(t, s) != first {
		t.Error("a refresh with the same hostname generated a new certificate")
	}

	c := baseConfig()
	c.Hostname = "mx2.example.test"
	cfg.Store(compile(t, c))
	s.refreshLogged()
	if err := s.cur.Load().Leaf.VerifyHostname("mx2.example.test"); err != nil {
		t.Errorf("after a hostname change: %v", err)
	}
	if s.tlsConfig().MinVersion != tls.VersionTLS12 {
		t.Error("TLS versions below 1.2 are allowed")
	}
}

func TestCertSourceRefusesToStartWithoutItsFiles(t *testing.T) {
	c := baseConfig()
	c.TLS = config.TLS{CertFile: filepath.Join(t.TempDir(), "missing.crt"), KeyFile: "missing.key"}
	cfg := compile(t, c)
	if _, err := newCertSource(func() *config.Config { return cfg }, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("started without a certificate")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, data)
}

// bumpMTime moves a file's modification time forward, so a change is seen
// even on a file system with coarse timestamps.
func bumpMTime(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	next := fi.ModTime().Add(2 * time.Second)
	if err := os.Chtimes(path, next, next); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
