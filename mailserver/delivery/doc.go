// Package delivery is the one door for mail into the store. Its Intake is
// what the SMTP servers consume of the server: the mail.Directory (recipient
// resolution from the served configuration: mailboxes, aliases, catch-alls,
// forwarding), the mail.QuotaChecker (usage against the quota at RCPT), the
// mail.Relayer (relay.allowedNetworks and relay.rateLimits) and the
// mail.Deliverer.
//
// # Intake
//
// For every accepted message Deliver makes one store.MessageStore.Submit
// call, all or nothing: a copy for every local account of every recipient
// (INBOX, with each account's quota) and one queue entry for the remote
// recipients (relayed mail, and the remote targets of aliases and
// forwards), committed in the same transaction before the SMTP server
// answers 250. Mail this server originates (authenticated submission, or a
// client in relay.allowedNetworks) is DKIM-signed first with the key of its
// From domain (msgauth.Signer). A local recipient that asked NOTIFY=SUCCESS
// gets its "delivered" report (package dsn) once the message is stored.
//
// # Reports
//
// Every delivery status notification, the Intake's and the outbound
// queue's, is addressed by ReportSubmission: into the mailboxes of a local
// sender (best effort, no quota), else queued with the null sender. The
// queue stores its reports with the outcomes of the attempt in one
// store.Queue.Settle transaction, which writes them exactly as Submit does.
//
// No other code of the server writes mail into mailboxes or the queue; IMAP
// APPEND, COPY and MOVE change a user's own folders through the store.
package delivery
