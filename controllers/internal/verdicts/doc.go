// Package verdicts is the operator's in-process memory of what the
// MailServer reconciler decided: the judge's verdicts on the MailDomains,
// Mailboxes and MailAliases of each namespace, and what each MailServer
// compiled into its configuration and what its replicas serve. The
// Mailbox, MailAlias, MailDomain and RelayPolicy reconcilers read it to
// tell whether an object is Ready instead of judging and compiling the
// whole namespace again (with 50,000 Mailboxes, each of them would sort
// 50,000 objects), and it tells the MailServer reconciler which objects to
// wake when something about them changed.
//
// # Contract
//
// One Store serves the whole operator process and is safe for concurrent
// use. The MailServer reconciler alone writes it: Publish after each
// reconcile, SetServedHash with the hash its status says every replica
// serves, Forget when the MailServer is deleted. The other reconcilers
// only read: Lookup, Latest, ServedByReplicas.
//
// A verdict holds for the generation judged: Lookup answers "not judged"
// for an object the latest Publish of its namespace did not see at its
// current generation, and the reconcilers then wait for the MailServer
// reconciler rather than guess. Each Publish replaces the namespace's
// verdicts whole; the configurations compiled are kept per MailServer,
// the latest and a short history (the replicas trail the operator by a
// reload or two), so that ServedByReplicas can answer with the
// configuration the replicas really serve.
//
// What is handed to the store is kept, not copied: the Judgement's maps
// and a published *Config must not be modified afterwards, and nor must
// the *Config values the store returns. The store keeps no cache object:
// it remembers UIDs and generations, and Wake queues names only.
//
// # Wake-ups
//
// Publish returns the MailDomains, Mailboxes and MailAliases whose verdict
// is new (first judged, or judged at a new generation) or changed, and
// nothing when no verdict changed. ServingChanges lists the Mailboxes and
// MailAliases whose compiled state differs between two configurations (in
// or out, or another password hash), every one of the server's when
// either configuration is unknown. The MailServer reconciler passes both
// lists to Wake, which queues them on the channels the Mailbox, MailAlias
// and MailDomain controllers watch (MailboxEvents, AliasEvents,
// DomainEvents). Mailboxes and MailAliases watch only the creation and
// deletion of MailServers, so these wake-ups are how a change of what a
// server compiles or serves reaches them: a rollout step wakes the objects
// it concerns, not the 10,000 of a server. MailDomains and RelayPolicies,
// which are few, learn of it from their watch on the MailServer's status.
package verdicts
