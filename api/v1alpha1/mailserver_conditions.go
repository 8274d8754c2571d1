package v1alpha1

// MailServer condition types. Ready (see ConditionReady) summarises them.
const (
	// MailServerAvailable reports the server pods.
	// True: at least one replica is ready and the Service has an address.
	// False: no replica can become ready (e.g. too many replicas for Embedded storage).
	// Unknown: pods are starting.
	MailServerAvailable = "Available"

	// MailServerCertificateReady reports the TLS certificate.
	// True: the certificate Secret exists and holds a certificate for spec.hostname.
	// False: the issuer or Secret is missing or refused the request.
	// Unknown: cert-manager is still issuing.
	MailServerCertificateReady = "CertificateReady"

	// MailServerConfigApplied reports the compiled server configuration.
	// True: every replica serves status.configHash.
	// False: the configuration could not be compiled or written.
	// Unknown: replicas are still loading it.
	MailServerConfigApplied = "ConfigApplied"
)

// MailServer condition reasons.
const (
	// ReasonTooManyReplicas: more than one replica was asked for on Embedded storage.
	ReasonTooManyReplicas = "TooManyReplicas"
	// ReasonPodsNotReady: replicas exist but none is ready yet.
	ReasonPodsNotReady = "PodsNotReady"
	// ReasonCertManagerNotInstalled: spec.tls.issuerRef is set but cert-manager's CRDs are absent.
	ReasonCertManagerNotInstalled = "CertManagerNotInstalled"
	// ReasonCertificateIssuing: cert-manager has not issued the certificate yet.
	ReasonCertificateIssuing = "CertificateIssuing"
	// ReasonSelfSigned: no issuer or Secret was given, so the operator made a self-signed certificate.
	ReasonSelfSigned = "SelfSigned"
	// ReasonConfigPending: some replicas still serve an older configuration.
	ReasonConfigPending = "ConfigPending"
	// ReasonConfigInvalid: the objects targeting this server do not compile into a valid configuration.
	ReasonConfigInvalid = "ConfigInvalid"
)
