package controllers

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// Ports the server listens on inside its pod. They are above 1024 so the
// container runs without any capability; the Service maps the well-known
// ports onto them.
const (
	containerPortSMTP        = 2525
	containerPortSubmission  = 2587
	containerPortSubmissions = 2465
	containerPortIMAP        = 1143
	containerPortIMAPS       = 1993
	containerPortPOP3        = 1110
	containerPortPOP3S       = 1995
	containerPortOps         = 9380
)

// Paths inside the server pod.
const (
	tlsMountPath    = "/etc/kubemail/tls"
	dkimMountPath   = "/etc/kubemail/dkim"
	dataMountPath   = "/var/lib/kubemail"
	tmpMountPath    = "/tmp"
	tlsCertFile     = tlsMountPath + "/" + corev1.TLSCertKey
	tlsKeyFile      = tlsMountPath + "/" + corev1.TLSPrivateKeyKey
	serverContainer = "server"
	dataVolume      = "data"
)

// Labels and annotations the operator puts on the objects it creates.
const (
	labelName      = "app.kubernetes.io/name"
	labelComponent = "app.kubernetes.io/component"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelPartOf    = "app.kubernetes.io/part-of"
	// labelServer names the MailServer an object belongs to.
	labelServer = "mail.kubemail.io/server"
	// labelMailbox names the Mailbox a credentials Secret belongs to.
	labelMailbox = "mail.kubemail.io/mailbox"
	// labelDomain names the MailDomain an owned object belongs to.
	labelDomain = "mail.kubemail.io/domain"

	// annotationSpecHash is the hash of the desired state an object was
	// last written with; an object whose hash matches is not written again.
	annotationSpecHash = "mail.kubemail.io/spec-hash"
	// annotationPasswordSource records which version of a password Secret a
	// stored hash was made from, so a plain-text password is hashed once.
	annotationPasswordSource = "mail.kubemail.io/password-source"

	managerName = "kubemail-operator"
	appName     = "kubemail"
)

// Keys of the Secrets and ConfigMaps the operator writes.
const (
	// keyPasswordHash holds a Mailbox's password hash in its credentials Secret.
	keyPasswordHash = "passwordHash"
	// keyUsername and keyPassword hold a generated login in a credentials Secret.
	keyUsername = "username"
	keyPassword = "password"
	// keyDKIMPrivateKey holds a generated DKIM key (PEM, PKCS #8).
	keyDKIMPrivateKey = "private.pem"
	// keyZoneFile is the key of a MailDomain's DNS ConfigMap.
	keyZoneFile = "zone"
)

// Names of owned objects, all derived from the owner's name.

func configSecretName(server string, shard int) string {
	return server + "-config-" + strconv.Itoa(shard)
}
func statusConfigMapName(server, pod string) string { return server + "-status-" + pod }
func headlessServiceName(server string) string      { return server + "-pods" }
func serviceAccountName(server string) string       { return server + "-server" }
func certificateSecretName(server string) string    { return server + "-tls" }
func selfSignedSecretName(server string) string     { return server + "-selfsigned-tls" }
func dkimBundleSecretName(server string) string     { return server + "-dkim" }
func credentialsSecretName(mailbox string) string   { return mailbox + "-credentials" }
func dkimSecretName(domain string) string           { return domain + "-dkim" }
func dnsConfigMapName(domain string) string         { return domain + "-dns" }
func podName(server string, ordinal int) string     { return server + "-" + strconv.Itoa(ordinal) }
func dkimKeyFile(domain string) string              { return dkimMountPath + "/" + domain + ".pem" }
func serverLabels(server string) map[string]string  { return withComponent(server, "mailserver") }
func selectorLabels(server string) map[string]string {
	return map[string]string{labelName: appName, labelServer: server}
}
func statusLabels(server string) map[string]string { return withComponent(server, "status") }
func configLabels(server string) map[string]string { return withComponent(server, "config") }
func withComponent(server, c string) map[string]string {
	return map[string]string{
		labelName: appName, labelComponent: c, labelManagedBy: managerName,
		labelPartOf: appName, labelServer: server,
	}
}

// tlsSecretName is the Secret the server's certificate is read from.
func tlsSecretName(ms *mailv1.MailServer) string {
	switch {
	case ms.Spec.TLS.SecretName != "":
		return ms.Spec.TLS.SecretName
	case ms.Spec.TLS.IssuerRef != nil:
		return certificateSecretName(ms.Name)
	default:
		return selfSignedSecretName(ms.Name)
	}
}
