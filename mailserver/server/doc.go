// Package server wires the bundled mail server together: configuration,
// store, authentication, TLS, the protocol servers and their listeners,
// the ops endpoint, reloads and shutdown. `kubemail server --config FILE`
// is New followed by Run.
//
// # Start (Run)
//
//  1. New loads the configuration (config.Load); one that does not
//     validate is refused with every field error, and nothing starts.
//     With Options.ConfigSecret (`kubemail server --config-secret NS/NAME`)
//     Run instead waits, logging, until the operator's sharded Secrets hold
//     a valid configuration (package configsource).
//  2. The store opens at storage.path (store/sqlite; a relative path is
//     relative to the working directory) and every configured mailbox gets
//     its store account with the default folders (accounts.go).
//  3. The TLS certificate source loads tls.certFile/tls.keyFile, or
//     generates a self-signed ECDSA certificate for the hostname and logs
//     that it did (certs.go). Every TLS listener shares one tls.Config
//     (TLS 1.2 at least) whose GetCertificate reads an atomically swapped
//     certificate, reloaded when the files change.
//  4. The mail path is built (outbound.go): the Intake of package
//     delivery over the configuration and the store (the SMTP servers'
//     mail.Directory, QuotaChecker, Deliverer and Relayer, IMAP's quota
//     source), the outbound queue workers (package queue), msgauth.Checker
//     for the MX listener, and the DNS resolver (outbound.resolver, else
//     /etc/resolv.conf); auth.Authenticator (throttle from
//     limits.authFailureDelay and authFailureMaxDelay, passwords looked up
//     in the served configuration) is the mail.Authenticator of SMTP, IMAP
//     and POP3 (pop3.StoreBackend).
//  5. The protocol servers are created in buildServices (services.go), the
//     one place a protocol is registered: smtp (MX), submission,
//     submissions, one POP3 server for pop3 (STLS) and pop3s, and one IMAP
//     server for imap (STARTTLS) and imaps.
//  6. Each listener address is bound and wrapped in a gate (gate.go): the
//     PROXY protocol when the listener sets proxyProtocol (proxy.go), then
//     the connection limits (limiter.go); refused clients get
//     "421 4.7.0 …" (SMTP), "* BYE [UNAVAILABLE] …" (IMAP) or
//     "-ERR [SYS/TEMP] …" (POP3) and are closed.
//  7. The ops endpoint serves /healthz, /readyz and /metrics (ops.go,
//     metrics.go); the admin endpoint, when listeners.admin is set (loopback
//     only), serves the queue's admin API for `kubemail queue`; the queue
//     workers, the configuration Watcher and the certificate poller start;
//     each listener's address is logged; /readyz turns 200.
//
// # Delivery
//
// The smtp package resolves recipients through the Intake (the served
// configuration's Resolve), checks quotas at RCPT (store usage against
// config.QuotaBytes), and hands the message to Intake.Deliver, which makes
// one store Submit call: a copy for every local account of every recipient
// (INBOX, with each account's quota) and a queue entry for the remote
// recipients (relayed mail, alias and forward targets), all or nothing, in
// one durable transaction. The 250 reply follows that commit, which is
// timed into kubemail_store_commit_duration_seconds. Relaying needs AUTH
// (submission) or a client in relay.allowedNetworks (MX); the queue then
// delivers, retries, and reports to the sender (see packages delivery and
// queue).
//
// # POP3
//
// A POP3 maildrop (pop3.StoreBackend) is the account's INBOX: List snapshots it with
// store.ListMessages, unique ids are "<uidvalidity>.<uid>" (stable
// forever: UIDs are never reused within a UIDVALIDITY, which is never
// reused within the store), sizes are the stored CRLF sizes, and Commit
// expunges exactly the deleted UIDs in one store transaction, after
// checking that INBOX still has the snapshot's UIDVALIDITY.
//
// # PROXY protocol and limits
//
// On a listener with proxyProtocol: true, a peer in
// proxyProtocol.trustedCIDRs must send a v1 or v2 header first (a
// connection without one is closed); its source address is then the
// client everywhere: limits, logs, Received headers, auth throttling. A
// header from any other peer is refused with a protocol line and the
// connection closed; such peers are otherwise served with their socket
// address. maxConnections and maxConnectionsPerIP (IPv6 per /64) count
// the connections of every protocol listener together.
//
// # Reload
//
// The Watcher (or the Secret source, on each change of shard 0) stores each
// valid new configuration into a staging Holder; the
// callback creates the accounts of new mailboxes and then serves the
// configuration, so a new mailbox can log in as soon as it is served. A
// file that does not validate is refused, its field errors logged, and the
// previous configuration keeps serving. Mailboxes, passwords, aliases,
// domains, quotas, trusted PROXY networks, connection limits and
// certificate files take effect at once; listeners, hostname, storage and
// the protocol limits need a restart, and a reload that changes them logs
// a warning naming the fields (reload.go).
//
// # Shutdown
//
// When Run's context ends (SIGINT/SIGTERM in the command), /readyz turns
// 503, the protocol servers stop accepting and Shutdown, letting sessions
// finish for up to Options.ShutdownTimeout before closing them, and
// the store is closed last, committing what its writer holds. A panic in
// any of the server's goroutines is recovered, logged and counted
// (kubemail_panics_total); one that stops a listener shuts the server
// down, with Run returning the error.
//
// # Metrics (/metrics)
//
//	kubemail_connections{listener}                      open client connections
//	kubemail_connections_refused_total{listener,reason} refused by a limit or the PROXY policy
//	kubemail_sessions_total{listener}                   protocol sessions started
//	kubemail_messages_accepted_total{listener}          messages stored (250)
//	kubemail_messages_accepted_bytes_total{listener}    their size
//	kubemail_messages_rejected_total{listener,reason}   SMTP refusals and failures (smtp.Reason)
//	kubemail_auth_failures_total{listener,reason}       failed logins
//	kubemail_store_commit_duration_seconds              delivery commit latency
//	kubemail_config_reloads_total{result}               ok / failed
//	kubemail_config_info{hash}                          1, labelled with the served configuration's hash
//	kubemail_panics_total{component}                    panics recovered
//	kubemail_outbound_attempts_total{outcome}           per recipient: delivered, deferred, bounced, expired
//
// plus the Go runtime and process collectors.
package server
