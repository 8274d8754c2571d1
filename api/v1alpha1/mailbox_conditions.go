package v1alpha1

// Mailbox condition reasons. A Mailbox has only the Ready condition
// (see ConditionReady): True when the server serves a configuration holding
// the account with its current password; False when the account cannot be
// served as specified (reason below); Unknown while the configuration rolls out.
const (
	// ReasonDomainNotFound: no MailDomain in the namespace serves the address's domain.
	ReasonDomainNotFound = "DomainNotFound"
	// ReasonAddressConflict: an older Mailbox or MailAlias already uses the address or one of the aliases.
	ReasonAddressConflict = "AddressConflict"
	// ReasonInvalidPassword: the referenced Secret key holds neither a usable password nor a recognised hash.
	ReasonInvalidPassword = "InvalidPassword"
	// ReasonSuspended: spec.suspended is true; the account exists but refuses logins and mail.
	ReasonSuspended = "Suspended"
)
