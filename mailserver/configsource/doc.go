// Package configsource is where the server's configuration comes from, and
// the way back to the operator: the only package of the server that talks
// to the Kubernetes API.
//
//   - Watcher reloads a configuration file (`kubemail server --config`) when
//     it changes, hands each valid one to a config.Holder and refuses, with
//     every field error logged, one that does not validate.
//   - Secrets reads the configuration the operator writes into sharded
//     Secrets (`kubemail server --config-secret NS/NAME`): it watches shard
//     0, joins the shards its index lists and refuses shards of different
//     versions or a configuration that does not validate, while the current
//     one keeps being served.
//   - StatusReporter writes what the pod serves into its status ConfigMap
//     (config.StatusHashKey), which the operator reads to know what every
//     replica serves.
//   - Local runs a pod's configuration on a machine (`kubemail dev`): its
//     paths under a root directory and its listeners on published ports.
//
// Every refusal is logged with a message starting with RefusalMessage, so
// the server can count refused reloads from its log handler.
package configsource

// RefusalMessage starts the message logged when a configuration change is
// refused.
const RefusalMessage = "Refusing configuration change"
