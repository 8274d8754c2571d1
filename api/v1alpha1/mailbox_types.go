package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MailboxSpec is the desired state of one mail account.
type MailboxSpec struct {
	// Address is the account's address and login name, e.g. alice@example.com. Its domain must
	// be a MailDomain in the same namespace. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="address is immutable; create a new Mailbox instead"
	Address EmailAddress `json:"address"`

	// PasswordSecretRef selects the key of a Secret holding the password, either in plain text
	// (the operator hashes it) or as an argon2id, bcrypt or SHA512-CRYPT hash. When unset, the
	// operator generates a password into a Secret it owns and names in status.credentialsSecretName.
	// +optional
	PasswordSecretRef *corev1.SecretKeySelector `json:"passwordSecretRef,omitempty"`

	// Quota is the most mail the mailbox may hold. The domain's defaultQuota when unset;
	// unlimited when neither is set.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('0'))",message="quota must not be negative"
	Quota *resource.Quantity `json:"quota,omitempty"`

	// Aliases are more addresses, in domains the server serves, that deliver to this mailbox
	// and that it may send as.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	Aliases []EmailAddress `json:"aliases,omitempty"`

	// ForwardTo lists addresses that receive a copy of every incoming message.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	ForwardTo []EmailAddress `json:"forwardTo,omitempty"`

	// KeepCopy keeps forwarded mail in this mailbox too. Ignored without forwardTo.
	// +optional
	// +kubebuilder:default=true
	KeepCopy *bool `json:"keepCopy,omitempty"`

	// Suspended refuses logins and incoming mail (temporarily, so senders retry) without deleting anything.
	// +optional
	Suspended bool `json:"suspended,omitempty"`
}

// MailboxStatus is the observed state of a Mailbox.
type MailboxStatus struct {
	// Conditions: Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// CredentialsSecretName names the Secret holding the generated password, when spec.passwordSecretRef is unset.
	// +optional
	CredentialsSecretName string `json:"credentialsSecretName,omitempty"`

	// Used is the storage the mailbox's messages take, as reported by the server.
	// +optional
	Used *resource.Quantity `json:"used,omitempty"`

	// Messages is the number of messages in the mailbox, as reported by the server.
	// +optional
	Messages int64 `json:"messages,omitempty"`
}

// Mailbox is one mail account.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mbx,categories=mail
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.address`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Quota",type=string,JSONPath=`.spec.quota`
// +kubebuilder:printcolumn:name="Used",type=string,JSONPath=`.status.used`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Mailbox struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state.
	// +required
	Spec MailboxSpec `json:"spec"`
	// Status is the observed state.
	// +optional
	Status MailboxStatus `json:"status,omitempty"`
}

// MailboxList is a list of Mailboxes.
// +kubebuilder:object:root=true
type MailboxList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Mailbox `json:"items"`
}
