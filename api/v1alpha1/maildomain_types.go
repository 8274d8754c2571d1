package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DNSPublishMode says how a domain's DNS records reach DNS.
// +kubebuilder:validation:Enum=ExternalDNS;Manual
type DNSPublishMode string

const (
	// DNSPublishExternalDNS publishes the records as an external-dns DNSEndpoint
	// (and falls back to Manual while external-dns is not installed).
	DNSPublishExternalDNS DNSPublishMode = "ExternalDNS"
	// DNSPublishManual only lists the records in status and in a ConfigMap as a zone-file snippet.
	DNSPublishManual DNSPublishMode = "Manual"
)

// SPFQualifier is the result SPF gives to senders the record does not list.
// +kubebuilder:validation:Enum=Fail;SoftFail;Neutral
type SPFQualifier string

// The SPF qualifiers of the final "all" mechanism (RFC 7208 §4.6.2).
const (
	SPFFail     SPFQualifier = "Fail"
	SPFSoftFail SPFQualifier = "SoftFail"
	SPFNeutral  SPFQualifier = "Neutral"
)

// DMARCPolicy is what receivers should do with mail failing DMARC (RFC 7489 §6.3).
// +kubebuilder:validation:Enum=none;quarantine;reject
type DMARCPolicy string

// The DMARC policies.
const (
	DMARCNone       DMARCPolicy = "none"
	DMARCQuarantine DMARCPolicy = "quarantine"
	DMARCReject     DMARCPolicy = "reject"
)

// MTASTSMode is the MTA-STS policy mode (RFC 8461 §3.2).
// +kubebuilder:validation:Enum=none;testing;enforce
type MTASTSMode string

// The MTA-STS modes.
const (
	MTASTSNone    MTASTSMode = "none"
	MTASTSTesting MTASTSMode = "testing"
	MTASTSEnforce MTASTSMode = "enforce"
)

// DKIMAlgorithm is the key type of a DKIM key.
// +kubebuilder:validation:Enum=RSA2048;Ed25519
type DKIMAlgorithm string

// The DKIM key types (RFC 6376, RFC 8463).
const (
	DKIMRSA2048 DKIMAlgorithm = "RSA2048"
	DKIMEd25519 DKIMAlgorithm = "Ed25519"
)

// MailDomainSpec is the desired state of a domain served by a MailServer.
type MailDomainSpec struct {
	// Domain is the mail domain, e.g. example.com. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="domain is immutable; create a new MailDomain instead"
	Domain DomainName `json:"domain"`

	// ServerRef names the MailServer, in this namespace, that serves the domain.
	// +required
	ServerRef corev1.LocalObjectReference `json:"serverRef"`

	// DNS shapes the records published for the domain.
	// +optional
	DNS MailDomainDNS `json:"dns,omitempty"`

	// DKIM configures signing of outbound mail.
	// +optional
	DKIM MailDomainDKIM `json:"dkim,omitempty"`

	// DefaultQuota is the quota of the domain's Mailboxes that set none. Unlimited when unset.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('0'))",message="defaultQuota must not be negative"
	DefaultQuota *resource.Quantity `json:"defaultQuota,omitempty"`
}

// MailDomainDNS shapes the DNS records of a domain.
type MailDomainDNS struct {
	// Publish is ExternalDNS (the default) or Manual.
	// +optional
	// +kubebuilder:default=ExternalDNS
	Publish DNSPublishMode `json:"publish,omitempty"`

	// TTL of the records, in seconds.
	// +optional
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=60
	// +kubebuilder:validation:Maximum=604800
	TTL int32 `json:"ttl,omitempty"`

	// SPF shapes the domain's SPF record.
	// +optional
	SPF MailDomainSPF `json:"spf,omitempty"`

	// DMARC shapes the domain's _dmarc record.
	// +optional
	DMARC MailDomainDMARC `json:"dmarc,omitempty"`

	// MTASTS is the MTA-STS mode announced in the _mta-sts record.
	// +optional
	// +kubebuilder:default=testing
	MTASTS MTASTSMode `json:"mtaSTS,omitempty"`

	// Autoconfig publishes SRV records (RFC 6186, RFC 8314) so mail clients find the server.
	// +optional
	// +kubebuilder:default=true
	Autoconfig *bool `json:"autoconfig,omitempty"`
}

// MailDomainSPF shapes an SPF record (RFC 7208).
type MailDomainSPF struct {
	// Include lists other domains whose SPF records also authorise senders, e.g. a smarthost's.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	Include []DomainName `json:"include,omitempty"`

	// All is the qualifier of the final "all" mechanism.
	// +optional
	// +kubebuilder:default=SoftFail
	All SPFQualifier `json:"all,omitempty"`
}

// MailDomainDMARC shapes a DMARC record (RFC 7489).
type MailDomainDMARC struct {
	// Policy for mail that fails DMARC.
	// +optional
	// +kubebuilder:default=quarantine
	Policy DMARCPolicy `json:"policy,omitempty"`

	// ReportTo lists addresses that receive aggregate reports (rua).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	ReportTo []EmailAddress `json:"reportTo,omitempty"`
}

// MailDomainDKIM configures DKIM signing for a domain.
type MailDomainDKIM struct {
	// Selector is the DKIM selector; the key is published at <selector>._domainkey.<domain>.
	// +optional
	// +kubebuilder:default=kubemail
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`
	Selector string `json:"selector,omitempty"`

	// Algorithm of a generated key.
	// +optional
	// +kubebuilder:default=RSA2048
	Algorithm DKIMAlgorithm `json:"algorithm,omitempty"`

	// PrivateKeySecretRef selects a PEM private key to sign with. When unset, the operator
	// generates one into a Secret it owns and names in status.dkimSecretName.
	// +optional
	PrivateKeySecretRef *corev1.SecretKeySelector `json:"privateKeySecretRef,omitempty"`
}

// DNSRecord is one record a domain needs.
type DNSRecord struct {
	// Name is the fully qualified record name.
	Name string `json:"name"`
	// Type is the record type: MX, TXT or SRV.
	Type string `json:"type"`
	// TTL in seconds.
	TTL int32 `json:"ttl"`
	// Value is the record data as written in a zone file.
	Value string `json:"value"`
	// Verified is true once the operator resolved the record with this value.
	// +optional
	Verified bool `json:"verified,omitempty"`
}

// MailDomainStatus is the observed state of a MailDomain.
type MailDomainStatus struct {
	// Conditions: Ready, DKIMReady, DNSPublished, DNSVerified.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Mailboxes is the number of Mailboxes in the domain.
	// +optional
	Mailboxes int32 `json:"mailboxes,omitempty"`

	// Aliases is the number of MailAliases in the domain.
	// +optional
	Aliases int32 `json:"aliases,omitempty"`

	// DKIMSecretName names the Secret holding the DKIM key in use.
	// +optional
	DKIMSecretName string `json:"dkimSecretName,omitempty"`

	// DNSRecords are the records the domain needs, published or to add by hand.
	// +optional
	// +listType=atomic
	DNSRecords []DNSRecord `json:"dnsRecords,omitempty"`
}

// MailDomain is a domain served by a MailServer.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=md,categories=mail
// +kubebuilder:printcolumn:name="Domain",type=string,JSONPath=`.spec.domain`
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.spec.serverRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Mailboxes",type=integer,JSONPath=`.status.mailboxes`
// +kubebuilder:printcolumn:name="DNS",type=string,JSONPath=`.status.conditions[?(@.type=="DNSPublished")].reason`
// +kubebuilder:printcolumn:name="DKIM",type=string,JSONPath=`.status.conditions[?(@.type=="DKIMReady")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MailDomain struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state.
	// +required
	Spec MailDomainSpec `json:"spec"`
	// Status is the observed state.
	// +optional
	Status MailDomainStatus `json:"status,omitempty"`
}

// MailDomainList is a list of MailDomains.
// +kubebuilder:object:root=true
type MailDomainList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MailDomain `json:"items"`
}
