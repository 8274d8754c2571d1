package msgauth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Key algorithms of GenerateKey.
const (
	AlgorithmRSA     = "rsa"     // RSA-SHA256, RFC 6376 §3.3; 2048 bits (RFC 8301 §3.2)
	AlgorithmEd25519 = "ed25519" // Ed25519-SHA256, RFC 8463
)

// RSABits is the size of generated RSA keys: RFC 8301 §3.2 says signers
// SHOULD use at least 2048 bits.
const RSABits = 2048

// minRSABits is the smallest RSA key accepted for signing (RFC 8301 §3.2:
// verifiers must not consider signatures with shorter keys valid).
const minRSABits = 1024

// GenerateKey makes a new signing key and returns its PEM encoding
// (PKCS #8, "PRIVATE KEY") with the signer.
func GenerateKey(algorithm string) ([]byte, crypto.Signer, error) {
	var key crypto.Signer
	switch algorithm {
	case AlgorithmRSA:
		k, err := rsa.GenerateKey(rand.Reader, RSABits)
		if err != nil {
			return nil, nil, fmt.Errorf("generating an RSA key: %w", err)
		}
		key = k
	case AlgorithmEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("generating an Ed25519 key: %w", err)
		}
		key = k
	default:
		return nil, nil, fmt.Errorf("unknown key algorithm %q: use %q or %q", algorithm, AlgorithmRSA, AlgorithmEd25519)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), key, nil
}

// ParseKey reads a PEM private key: PKCS #8 (RSA or Ed25519) or PKCS #1
// ("RSA PRIVATE KEY").
func ParseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is too short for DKIM (RFC 8301: at least %d)", k.N.BitLen(), minRSABits)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported key type %T: use RSA or Ed25519", key)
	}
}

// LoadKey reads a PEM private key file.
func LoadKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path) //nolint:gosec // G304: the configured DKIM key file
	if err != nil {
		return nil, fmt.Errorf("reading DKIM key: %w", err)
	}
	k, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("reading DKIM key %s: %w", path, err)
	}
	return k, nil
}

// TXTRecord returns the value of the DKIM key record (RFC 6376 §3.6.1) to
// publish at <selector>._domainkey.<domain>: "v=DKIM1; k=rsa; p=<base64
// SubjectPublicKeyInfo>" or, for Ed25519, the raw 32-byte key (RFC 8463 §4).
func TXTRecord(key crypto.Signer) (string, error) {
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", fmt.Errorf("encoding the public key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	default:
		return "", fmt.Errorf("unsupported key type %T", pub)
	}
}

// ZoneRecord renders the key record as a zone file line, the value split
// into quoted strings of at most 255 octets (RFC 1035 §3.3.14), which DNS
// servers and TXT readers concatenate (RFC 6376 §3.6.2.2).
func ZoneRecord(domain, selector, value string) string {
	var b strings.Builder
	b.WriteString(selector + "._domainkey." + strings.TrimSuffix(domain, ".") + ". IN TXT (")
	for len(value) > 0 {
		n := min(len(value), 255)
		b.WriteString(" \"" + value[:n] + "\"")
		value = value[n:]
	}
	b.WriteString(" )")
	return b.String()
}
