// Package controllers holds one reconciler per kind of the mail.kubemail.io
// API and the pure builders of every object they own. Setup registers them
// with a controller-runtime manager.
//
// # How a configuration reaches the servers
//
// The MailServer reconciler compiles the MailDomains, Mailboxes, MailAliases
// and the RelayPolicy that target a server into one mailserver/config
// configuration (compile.go), after the judge (judge.go) has left out what
// cannot be served: conflicting addresses, missing domains, alias loops. It
// writes the configuration with config.Split into the Secrets
// <server>-config-0 … <server>-config-<n-1>, each under 1 MiB, shard 0 last
// since it holds the index (config.ShardIndex), and records the content hash
// in status.configHash. The server pods run
//
//	kubemail server --config-secret <namespace>/<server>-config-0
//
// watch that Secret, read the shards the index lists and config.Join them.
// The DKIM keys of all the server's domains are copied into one Secret,
// <server>-dkim, mounted at /etc/kubemail/dkim (<domain>.pem); the smarthost
// credentials into <server>-relay, mounted at /etc/kubemail/relay; the TLS
// certificate Secret is mounted at /etc/kubemail/tls. Adding a domain or a
// mailbox therefore changes Secrets, never the pod template: no restart.
//
// A MailServer is reconciled at most once per Options.ConfigInterval
// (--config-interval, a second by default; pace.go): when Mailboxes arrive
// by the thousand, each reconcile compiles all the changes of the interval
// instead of one configuration per change.
//
// # How the servers report back
//
// Each replica reports the configuration it serves in a ConfigMap of its
// own, named <server>-status-<pod> (for example mx1-status-mx1-0). The
// operator creates one, empty, per replica and never overwrites its data;
// the replica finds its name in the environment variable
// KUBEMAIL_STATUS_CONFIGMAP (in its own namespace, POD_NAMESPACE) and, each
// time it starts serving a configuration, writes
//
//	data:
//	  configHash: <config.Hash() of the configuration it serves>
//
// A ConfigMap rather than a Lease because it has room for what the server
// will report next (mailbox usage for Mailbox status.used, queue depth)
// under further keys. The server's Role allows exactly that: get, list and
// watch on its configuration Secrets and get, update and patch on its status
// ConfigMaps, by name; nothing else (buildRole). The MailServer reconciler
// counts the replicas whose configHash equals status.configHash into
// status.updatedReplicas and sets ConfigApplied True when every replica does.
//
// # Readiness of the other kinds
//
// A Mailbox, MailAlias, MailDomain or RelayPolicy is Ready when its server
// serves a configuration holding it (as compiled) on every replica. The
// MailServer reconciler shares the judge's verdicts and what it compiled
// through an in-process verdict store (package internal/verdicts) and,
// after each reconcile, wakes the MailDomains, Mailboxes and MailAliases
// whose verdict changed, and the Mailboxes and MailAliases whose compiled
// or served state changed. Mailboxes and MailAliases watch only the
// creation and deletion of MailServers (with 10,000 of them, every rollout
// step would wake them all); MailDomains and RelayPolicies, which are few,
// also watch the MailServer's status (serverStatePredicate) and learn from
// it that what the replicas serve changed. A new Mailbox or
// MailAlias gets no status during its first ten seconds while all there is
// to say is that it waits for its server (holdFirstStatus): applied by the
// thousand, those statuses would be a third of the operator's writes.
//
// # Reasons not (yet) in the API package
//
// AddressPending (Available: the Service has no external address yet),
// ScaledToZero, NoImage, ObjectConflict (an object the operator must write
// exists and is not its own), Applied (ConfigApplied True), Available
// (Available True).
//
// # RBAC
//
// The operator's Role (config/rbac/role.yaml) is generated from the markers
// below. It manages the five kinds and their status; the server's
// StatefulSet, Services, PodDisruptionBudget, ServiceAccount, Role and
// RoleBinding; Secrets and ConfigMaps (configurations, keys, credentials,
// status; it must hold the verbs it grants the server's Role); cert-manager
// Certificates and external-dns DNSEndpoints; events; and the token and
// access reviews of the authenticated metrics endpoint.
//
// +kubebuilder:rbac:groups=mail.kubemail.io,resources=mailservers;maildomains;mailboxes;mailaliases;relaypolicies,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=mail.kubemail.io,resources=mailservers/status;maildomains/status;mailboxes/status;mailaliases/status;relaypolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=mail.kubemail.io,resources=mailservers/finalizers;maildomains/finalizers;mailboxes/finalizers;mailaliases/finalizers;relaypolicies/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets;configmaps;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=externaldns.k8s.io,resources=dnsendpoints,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
package controllers
