package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MailAliasSpec is the desired state of an alias.
type MailAliasSpec struct {
	// Address is the alias address, e.g. sales@example.com, or "@example.com" for a catch-all
	// that receives mail for every address of the domain that nothing else claims. Its domain
	// must be a MailDomain in the same namespace. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9!#$%&*+/=?^_{|}~.-]+)?@[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$')",message="must be a lower-case email address such as sales@example.com, or @example.com for a catch-all"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="address is immutable; create a new MailAlias instead"
	Address string `json:"address"`

	// Targets are the addresses that receive the alias's mail, local or external.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	Targets []EmailAddress `json:"targets"`
}

// MailAliasStatus is the observed state of a MailAlias.
type MailAliasStatus struct {
	// Conditions: Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// MailAlias delivers mail for an address, or a whole domain, to other addresses.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mal,categories=mail
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.address`
// +kubebuilder:printcolumn:name="Targets",type=string,JSONPath=`.spec.targets`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MailAlias struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state.
	// +required
	Spec MailAliasSpec `json:"spec"`
	// Status is the observed state.
	// +optional
	Status MailAliasStatus `json:"status,omitempty"`
}

// MailAliasList is a list of MailAliases.
// +kubebuilder:object:root=true
type MailAliasList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MailAlias `json:"items"`
}
