// Package dnsendpoint is a wire-compatible copy of external-dns's DNSEndpoint
// kind (externaldns.k8s.io/v1alpha1), the one source of records external-dns
// reads from custom resources. Importing sigs.k8s.io/external-dns itself
// would pull in every DNS provider's SDK; this package holds only the fields
// of the CRD in hack/crds/external-dns (external-dns v0.22.0).
//
// +kubebuilder:object:generate=true
// +groupName=externaldns.k8s.io
package dnsendpoint

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is externaldns.k8s.io/v1alpha1.
	GroupVersion = schema.GroupVersion{Group: "externaldns.k8s.io", Version: "v1alpha1"}

	// SchemeBuilder registers DNSEndpoint with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds DNSEndpoint and DNSEndpointList to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind is the kind of a DNSEndpoint.
const Kind = "DNSEndpoint"

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, &DNSEndpoint{}, &DNSEndpointList{})
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}

// TTL is a record's time to live in seconds; 0 means the provider's default.
type TTL int64

// Targets are the values of a record: addresses, host names or, for TXT,
// the text.
type Targets []string

// ProviderSpecificProperty is one provider-specific setting of a record.
type ProviderSpecificProperty struct {
	// Name of the setting.
	Name string `json:"name,omitempty"`
	// Value of the setting.
	Value string `json:"value,omitempty"`
}

// ProviderSpecific holds provider-specific settings of a record.
type ProviderSpecific []ProviderSpecificProperty

// Labels are external-dns's labels of an endpoint.
type Labels map[string]string

// Endpoint is one DNS record set: a name, a type and its values.
type Endpoint struct {
	// DNSName is the record's name.
	DNSName string `json:"dnsName,omitempty"`
	// Targets are the record's values.
	Targets Targets `json:"targets,omitempty"`
	// RecordType is A, AAAA, CNAME, MX, SRV, TXT, ….
	RecordType string `json:"recordType,omitempty"`
	// SetIdentifier distinguishes records of one name and type with routing policies.
	SetIdentifier string `json:"setIdentifier,omitempty"`
	// RecordTTL is the record's TTL.
	RecordTTL TTL `json:"recordTTL,omitempty"`
	// Labels are labels of the endpoint.
	Labels Labels `json:"labels,omitempty"`
	// ProviderSpecific holds provider-specific settings.
	ProviderSpecific ProviderSpecific `json:"providerSpecific,omitempty"`
}

// DNSEndpointSpec lists the records to publish.
type DNSEndpointSpec struct { //nolint:revive // the names of external-dns's own types, kept for a wire-compatible copy
	// Endpoints are the records.
	Endpoints []*Endpoint `json:"endpoints,omitempty"`
}

// DNSEndpointStatus is what external-dns reports.
type DNSEndpointStatus struct { //nolint:revive // the names of external-dns's own types, kept for a wire-compatible copy
	// ObservedGeneration is the generation external-dns last published.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// DNSEndpoint is a set of records for external-dns to publish.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
type DNSEndpoint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec lists the records.
	Spec DNSEndpointSpec `json:"spec,omitempty"`
	// Status is what external-dns reports.
	Status DNSEndpointStatus `json:"status,omitempty"`
}

// DNSEndpointList is a list of DNSEndpoints.
//
// +kubebuilder:object:root=true
type DNSEndpointList struct { //nolint:revive // the names of external-dns's own types, kept for a wire-compatible copy
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the DNSEndpoints.
	Items []DNSEndpoint `json:"items"`
}
