package v1alpha1

// RelayPolicy condition reasons. A RelayPolicy has only the Ready condition
// (see ConditionReady): True when its server serves a configuration with
// these routes; False when it cannot (reason below, or ReasonServerNotFound /
// ReasonSecretNotFound); Unknown while the configuration rolls out.
const (
	// ReasonPolicyConflict: another, older RelayPolicy already routes the same MailServer.
	ReasonPolicyConflict = "PolicyConflict"
)
