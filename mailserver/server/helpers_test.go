package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
)

// testHash is a recognised password hash of "Hello world!" (SHA512-CRYPT,
// the specification's example), quick to verify under the race detector.
const (
	testHash     = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
	testPassword = "Hello world!"
)

// baseConfig is a small valid configuration that tests modify.
func baseConfig() config.Config {
	return config.Config{
		APIVersion: config.APIVersion,
		Kind:       config.Kind,
		Hostname:   "mx.example.test",
		Storage:    config.Storage{Path: "data"},
		Domains:    []config.Domain{{Name: "example.test"}},
		Mailboxes: []config.Mailbox{
			{Address: "alice@example.test", PasswordHash: testHash},
			{Address: "bob@example.test", PasswordHash: testHash, QuotaBytes: 1000},
			{Address: "carol@example.test", PasswordHash: testHash, Suspended: true},
		},
		Aliases: []config.Alias{{Address: "team@example.test", Targets: []string{"alice@example.test", "bob@example.test"}}},
	}
}

// compile validates c or fails the test.
func compile(t *testing.T, c config.Config) *config.Config {
	t.Helper()
	cfg, err := config.New(c)
	if err != nil {
		t.Fatalf("building the test configuration: %v", err)
	}
	return cfg
}

// writeCert writes a self-signed certificate for "localhost" and 127.0.0.1
// with its key as PEM files in dir and returns their paths and the
// certificate's serial number.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string, serial *big.Int) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err = rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return certFile, keyFile, serial
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
