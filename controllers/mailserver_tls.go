package controllers

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/internal/selfsigned"
)

// Self-signed certificates: valid for selfSignedValidity, replaced when
// less than selfSignedRenewBefore remains or the hostname changed.
const (
	selfSignedValidity    = 365 * 24 * time.Hour
	selfSignedRenewBefore = 30 * 24 * time.Hour
	// certificatePollInterval re-checks a certificate being issued when
	// cert-manager was installed after the operator started (and so is not watched).
	certificatePollInterval = time.Minute
)

// buildCertificate asks cert-manager for a certificate for spec.hostname
// from spec.tls.issuerRef, into certificateSecretName.
func buildCertificate(ms *mailv1.MailServer) *cmv1.Certificate {
	ref := ms.Spec.TLS.IssuerRef
	issuer := cmmeta.IssuerReference{Name: ref.Name, Kind: ref.Kind, Group: ref.Group}
	if issuer.Kind == "" {
		issuer.Kind = cmv1.IssuerKind
	}
	if issuer.Group == "" {
		issuer.Group = "cert-manager.io"
	}
	return &cmv1.Certificate{
		TypeMeta:   metav1.TypeMeta{APIVersion: cmv1.SchemeGroupVersion.String(), Kind: cmv1.CertificateKind},
		ObjectMeta: objectMeta(ms, ms.Name, serverLabels(ms.Name)),
		Spec: cmv1.CertificateSpec{
			SecretName: certificateSecretName(ms.Name),
			DNSNames:   []string{string(ms.Spec.Hostname)},
			IssuerRef:  issuer,
			Usages:     []cmv1.KeyUsage{cmv1.UsageDigitalSignature, cmv1.UsageKeyEncipherment, cmv1.UsageServerAuth},
			PrivateKey: &cmv1.CertificatePrivateKey{
				Algorithm:      cmv1.ECDSAKeyAlgorithm,
				Size:           256,
				RotationPolicy: cmv1.RotationPolicyAlways,
			},
			SecretTemplate: &cmv1.CertificateSecretTemplate{Labels: serverLabels(ms.Name)},
		},
	}
}

// buildSelfSignedSecret holds a self-signed certificate for the server.
func buildSelfSignedSecret(ms *mailv1.MailServer, certPEM, keyPEM []byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(ms, selfSignedSecretName(ms.Name), serverLabels(ms.Name)),
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM},
	}
}

// newSelfSignedCertificate returns a PEM certificate and PKCS #8 key for
// hostname, valid from an hour before now for selfSignedValidity: the one
// template the server also uses (internal/selfsigned).
func newSelfSignedCertificate(hostname string, now time.Time) (certPEM, keyPEM []byte, err error) {
	c, err := selfsigned.New(hostname, now, selfSignedValidity)
	if err != nil {
		return nil, nil, err
	}
	return c.PEM()
}

// checkServingCertificate says why a TLS Secret cannot serve hostname at
// now, or returns "" when it can.
func checkServingCertificate(s *corev1.Secret, hostname string, now time.Time) string {
	if len(s.Data[corev1.TLSPrivateKeyKey]) == 0 {
		return fmt.Sprintf("Secret %s has no %s key", s.Name, corev1.TLSPrivateKeyKey)
	}
	block, _ := pem.Decode(s.Data[corev1.TLSCertKey])
	if block == nil || block.Type != "CERTIFICATE" {
		return fmt.Sprintf("Secret %s has no PEM certificate under %s", s.Name, corev1.TLSCertKey)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Sprintf("Secret %s: the certificate does not parse: %v", s.Name, err)
	}
	if err := cert.VerifyHostname(hostname); err != nil {
		return fmt.Sprintf("Secret %s: the certificate is not valid for %s", s.Name, hostname)
	}
	if now.After(cert.NotAfter) {
		return fmt.Sprintf("Secret %s: the certificate expired at %s", s.Name, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return ""
}

// needsRenewal reports whether a self-signed Secret must be replaced.
func needsRenewal(s *corev1.Secret, hostname string, now time.Time) bool {
	return checkServingCertificate(s, hostname, now.Add(selfSignedRenewBefore)) != ""
}

// reconcileTLS makes the server's certificate available and sets
// CertificateReady.
func (r *MailServerReconciler) reconcileTLS(ctx context.Context, ms *mailv1.MailServer, st *serverState) error {
	host := string(ms.Spec.Hostname)
	switch {
	case ms.Spec.TLS.SecretName != "":
		s := &corev1.Secret{}
		err := r.Get(ctx, client.ObjectKey{Namespace: ms.Namespace, Name: ms.Spec.TLS.SecretName}, s)
		if apierrors.IsNotFound(err) {
			st.conds.set(mailv1.MailServerCertificateReady, metav1.ConditionFalse, mailv1.ReasonSecretNotFound,
				fmt.Sprintf("Secret %s (spec.tls.secretName) does not exist; create a kubernetes.io/tls Secret for %s", ms.Spec.TLS.SecretName, host))
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading TLS Secret %s: %w", ms.Spec.TLS.SecretName, err)
		}
		if problem := checkServingCertificate(s, host, r.now()); problem != "" {
			st.conds.set(mailv1.MailServerCertificateReady, metav1.ConditionFalse, mailv1.ReasonInvalidSpec, problem)
			return nil
		}
		st.conds.set(mailv1.MailServerCertificateReady, metav1.ConditionTrue, mailv1.ReasonReady,
			fmt.Sprintf("serving the certificate of Secret %s", s.Name))
		return nil
	case ms.Spec.TLS.IssuerRef != nil:
		return r.reconcileCertificate(ctx, ms, st)
	default:
		return r.reconcileSelfSigned(ctx, ms, st)
	}
}

func (r *MailServerReconciler) reconcileCertificate(ctx context.Context, ms *mailv1.MailServer, st *serverState) error {
	cert, err := ensure(ctx, r.Client, buildCertificate(ms), func(existing, desired *cmv1.Certificate) {
		existing.Spec = desired.Spec
	})
	if meta.IsNoMatchError(err) {
		st.conds.set(mailv1.MailServerCertificateReady, metav1.ConditionFalse, mailv1.ReasonCertManagerNotInstalled,
			"spec.tls.issuerRef is set but cert-manager's Certificate kind is not installed; install cert-manager, or set spec.tls.secretName, or remove spec.tls for a self-signed certificate")
		st.requeueAfter(certificatePollInterval)
		return nil
	}
	if e, ok := asNotOwned(err); ok {
		st.conds.set(mailv1.MailServerCertificateReady, metav1.ConditionFalse, reasonObjectConflict, e.Error())
		return nil
	}
	if err != nil {
		return err
	}
	for _, c := range cert.Status.Conditions {
		if c.Type != cmv1.CertificateConditionReady {
			continue
		}
		if c.Status == cmmeta.ConditionTrue && c.ObservedGeneration >= cert.Generation {
			st.conds.set(mailv1.MailServerCertificateReady, metav1.ConditionTrue, mailv1.ReasonReady,
				fmt.Sprintf("cert-manager issued the certificate into Secret %s", cert.Spec.SecretName))
			return nil
		}
		st.conds.set(mailv1.MailServerCertificateReady, metav1.ConditionUnknown, mailv1.ReasonCertificateIssuing,
			fmt.Sprintf("Certificate %s: %s", cert.Name, c.Message))
		st.requeueAfter(certificatePollInterval)
		return nil
	}
	st.conds.set(mailv1.MailServerCertificateReady, metav1.ConditionUnknown, mailv1.ReasonCertificateIssuing,
		fmt.Sprintf("waiting for cert-manager to issue Certificate %s", cert.Name))
	st.requeueAfter(certificatePollInterval)
	return nil
}

func (r *MailServerReconciler) reconcileSelfSigned(ctx context.Context, ms *mailv1.MailServer, st *serverState) error {
	host := string(ms.Spec.Hostname)
	s := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: ms.Namespace, Name: selfSignedSecretName(ms.Name)}, s)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading Secret %s: %w", selfSignedSecretName(ms.Name), err)
	}
	if err == nil && !needsRenewal(s, host, r.now()) {
		if !ownedBy(s, string(ms.UID)) {
			st.conds.set(mailv1.MailServerCertificateReady, metav1.ConditionFalse, reasonObjectConflict,
				(&notOwnedError{kind: "Secret", name: s.Name, owner: "MailServer " + ms.Name}).Error())
			return nil
		}
	} else {
		certPEM, keyPEM, err := newSelfSignedCertificate(host, r.now())
		if err != nil {
			return err
		}
		_, err = ensure(ctx, r.Client, buildSelfSignedSecret(ms, certPEM, keyPEM), func(existing, desired *corev1.Secret) {
			existing.Type, existing.Data = desired.Type, desired.Data
		})
		if e, ok := asNotOwned(err); ok {
			st.conds.set(mailv1.MailServerCertificateReady, metav1.ConditionFalse, reasonObjectConflict, e.Error())
			return nil
		}
		if err != nil {
			return err
		}
	}
	st.conds.set(mailv1.MailServerCertificateReady, metav1.ConditionTrue, mailv1.ReasonSelfSigned,
		fmt.Sprintf("no spec.tls given, so the server serves a self-signed certificate for %s from Secret %s; clients will warn", host, selfSignedSecretName(ms.Name)))
	return nil
}

// errNoImage is returned when there is no server image to run.
var errNoImage = errors.New("no server image: set spec.image or start the operator with --server-image (or KUBEMAIL_IMAGE)")
