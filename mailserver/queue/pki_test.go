package queue

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testPKI is one self-signed certificate valid for every test host name,
// shared by all servers of a test process.
type testPKI struct {
	cert   tls.Certificate
	pool   *x509.CertPool
	caFile string
}

var (
	pkiOnce sync.Once
	pki     testPKI
	pkiErr  error
)

// testHosts are the names the test certificate covers.
var testHosts = []string{"localhost", "mx.a.test", "mx.b.test", "mx.relay.test", "relay.test", "mta-sts.b.test"}

func sharedPKI(t *testing.T) testPKI {
	t.Helper()
	pkiOnce.Do(func() { pki, pkiErr = newPKI() })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pki
}

func newPKI() (testPKI, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return testPKI{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubemail queue test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              testHosts,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return testPKI{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return testPKI{}, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	dir, err := os.MkdirTemp("", "kubemail-queue-pki")
	if err != nil {
		return testPKI{}, err
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return testPKI{}, err
	}
	return testPKI{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool: pool, caFile: caFile}, nil
}

// serverTLS is the servers' TLS configuration.
func (p testPKI) serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.cert}, MinVersion: tls.VersionTLS12}
}
