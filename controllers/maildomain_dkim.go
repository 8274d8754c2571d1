package controllers

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// userError is a problem the user must fix (a missing or unusable Secret):
// it becomes a condition with reason, not a retry.
type userError struct {
	reason, message string
}

func (e *userError) Error() string { return e.message }

// isUserFixable reports whether err is a *userError.
func isUserFixable(err error) bool {
	var u *userError
	return errors.As(err, &u)
}

// dkimKeyRef returns the Secret and key a MailDomain's DKIM key is read
// from: spec.dkim.privateKeySecretRef, or the Secret the operator generates.
func dkimKeyRef(d *mailv1.MailDomain) (secret, key string, generated bool) {
	if ref := d.Spec.DKIM.PrivateKeySecretRef; ref != nil {
		return ref.Name, ref.Key, false
	}
	return dkimSecretName(d.Name), keyDKIMPrivateKey, true
}

// readDKIMKey returns a MailDomain's DKIM private key (PEM). A missing or
// unusable key is a *userError.
func readDKIMKey(ctx context.Context, c client.Reader, d *mailv1.MailDomain) ([]byte, error) {
	name, key, generated := dkimKeyRef(d)
	s := &corev1.Secret{}
	err := c.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: name}, s)
	if apierrors.IsNotFound(err) {
		if generated {
			return nil, &userError{reason: mailv1.ReasonKeyGenerating, message: "the DKIM key is being generated"}
		}
		return nil, &userError{reason: mailv1.ReasonSecretNotFound,
			message: fmt.Sprintf("Secret %s (spec.dkim.privateKeySecretRef) does not exist; create it or remove the reference to have a key generated", name)}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the DKIM key of MailDomain %s: %w", d.Name, err)
	}
	if generated && !ownedBy(s, string(d.UID)) {
		return nil, &userError{reason: reasonObjectConflict,
			message: (&notOwnedError{kind: "Secret", name: name, owner: "MailDomain " + d.Name}).Error()}
	}
	data, ok := s.Data[key]
	if !ok {
		return nil, &userError{reason: mailv1.ReasonSecretNotFound, message: fmt.Sprintf("Secret %s has no key %q", name, key)}
	}
	if _, err := parseDKIMKey(data); err != nil {
		return nil, &userError{reason: mailv1.ReasonInvalidKey, message: fmt.Sprintf("Secret %s key %q: %v", name, key, err)}
	}
	return data, nil
}

// parseDKIMKey decodes a PEM private key usable for DKIM: RSA (PKCS #1 or
// #8, at least 1024 bits, RFC 8301 §3.2) or Ed25519 (PKCS #8, RFC 8463).
//
// Parsing an RSA key (its precomputation) costs about a millisecond, and a
// busy MailDomain or MailServer reconciles many times a second, so parsed
// keys are remembered by their content.
func parseDKIMKey(data []byte) (crypto.Signer, error) {
	sum := sha256.Sum256(data)
	if k, ok := parsedKeys.get(sum); ok {
		return k, nil
	}
	k, err := parseDKIMKeyUncached(data)
	if err == nil {
		parsedKeys.put(sum, k)
	}
	return k, err
}

// keyMemo remembers parsed keys; at most maxKeys, forgotten all at once.
type keyMemo struct {
	mu   sync.Mutex
	keys map[[sha256.Size]byte]crypto.Signer
}

const maxKeys = 4096

var parsedKeys keyMemo

func (m *keyMemo) get(sum [sha256.Size]byte) (crypto.Signer, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[sum]
	return k, ok
}

func (m *keyMemo) put(sum [sha256.Size]byte, k crypto.Signer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil || len(m.keys) >= maxKeys {
		m.keys = map[[sha256.Size]byte]crypto.Signer{}
	}
	m.keys[sum] = k
}

func parseDKIMKeyUncached(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM private key")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not an RSA or PKCS #8 private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing the private key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return nil, fmt.Errorf("an RSA key of %d bits is too short for DKIM (RFC 8301 §3.2 requires 1024)", k.N.BitLen())
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("a %T cannot sign DKIM", key)
	}
}

// newDKIMKey generates a key of the given algorithm as PKCS #8 PEM.
func newDKIMKey(alg mailv1.DKIMAlgorithm) ([]byte, error) {
	var key any
	var err error
	switch alg {
	case mailv1.DKIMEd25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return nil, fmt.Errorf("generating a %s DKIM key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the DKIM key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// dkimRecord returns the DKIM TXT record value for a key (RFC 6376 §3.6.1,
// RFC 8463 §4.2).
func dkimRecord(signer crypto.Signer) (string, error) {
	switch pub := signer.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", fmt.Errorf("encoding the DKIM public key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	default:
		return "", fmt.Errorf("a %T cannot verify DKIM", pub)
	}
}

// buildDKIMSecret holds a MailDomain's generated DKIM key.
func buildDomainDKIMSecret(d *mailv1.MailDomain, keyPEM []byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: dkimSecretName(d.Name), Namespace: d.Namespace,
			Labels:          domainLabels(d.Name),
			OwnerReferences: []metav1.OwnerReference{controllerRef(d, "MailDomain")},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{keyDKIMPrivateKey: keyPEM},
	}
}

// domainLabels are the labels of objects a MailDomain owns.
func domainLabels(domain string) map[string]string {
	return map[string]string{
		labelName: appName, labelComponent: "maildomain", labelManagedBy: managerName,
		labelPartOf: appName, labelDomain: domain,
	}
}
