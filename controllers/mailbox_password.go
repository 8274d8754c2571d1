package controllers

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/mailserver/config"
)

// Passwords. A Mailbox's password reaches the server only as a hash
// (mailboxHash says which, for the MailServer reconciler):
//   - spec.passwordSecretRef holding a hash (argon2id, bcrypt, SHA512-CRYPT):
//     the hash is read from that Secret, and the Mailbox has no credentials
//     Secret (one left from an earlier password is deleted) — with 10,000
//     Mailboxes that is 10,000 Secrets fewer to write, watch and cache;
//   - spec.passwordSecretRef holding a password: it is hashed with argon2id
//     into the Mailbox's credentials Secret (credentialsSecretName, key
//     keyPasswordHash) once per version of the Secret — it records the
//     referenced Secret's UID and resourceVersion, and a reconcile that finds
//     them unchanged keeps the hash instead of hashing again (a new salt
//     would change the configuration and roll it out for nothing);
//   - no spec.passwordSecretRef: the operator generates a password and keeps
//     it, with the username, in the credentials Secret for the user to read.

// generatedPasswordLength is the length of generated passwords: 24 characters
// of a 56-letter alphabet, about 139 bits.
const generatedPasswordLength = 24

// passwordAlphabet leaves out look-alikes (0/O, 1/l/I).
const passwordAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// sourceGenerated is the password source of a credentials Secret holding
// a generated password.
const sourceGenerated = "generated"

// credentialsComponent is the app.kubernetes.io/component label of
// credentials Secrets, by which the MailServer reconciler lists them.
const credentialsComponent = "credentials"

// credentials is the state of a Mailbox's password.
type credentials struct {
	hash      string
	password  string // only when generated
	source    string // annotationPasswordSource
	generated bool
	fromRef   bool // a hash read from spec.passwordSecretRef: no credentials Secret
}

// hashSlots bounds the argon2id hashes computed at once: each takes
// config.HashPasswordMemoryKiB (19 MiB), and eight Mailbox workers hashing together
// would more than double the operator's memory.
var hashSlots = make(chan struct{}, 2)

// hashPassword hashes a password with argon2id, at most len(hashSlots) at once.
func hashPassword(ctx context.Context, password string) (string, error) {
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-hashSlots }()
	return config.HashPassword(password)
}

// generatePassword returns a random password.
func generatePassword() (string, error) {
	var b strings.Builder
	max := big.NewInt(int64(len(passwordAlphabet)))
	for range generatedPasswordLength {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("generating a password: %w", err)
		}
		b.WriteByte(passwordAlphabet[n.Int64()])
	}
	return b.String(), nil
}

// resolveCredentials works out the hash to store for m, reusing what the
// credentials Secret (current, possibly nil) already holds when its source
// is unchanged. A problem the user must fix is a *userError.
func resolveCredentials(ctx context.Context, c client.Reader, m *mailv1.Mailbox, current *corev1.Secret) (credentials, error) {
	ref := m.Spec.PasswordSecretRef
	if ref == nil {
		if current != nil && current.Annotations[annotationPasswordSource] == sourceGenerated &&
			len(current.Data[keyPassword]) > 0 && config.RecognizedHash(string(current.Data[keyPasswordHash])) {
			return credentials{hash: string(current.Data[keyPasswordHash]), password: string(current.Data[keyPassword]),
				source: sourceGenerated, generated: true}, nil
		}
		password, err := generatePassword()
		if err != nil {
			return credentials{}, err
		}
		hash, err := hashPassword(ctx, password)
		if err != nil {
			return credentials{}, fmt.Errorf("hashing the generated password of Mailbox %s: %w", m.Name, err)
		}
		return credentials{hash: hash, password: password, source: sourceGenerated, generated: true}, nil
	}

	s, err := peekSecret(ctx, c, m.Namespace, ref.Name)
	if err != nil {
		return credentials{}, fmt.Errorf("reading the password Secret of Mailbox %s: %w", m.Name, err)
	}
	if s == nil {
		return credentials{}, &userError{reason: mailv1.ReasonSecretNotFound,
			message: fmt.Sprintf("Secret %s (spec.passwordSecretRef) does not exist; create it with the password or its hash under key %q", ref.Name, ref.Key)}
	}
	value, ok := secretValue(s, ref.Key)
	if !ok {
		return credentials{}, &userError{reason: mailv1.ReasonSecretNotFound,
			message: fmt.Sprintf("Secret %s has no key %q (spec.passwordSecretRef.key)", ref.Name, ref.Key)}
	}
	if config.RecognizedHash(value) {
		return credentials{hash: value, fromRef: true}, nil
	}
	if value == "" || len(value) > config.MaxPasswordLength {
		return credentials{}, &userError{reason: mailv1.ReasonInvalidPassword, message: fmt.Sprintf(
			"Secret %s key %q holds neither a recognised hash nor a password of 1 to %d bytes", ref.Name, ref.Key, config.MaxPasswordLength)}
	}
	source := fmt.Sprintf("%s/%s/%s", s.UID, s.ResourceVersion, ref.Key)
	if current != nil && current.Annotations[annotationPasswordSource] == source && config.RecognizedHash(string(current.Data[keyPasswordHash])) {
		return credentials{hash: string(current.Data[keyPasswordHash]), source: source}, nil
	}
	hash, err := hashPassword(ctx, value)
	if err != nil {
		return credentials{}, fmt.Errorf("hashing the password of Mailbox %s: %w", m.Name, err)
	}
	return credentials{hash: hash, source: source}, nil
}

// buildCredentialsSecret holds a Mailbox's password hash and, when the
// password was generated, the login to hand to its user.
func buildCredentialsSecret(m *mailv1.Mailbox, cr credentials) *corev1.Secret {
	s := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: credentialsSecretName(m.Name), Namespace: m.Namespace,
			Labels: map[string]string{
				labelName: appName, labelComponent: credentialsComponent, labelManagedBy: managerName,
				labelPartOf: appName, labelMailbox: m.Name,
			},
			Annotations:     map[string]string{annotationPasswordSource: cr.source},
			OwnerReferences: []metav1.OwnerReference{controllerRef(m, "Mailbox")},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{keyPasswordHash: []byte(cr.hash)},
	}
	if cr.generated {
		s.Data[keyUsername] = []byte(m.Spec.Address)
		s.Data[keyPassword] = []byte(cr.password)
	}
	return s
}

// reconcileCredentials stores m's password hash in its credentials Secret,
// unless spec.passwordSecretRef holds the hash itself, and returns the hash.
func (r *MailboxReconciler) reconcileCredentials(ctx context.Context, m *mailv1.Mailbox) (string, error) {
	current := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: credentialsSecretName(m.Name)}, current)
	switch {
	case apierrors.IsNotFound(err):
		current = nil
	case err != nil:
		return "", fmt.Errorf("reading the credentials of Mailbox %s: %w", m.Name, err)
	}
	var foreign *corev1.Secret // a Secret of that name the Mailbox does not own
	if current != nil && !ownedBy(current, string(m.UID)) {
		foreign, current = current, nil
	}
	cr, err := resolveCredentials(ctx, r.Client, m, current)
	if err != nil {
		return "", err
	}
	m.Status.CredentialsSecretName = ""
	if cr.fromRef {
		// No credentials Secret needed: drop the Mailbox's own, leave
		// anyone else's alone.
		if current != nil {
			if err := deleteOwned(ctx, r.Client, m, &corev1.Secret{}, current.Name); err != nil {
				return "", err
			}
		}
		return cr.hash, nil
	}
	if foreign != nil {
		return "", &userError{reason: reasonObjectConflict,
			message: (&notOwnedError{kind: "Secret", name: foreign.Name, owner: "Mailbox " + m.Name}).Error()}
	}
	if _, err := ensure(ctx, r.Client, buildCredentialsSecret(m, cr), updateSecret); err != nil {
		if e, ok := asNotOwned(err); ok {
			return "", &userError{reason: reasonObjectConflict, message: e.Error()}
		}
		return "", err
	}
	if cr.generated {
		m.Status.CredentialsSecretName = credentialsSecretName(m.Name)
	}
	return cr.hash, nil
}

// secretValue returns a password Secret's value under key, without the
// newline a file made with an editor ends in (it is not part of the
// password).
func secretValue(s *corev1.Secret, key string) (string, bool) {
	raw, ok := s.Data[key]
	if !ok {
		return "", false
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r"), true
}

// mailboxHash is the password hash the server is to accept for m: the
// hash spec.passwordSecretRef holds, or else the one in m's credentials
// Secret (when m owns it). secret returns a Secret of m's namespace by
// name, nil when there is none.
func mailboxHash(m *mailv1.Mailbox, secret func(name string) *corev1.Secret) (string, bool) {
	if ref := m.Spec.PasswordSecretRef; ref != nil {
		if s := secret(ref.Name); s != nil {
			if v, ok := secretValue(s, ref.Key); ok && config.RecognizedHash(v) {
				return v, true
			}
		}
	}
	return passwordHashOf(secret(credentialsSecretName(m.Name)), m)
}
