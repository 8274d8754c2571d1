// Package config is the typed, versioned configuration of the kubemail mail
// server: the contract between the operator (which renders it from the
// MailServer, MailDomain, Mailbox and MailAlias resources) and the server
// (which reads it from a file and reloads it when it changes).
//
// A document looks like this (config/standalone/server.yaml is a complete
// sample; every field is documented on the Go types):
//
//	apiVersion: server.kubemail.io/v1alpha1
//	kind: ServerConfig
//	hostname: mx1.example.com
//	listeners:
//	  smtp: {address: ":25", proxyProtocol: true}
//	  submission: {address: ":587"}
//	  imaps: {address: ":993"}
//	  ops: {address: ":9380"}
//	proxyProtocol: {trustedCIDRs: [10.0.0.0/8]}
//	tls: {certFile: /etc/kubemail/tls/tls.crt, keyFile: /etc/kubemail/tls/tls.key}
//	storage: {driver: sqlite, path: /var/lib/kubemail}
//	limits: {maxMessageBytes: 26214400, commandTimeout: 5m}
//	domains:
//	- name: example.com
//	  catchAll: admin@example.com          # or a list: [admin@example.com, ops@example.net]
//	  dkim: {selector: k1, keyFile: /etc/kubemail/dkim/example.com.pem}
//	mailboxes:
//	- address: admin@example.com
//	  passwordHash: $argon2id$v=19$m=19456,t=2,p=1$…
//	  aliases: [hostmaster@example.com]
//	aliases:
//	- address: postmaster@example.com
//	  targets: [admin@example.com]
//	outbound: {expiry: 120h, delayNotice: 4h, retrySchedule: [5m, 15m, 30m, 1h, 2h, 4h, 8h]}
//	relay:
//	  routes:
//	  - domain: "*"
//	    smarthost: {host: smtp.provider.net, port: 587, tls: starttls-required, credentialsFile: /etc/kubemail/relay}
//	  allowedNetworks: [10.42.0.0/16]
//	  rateLimits: [{sender: "*", recipientsPerHour: 500}]
//
// The outbound and relay sections (outbound.go) are optional: absent, mail
// leaves by direct MX delivery with the defaults of [OutboundPolicy], and
// only authenticated clients may relay. listeners.admin (loopback only)
// serves the queue's admin API for `kubemail queue`.
//
// Decoding is strict: unknown or duplicate fields are errors, so a typo does
// not silently turn a setting off. [Parse] and [Load] then apply defaults
// (defaults.go), normalise domains and addresses to their canonical form
// (address.go: IDNA A-labels, lower case, local parts compared
// case-insensitively), validate, and report every problem at once in a
// *[ValidationError] whose entries name the field, for example
//
//	mailboxes[2].address: "bob@" is not a valid email address: domain: empty
//
// The result is read-only and carries compiled look-up tables, so the
// per-message questions are map look-ups: [Config.Resolve] (where does mail
// for this recipient go), [Config.LookupMailbox], [Config.LookupPassword],
// [Config.IsLocalDomain], [Config.SenderAllowed], [Config.ProxyTrusted].
// [Config.Hash] identifies the content; the server reports the hash it
// serves so the operator can tell whether every replica is up to date.
//
// Reloading: a [Holder] holds the configuration being served and swaps it
// atomically; subsystems register [Holder.OnChange] callbacks. A [Watcher]
// watches the file and stores each new version that validates; a version
// that does not is refused, logged and kept in [Watcher.LastError], and the
// previous configuration keeps serving.
package config
