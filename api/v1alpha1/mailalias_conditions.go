package v1alpha1

// A MailAlias has only the Ready condition (see ConditionReady): True when the
// server serves a configuration holding the alias; False when it cannot be
// served (ReasonDomainNotFound, ReasonAddressConflict); Unknown while the
// configuration rolls out. Its reasons are shared with Mailbox.

const (
	// ReasonAliasLoop means following the alias's targets through other aliases leads back to it.
	ReasonAliasLoop = "AliasLoop"
)
