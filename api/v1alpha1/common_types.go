package v1alpha1

// EmailAddress is a lower-case mailbox address, local-part@domain.
// +kubebuilder:validation:MinLength=3
// +kubebuilder:validation:MaxLength=254
// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9!#$%&*+/=?^_{|}~.-]+@[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$')",message="must be a lower-case email address such as user@example.com"
type EmailAddress string

// DomainName is a lower-case, fully qualified DNS name without a trailing dot.
// +kubebuilder:validation:MinLength=3
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$')",message="must be a lower-case fully qualified domain name such as example.com (no trailing dot)"
type DomainName string

// CIDR is an IPv4 or IPv6 network in CIDR notation, such as 10.0.0.0/8.
// +kubebuilder:validation:MaxLength=43
// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="must be a network in CIDR notation such as 10.0.0.0/8 or fd00::/8"
type CIDR string

// Common condition types and reasons shared by every kind.
const (
	// ConditionReady summarises an object.
	// True: converged and serving (Argo CD: Healthy).
	// False: blocked or failed; the reason and message say what to fix (Degraded).
	// Unknown: work in progress (Progressing).
	ConditionReady = "Ready"

	// ReasonReconciling means the operator is still converging the object.
	ReasonReconciling = "Reconciling"
	// ReasonReady means everything the object needs is in place.
	ReasonReady = "Ready"
	// ReasonServerNotFound means the referenced MailServer does not exist.
	ReasonServerNotFound = "ServerNotFound"
	// ReasonSecretNotFound means a referenced Secret or one of its keys is missing.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonInvalidSpec means the spec passed schema validation but cannot be used
	// as it stands; the message says which field and why.
	ReasonInvalidSpec = "InvalidSpec"
)
