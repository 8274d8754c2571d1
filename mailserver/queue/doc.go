// Package queue is the outbound side of the mail server: the durable
// queue of mail for other servers, its delivery workers (MX look-up,
// MTA-STS, STARTTLS, smarthosts), the delivery status notifications it
// sends back, and the admin API that `kubemail queue` talks to. It is
// outbound only.
//
// Mail enters the queue only through package delivery, whose Intake
// stores a message's local copies and queues its remote recipients in one
// store transaction (store.MessageStore.Submit) and kicks the queue
// (Queue.Kick). The reports the queue sends back are addressed by
// delivery.ReportSubmission and stored with the attempt's outcomes in one
// Settle transaction; their text is rendered by package dsn.
//
// # State machine
//
// The store keeps one row per remote recipient:
//
//	            Submit                      Lease (attempt recorded)
//	(accepted) ───────▶ waiting ──────────────────────────────▶ in flight
//	                    ▲   due at NextAttempt                    │
//	                    │                                         │ Settle
//	                    └──── temporary failure, not expired ◀────┤
//	                          (NextAttempt from the schedule;     │
//	                           delay report once, if due)         │
//	          removed ◀── delivered (2xx after DATA) ◀────────────┤
//	          removed ◀── permanent failure (5xx), or expiry ◀────┘
//	                      (failure report to the sender)
//
// The scheduler reads the due recipients, groups them by message and
// destination (the recipient domain, or the smarthost), and hands each
// group to a worker, which leases it durably (attempts+1, in flight, lease
// until the attempt timeout plus a minute) before it dials: a crash after the lease retries
// the recipients rather than losing them, and a crash after delivery but
// before Settle delivers them again — SMTP's at-least-once, never loss.
// At start, Run releases every lease a previous process left, so such
// recipients are retried at once. Settle records all outcomes of an
// attempt, and stores its reports, in one transaction.
//
// Capacity: at most outbound.workers attempts run at once, and at most
// outbound.maxPerDestination to one destination.
//
// Unreachable destinations: when an attempt reaches no server at all —
// every connection to every mail exchanger (or the smarthost) refused,
// timed out, or dropped before the greeting — the destination is marked
// dead until the earliest retry of that attempt's recipients, at most a
// minute (as Postfix's queue manager does). Attempts for it that come due
// before then are made without connecting: the recipients are leased and
// settled like any temporary failure (attempt counted, next attempt from
// their own schedule, expiry and delay reports unchanged) with the error
// "destination unreachable (not retried: marked dead at HH:MM:SS UTC after
// <the error>)". A server of the destination answering, the end of the
// mark, or `kubemail queue retry` lifts it. Marks live in memory only.
//
// # Retry schedule
//
// The first attempt is immediate. After the n-th failed attempt the
// recipient waits outbound.retrySchedule[n-1] — by default 5m, 15m, 30m,
// 1h, 2h, 4h, 8h — the last entry repeating, each plus a random jitter of
// up to a tenth, so messages queued together do not retry in lock-step.
// The attempt that would fall after the expiry (outbound.expiry, 5 days by
// default, RFC 5321 §4.5.4.1) is made at the expiry time; when it fails
// too, the recipient expires (status 4.4.7). After outbound.delayNotice
// (4 hours) a still-waiting recipient's sender gets one delay report.
//
// # Delivery
//
// Direct delivery (no smarthost route) looks up the domain's MX records
// with the configured resolver: hosts by preference, equal preferences
// shuffled (RFC 5321 §5.1); no MX records means the domain itself; a
// domain that does not exist fails at once (5.1.2), and so does a null MX
// (RFC 7505, 5.1.10). Mail exchangers are reached on outbound.port (25).
// STARTTLS is used whenever offered, without certificate checks, falling
// back to plain SMTP on the same host when the handshake fails (RFC 7435
// opportunistic security) — unless the domain publishes an MTA-STS policy
// in enforce mode (RFC 8461, fetched from
// https://mta-sts.<domain>/.well-known/mta-sts.txt and cached for its
// max_age), which limits delivery to the matching MX hosts over TLS with a
// verified certificate; a "TLS-Required: No" header (RFC 8689 §5) waives
// the policy. A message sent with REQUIRETLS (RFC 8689) goes only over
// verified TLS to hosts authenticated by MTA-STS that advertise
// REQUIRETLS, and fails with 5.7.30 otherwise.
//
// A smarthost route sends through one relay with its TLS mode (implicit
// TLS, required STARTTLS with verification against caFile or the system
// roots, or opportunistic STARTTLS) and, when credentialsFile is set,
// AUTH PLAIN or LOGIN — never without TLS.
//
// Sessions are reused, as Postfix's connection cache does: after a
// transaction that leaves the session in step with the server (no I/O
// error, no 421), it is kept idle for the next message to the same
// destination — for Options.SessionIdleTimeout (5 s), at most
// outbound.maxPerDestination per destination and outbound.workers in all,
// and for Options.MaxSessionMessages (100) transactions; then, and when
// the queue stops, it is ended with QUIT. A session is keyed by the
// destination and everything it was made with — server name and port,
// TLS mode (opportunistic, verified STARTTLS, implicit), the trusted roots
// (the CA file's content), the credentials AUTH used (their digest), the
// EHLO name — and is taken only by a message whose target, under the
// route and MTA-STS policy in force for that message, requires exactly
// that; the per-message checks (REQUIRETLS, SMTPUTF8, SIZE) are made
// again on it. Before a reused session carries a message, RSET (RFC 5321
// §4.1.1.5) must succeed within 20 s; otherwise it is closed and a new
// connection is made, so a session the server dropped costs no attempt.
//
// Each recipient is judged by its own reply (RFC 5321 §4.2.1): a 2xx to
// the message delivers it, 5xx fails it for good, 4xx — and every failure
// that is not a reply (network, TLS, DNS) — is temporary. Failures before
// MAIL move on to the next host; after MAIL the outcome of that host is
// final for the attempt. DSN parameters (RET, ENVID, NOTIFY, ORCPT) are
// passed on when the next hop supports DSN; otherwise a NOTIFY=SUCCESS
// recipient gets a "relayed" report.
//
// # Reports
//
// Delivery status notifications (RFC 3464, multipart/report RFC 6522) go
// to the envelope sender: "failed" on a permanent failure or expiry,
// "delayed" once after delayNotice, "delivered"/"relayed" for
// NOTIFY=SUCCESS, each as NOTIFY allows (FAILURE,DELAY when absent). The
// original is attached whole for failures (unless RET=HDRS or it exceeds
// 256 KiB), its header otherwise. Reports have the null sender and are
// never reported on in turn (RFC 5321 §4.5.5). A report to a local sender
// is stored in its mailboxes in the same transaction as the outcome; to a
// remote sender it is queued.
package queue
