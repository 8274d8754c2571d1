package v1alpha1

// MailDomain condition types. Ready (see ConditionReady) means the domain is
// served: its server is ready, the server serves a configuration with the
// domain, and the DKIM key is ready. DNS has its own conditions and does not
// hold Ready back, because records published by hand are the user's step.
const (
	// MailDomainDKIMReady reports the DKIM key.
	// True: a usable private key is in the Secret named in status.dkimSecretName.
	// False: the referenced Secret or key is missing or not a private key.
	// Unknown: the key is being generated.
	MailDomainDKIMReady = "DKIMReady"

	// MailDomainDNSPublished reports publication of status.dnsRecords.
	// True: a DNSEndpoint holding every record exists for external-dns.
	// False: the records must be added by hand (reason ExternalDNSNotInstalled or ManualPublishing);
	// they are listed in status and in a ConfigMap as a zone-file snippet.
	// Unknown: publication is in progress.
	MailDomainDNSPublished = "DNSPublished"

	// MailDomainDNSVerified reports what DNS answers.
	// True: every record resolves to the expected value.
	// False: some records are missing or differ; status.dnsRecords marks which.
	// Unknown: not checked yet.
	MailDomainDNSVerified = "DNSVerified"
)

// MailDomain condition reasons.
const (
	// ReasonExternalDNSNotInstalled: the DNSEndpoint CRD of external-dns is absent.
	ReasonExternalDNSNotInstalled = "ExternalDNSNotInstalled"
	// ReasonManualPublishing: spec.dns.publish is Manual.
	ReasonManualPublishing = "ManualPublishing"
	// ReasonPublished: the DNSEndpoint holds every record.
	ReasonPublished = "Published"
	// ReasonRecordsMissing: some records do not resolve to the expected value.
	ReasonRecordsMissing = "RecordsMissing"
	// ReasonVerified: every record resolves to the expected value.
	ReasonVerified = "Verified"
	// ReasonKeyGenerating: the operator is generating the DKIM key.
	ReasonKeyGenerating = "KeyGenerating"
	// ReasonInvalidKey: the referenced DKIM key is not a usable private key.
	ReasonInvalidKey = "InvalidKey"
	// ReasonServerNotReady: the MailServer exists but is not Ready.
	ReasonServerNotReady = "ServerNotReady"
	// ReasonDomainConflict: another MailDomain in the namespace already claims spec.domain.
	ReasonDomainConflict = "DomainConflict"
)
