package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Protocol is a mail protocol the server can serve.
// +kubebuilder:validation:Enum=SMTP;Submission;Submissions;IMAP;IMAPS;POP3;POP3S
type Protocol string

// The protocols, with the Service port each is exposed on.
const (
	// ProtocolSMTP is inbound MX mail on port 25.
	ProtocolSMTP Protocol = "SMTP"
	// ProtocolSubmission is authenticated submission with STARTTLS on port 587.
	ProtocolSubmission Protocol = "Submission"
	// ProtocolSubmissions is authenticated submission over implicit TLS on port 465.
	ProtocolSubmissions Protocol = "Submissions"
	// ProtocolIMAP is IMAP with STARTTLS on port 143.
	ProtocolIMAP Protocol = "IMAP"
	// ProtocolIMAPS is IMAP over implicit TLS on port 993.
	ProtocolIMAPS Protocol = "IMAPS"
	// ProtocolPOP3 is POP3 with STLS on port 110.
	ProtocolPOP3 Protocol = "POP3"
	// ProtocolPOP3S is POP3 over implicit TLS on port 995.
	ProtocolPOP3S Protocol = "POP3S"
)

// StorageType selects where a MailServer keeps mailboxes and its queue.
// +kubebuilder:validation:Enum=Embedded;PostgreSQL
type StorageType string

const (
	// StorageEmbedded keeps everything in an embedded database on a
	// PersistentVolumeClaim; it serves exactly one replica.
	StorageEmbedded StorageType = "Embedded"
	// StoragePostgreSQL keeps everything in PostgreSQL; replicas are stateless
	// and can scale out.
	StoragePostgreSQL StorageType = "PostgreSQL"
)

// MailServerSpec is the desired state of one deployment of the bundled mail server.
// +kubebuilder:validation:XValidation:rule="self.storage.type != 'Embedded' || !has(self.replicas) || self.replicas <= 1",message="the Embedded storage serves one replica; set storage.type: PostgreSQL to run more"
type MailServerSpec struct {
	// Hostname is the fully qualified name the server greets with, the MX
	// target of its domains and the name on its TLS certificate, e.g. mx1.example.com.
	// +required
	Hostname DomainName `json:"hostname"`

	// Image is the kubemail container image to run. Defaults to the operator's own image,
	// so operator and server versions never drift.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// Replicas is the number of server pods. The Embedded storage serves exactly one.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas *int32 `json:"replicas,omitempty"`

	// Protocols lists the protocols to serve. Defaults to all of them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=7
	// +kubebuilder:default={SMTP,Submission,Submissions,IMAP,IMAPS,POP3,POP3S}
	Protocols []Protocol `json:"protocols,omitempty"`

	// Storage says where mail is kept.
	// +optional
	// +kubebuilder:default={type: Embedded}
	Storage MailServerStorage `json:"storage,omitempty"`

	// Service shapes the Service that exposes the mail ports.
	// +optional
	Service MailServerService `json:"service,omitempty"`

	// TLS says where the server's certificate comes from: a cert-manager issuer, an
	// existing Secret, or (when neither is set) a self-signed certificate the operator makes.
	// +optional
	TLS MailServerTLS `json:"tls,omitempty"`

	// Limits bounds what clients may send and how many connections they may hold.
	// +optional
	Limits MailServerLimits `json:"limits,omitempty"`

	// Resources are the compute resources of the server container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// NodeSelector constrains the server pods to nodes with these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations let the server pods run on tainted nodes.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
}

// MailServerStorage says where a MailServer keeps mail.
// +kubebuilder:validation:XValidation:rule="self.type != 'PostgreSQL' || has(self.postgreSQL)",message="storage.postgreSQL is required when storage.type is PostgreSQL"
// +kubebuilder:validation:XValidation:rule="self.type == 'PostgreSQL' || !has(self.postgreSQL)",message="storage.postgreSQL may only be set when storage.type is PostgreSQL"
type MailServerStorage struct {
	// Type is Embedded (one replica, a PersistentVolumeClaim) or PostgreSQL (scale-out).
	// +optional
	// +kubebuilder:default=Embedded
	Type StorageType `json:"type,omitempty"`

	// Size is the size of the PersistentVolumeClaim of the Embedded storage.
	// +optional
	// +kubebuilder:default="10Gi"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isGreaterThan(quantity('0'))",message="storage size must be positive"
	Size *resource.Quantity `json:"size,omitempty"`

	// StorageClassName is the StorageClass of the PersistentVolumeClaim; the cluster's default when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	StorageClassName *string `json:"storageClassName,omitempty"`

	// PostgreSQL is the database of the PostgreSQL storage.
	// +optional
	PostgreSQL *PostgreSQLStorage `json:"postgreSQL,omitempty"`
}

// PostgreSQLStorage points at a PostgreSQL database.
type PostgreSQLStorage struct {
	// URISecretRef selects the key of a Secret that holds a libpq connection URI,
	// such as the `uri` key of a CloudNativePG application Secret.
	// +required
	URISecretRef corev1.SecretKeySelector `json:"uriSecretRef"`
}

// MailServerService shapes the Service in front of the server pods.
type MailServerService struct {
	// Type is the Service type. LoadBalancer by default, since mail must be reachable from the internet.
	// +optional
	// +kubebuilder:default=LoadBalancer
	// +kubebuilder:validation:Enum=LoadBalancer;NodePort;ClusterIP
	Type corev1.ServiceType `json:"type,omitempty"`

	// ExternalTrafficPolicy of a LoadBalancer or NodePort Service. Local (the default)
	// keeps the client's source address, which spam checks and limits depend on.
	// +optional
	// +kubebuilder:default=Local
	// +kubebuilder:validation:Enum=Local;Cluster
	ExternalTrafficPolicy corev1.ServiceExternalTrafficPolicy `json:"externalTrafficPolicy,omitempty"`

	// Annotations are added to the Service, e.g. for a cloud load balancer.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// LoadBalancerClass selects a load balancer implementation.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	LoadBalancerClass *string `json:"loadBalancerClass,omitempty"`

	// ProxyProtocol makes the server expect a PROXY protocol (v1 or v2) header on every
	// connection from TrustedCIDRs, as sent by a load balancer that does not keep the client address.
	// +optional
	ProxyProtocol bool `json:"proxyProtocol,omitempty"`

	// TrustedCIDRs are the networks whose PROXY protocol headers are believed. Required with ProxyProtocol.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	TrustedCIDRs []CIDR `json:"trustedCIDRs,omitempty"`
}

// IssuerReference names a cert-manager issuer.
type IssuerReference struct {
	// Name of the issuer.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Kind of the issuer: Issuer (in the MailServer's namespace) or ClusterIssuer.
	// +optional
	// +kubebuilder:default=Issuer
	// +kubebuilder:validation:Enum=Issuer;ClusterIssuer
	Kind string `json:"kind,omitempty"`

	// Group of the issuer; cert-manager.io unless an external issuer is used.
	// +optional
	// +kubebuilder:default=cert-manager.io
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group,omitempty"`
}

// MailServerTLS says where the server's certificate comes from.
// +kubebuilder:validation:XValidation:rule="!(has(self.issuerRef) && has(self.secretName))",message="set tls.issuerRef or tls.secretName, not both"
type MailServerTLS struct {
	// IssuerRef asks cert-manager for a certificate for spec.hostname from this issuer.
	// +optional
	IssuerRef *IssuerReference `json:"issuerRef,omitempty"`

	// SecretName names an existing kubernetes.io/tls Secret to serve.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName,omitempty"`
}

// MailServerLimits bounds what clients may do.
type MailServerLimits struct {
	// MaxMessageSize is the largest message accepted, announced in SMTP SIZE.
	// +optional
	// +kubebuilder:default="25Mi"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isGreaterThan(quantity('0'))",message="maxMessageSize must be positive"
	MaxMessageSize *resource.Quantity `json:"maxMessageSize,omitempty"`

	// MaxRecipients is the most recipients one message may have.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxRecipients int32 `json:"maxRecipients,omitempty"`

	// MaxConnectionsPerIP is the most concurrent connections one client address may hold, per protocol.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MaxConnectionsPerIP int32 `json:"maxConnectionsPerIP,omitempty"`
}

// MailServerStatus is the observed state of a MailServer.
type MailServerStatus struct {
	// Conditions: Ready, Available, CertificateReady, ConfigApplied.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Replicas is the number of server pods that exist.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// ReadyReplicas is the number of server pods ready to serve.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// Address is the external address (IP or hostname) of the Service.
	// +optional
	Address string `json:"address,omitempty"`

	// Domains is the number of MailDomains served.
	// +optional
	Domains int32 `json:"domains,omitempty"`

	// ConfigHash is the hash of the latest server configuration the operator compiled.
	// +optional
	ConfigHash string `json:"configHash,omitempty"`

	// UpdatedReplicas is the number of replicas serving ConfigHash.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`

	// ServedConfigHash is the hash of the configuration every replica
	// serves, when they all serve the same one; it trails ConfigHash while
	// a change rolls out, and is empty while the replicas disagree.
	// +optional
	ServedConfigHash string `json:"servedConfigHash,omitempty"`
}

// MailServer is one deployment of the bundled SMTP/IMAP/POP3 server.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ms,categories=mail
// +kubebuilder:printcolumn:name="Hostname",type=string,JSONPath=`.spec.hostname`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Domains",type=integer,JSONPath=`.status.domains`
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.status.address`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MailServer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state.
	// +required
	Spec MailServerSpec `json:"spec"`
	// Status is the observed state.
	// +optional
	Status MailServerStatus `json:"status,omitempty"`
}

// MailServerList is a list of MailServers.
// +kubebuilder:object:root=true
type MailServerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MailServer `json:"items"`
}
