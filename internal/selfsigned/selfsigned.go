// Package selfsigned makes the self-signed server certificate kubemail
// falls back to when no certificate is configured: the operator stores one
// in a Secret for a MailServer without spec.tls, and the standalone server
// generates one at start when tls.certFile is not set. Both use this one
// template, so a client sees the same kind of certificate from either.
package selfsigned

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// Organization is the subject organization of every self-signed
// certificate, which tells them apart from issued ones.
const Organization = "kubemail self-signed"

// Certificate is a freshly generated self-signed certificate and its key.
type Certificate struct {
	// DER is the certificate.
	DER []byte
	// Key is its ECDSA P-256 private key.
	Key *ecdsa.PrivateKey
	// Leaf is DER parsed.
	Leaf *x509.Certificate
}

// New makes an ECDSA P-256 server certificate for hostname, valid from an
// hour before now (for clocks a little behind) for validity.
func New(hostname string, now time.Time, validity time.Duration) (*Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating a key for %s: %w", hostname, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hostname, Organization: []string{Organization}},
		DNSNames:              []string{hostname},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("signing a certificate for %s: %w", hostname, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the certificate for %s: %w", hostname, err)
	}
	return &Certificate{DER: der, Key: key, Leaf: leaf}, nil
}

// TLS returns c for a tls.Config.
func (c *Certificate) TLS() *tls.Certificate {
	return &tls.Certificate{Certificate: [][]byte{c.DER}, PrivateKey: c.Key, Leaf: c.Leaf}
}

// PEM returns the certificate and its PKCS #8 key as PEM, as a
// kubernetes.io/tls Secret holds them.
func (c *Certificate) PEM() (certPEM, keyPEM []byte, err error) {
	pk, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the key for %s: %w", c.Leaf.Subject.CommonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), nil
}
