package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RelayMode is how mail to other domains leaves the server.
// +kubebuilder:validation:Enum=Direct;Smarthost
type RelayMode string

const (
	// RelayDirect delivers to the recipient domain's MX hosts on port 25.
	RelayDirect RelayMode = "Direct"
	// RelaySmarthost hands everything to one relay host, as most clouds block outbound port 25.
	RelaySmarthost RelayMode = "Smarthost"
)

// SmarthostTLS is how a connection to a smarthost is secured.
// +kubebuilder:validation:Enum=Implicit;StartTLSRequired;StartTLSOpportunistic
type SmarthostTLS string

const (
	// SmarthostImplicitTLS speaks TLS from the first byte (port 465).
	SmarthostImplicitTLS SmarthostTLS = "Implicit"
	// SmarthostStartTLSRequired requires STARTTLS with a verified certificate.
	SmarthostStartTLSRequired SmarthostTLS = "StartTLSRequired"
	// SmarthostStartTLSOpportunistic uses STARTTLS when offered and sends in clear text otherwise.
	SmarthostStartTLSOpportunistic SmarthostTLS = "StartTLSOpportunistic"
)

// Smarthost is a relay that accepts mail for any destination.
type Smarthost struct {
	// Host is the relay's DNS name or IP address.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`

	// Port of the relay.
	// +optional
	// +kubebuilder:default=587
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// TLS is how the connection is secured.
	// +optional
	// +kubebuilder:default=StartTLSRequired
	TLS SmarthostTLS `json:"tls,omitempty"`

	// CredentialsSecretRef names a Secret with `username` and `password` keys for SMTP AUTH
	// (PLAIN, or LOGIN when the relay offers only that). No AUTH when unset.
	// +optional
	CredentialsSecretRef *corev1.LocalObjectReference `json:"credentialsSecretRef,omitempty"`
}

// RelayRoute sends mail for some recipient domains a particular way.
// +kubebuilder:validation:XValidation:rule="self.mode != 'Smarthost' || has(self.smarthost)",message="a route with mode Smarthost needs smarthost.host"
// +kubebuilder:validation:XValidation:rule="self.mode == 'Smarthost' || !has(self.smarthost)",message="smarthost may only be set on a route with mode Smarthost"
type RelayRoute struct {
	// Domains are the recipient domains this route applies to; "*.example.com" matches subdomains.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=255
	// +kubebuilder:validation:items:Pattern=`^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$`
	Domains []string `json:"domains"`

	// Mode is Direct or Smarthost.
	// +required
	Mode RelayMode `json:"mode"`

	// Smarthost is the relay of a Smarthost route.
	// +optional
	Smarthost *Smarthost `json:"smarthost,omitempty"`
}

// RelayPolicySpec is the desired outbound routing of a MailServer.
// +kubebuilder:validation:XValidation:rule="self.mode != 'Smarthost' || has(self.smarthost)",message="mode Smarthost needs smarthost.host"
// +kubebuilder:validation:XValidation:rule="self.mode == 'Smarthost' || !has(self.smarthost)",message="smarthost may only be set when mode is Smarthost"
type RelayPolicySpec struct {
	// ServerRef names the MailServer, in this namespace, whose outbound mail this policy routes.
	// +required
	ServerRef corev1.LocalObjectReference `json:"serverRef"`

	// Mode is the default route: Direct (MX delivery) or Smarthost.
	// +optional
	// +kubebuilder:default=Direct
	Mode RelayMode `json:"mode,omitempty"`

	// Smarthost is the relay of the default route when mode is Smarthost.
	// +optional
	Smarthost *Smarthost `json:"smarthost,omitempty"`

	// Routes override the default route for some recipient domains; the most specific match wins.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Routes []RelayRoute `json:"routes,omitempty"`

	// AllowedNetworks may relay through the SMTP port without AUTH, e.g. the cluster's pod network
	// for in-cluster applications. Nothing else relays without AUTH.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	AllowedNetworks []CIDR `json:"allowedNetworks,omitempty"`

	// MTASTS enforces recipient domains' MTA-STS policies (RFC 8461) on direct delivery.
	// +optional
	// +kubebuilder:default=true
	MTASTS *bool `json:"mtaSTS,omitempty"`

	// RequireTLS honours the REQUIRETLS option (RFC 8689) of submitted mail.
	// +optional
	// +kubebuilder:default=true
	RequireTLS *bool `json:"requireTLS,omitempty"`

	// MaxMessagesPerHourPerSender limits how many messages one sender may relay per hour; 0 is unlimited.
	// +optional
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=0
	MaxMessagesPerHourPerSender int32 `json:"maxMessagesPerHourPerSender,omitempty"`
}

// RelayPolicyStatus is the observed state of a RelayPolicy.
type RelayPolicyStatus struct {
	// Conditions: Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// RelayPolicy routes a MailServer's outbound mail.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rp,categories=mail
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.spec.serverRef.name`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RelayPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state.
	// +required
	Spec RelayPolicySpec `json:"spec"`
	// Status is the observed state.
	// +optional
	Status RelayPolicyStatus `json:"status,omitempty"`
}

// RelayPolicyList is a list of RelayPolicies.
// +kubebuilder:object:root=true
type RelayPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RelayPolicy `json:"items"`
}
