package config

// The contract between the operator and the server pods it runs, written
// once here and used by both sides (controllers render it, cmd/kubemail
// and package configsource read it; docs/contracts.md describes it).
const (
	// EnvStatusConfigMap names the environment variable that holds the name
	// of the pod's status ConfigMap, in the pod's own namespace
	// (EnvPodNamespace). The server writes what it serves into it.
	EnvStatusConfigMap = "KUBEMAIL_STATUS_CONFIGMAP"
	// EnvPodNamespace is the environment variable holding the pod's
	// namespace (the Downward API's metadata.namespace).
	EnvPodNamespace = "POD_NAMESPACE"

	// StatusHashKey is the status ConfigMap's key for the hash (Hash) of
	// the configuration the pod serves.
	StatusHashKey = "configHash"
	// StatusUsageKey is the status ConfigMap's binaryData key for the
	// bytes each account of the pod's store uses, as of one measurement:
	// EncodeUsage's value, which DecodeUsage reads (usage.go describes the
	// format). Only the accounts of mailboxes in the configuration the pod
	// serves are listed, keyed by their address as that configuration
	// holds it. The server writes it when the usage changed enough to
	// matter (mailserver/configsource's StatusReporter), so its time may
	// be older than the last measurement.
	StatusUsageKey = "usage"
)

// ServerArgs is the argument list of the server container: read the
// configuration from the Secret shards whose shard 0 is secretRef
// ("NAMESPACE/NAME"), and answer the probes on startupOpsAddress until it
// is found.
func ServerArgs(secretRef, startupOpsAddress string) []string {
	return []string{"server", "--config-secret", secretRef, "--startup-ops-address", startupOpsAddress}
}
