// Package imap is the IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501) server
// of the mail store, built on github.com/emersion/go-imap/v2's imapserver
// (v2.0.0-beta.8), which parses commands and writes responses; this package
// implements its Session on mailserver/store.
//
// # Supported
//
//   - Port 143 with STARTTLS (Serve) and 993 with implicit TLS (ServeTLS,
//     RFC 8314). LOGIN and AUTHENTICATE PLAIN (SASL-IR) only after TLS:
//     before it the library advertises LOGINDISABLED and answers
//     NO [PRIVACYREQUIRED]. Bytes pipelined after STARTTLS are fed to the
//     TLS handshake, never read as commands. Credentials go to the
//     Authenticator, which throttles failures (NO [UNAVAILABLE]).
//   - Default folders (INBOX, Sent, Drafts, Trash, Junk, Archive with
//     SPECIAL-USE, RFC 6154) are ensured at every login.
//   - NAMESPACE, LIST with LIST-EXTENDED (RFC 5258), SPECIAL-USE, LIST-STATUS
//     (RFC 5819), CHILDREN; LSUB, SUBSCRIBE; STATUS with SIZE (RFC 8438),
//     DELETED and APPENDLIMIT; CREATE (with USE, CREATE-SPECIAL-USE), DELETE,
//     RENAME with hierarchy "/"; SELECT, EXAMINE, UNSELECT, CLOSE.
//   - APPEND with flags and date, LITERAL+ (RFC 7888), APPENDLIMIT (RFC 7889)
//     and APPENDUID (UIDPLUS, RFC 4315).
//   - FETCH: FLAGS, INTERNALDATE, RFC822.SIZE, UID, ENVELOPE, BODY,
//     BODYSTRUCTURE, BODY[section]<partial> and BODY.PEEK, the RFC822 forms,
//     BINARY[...] and BINARY.SIZE (RFC 3516). Top-level sections are cut from
//     the stored bytes; parts inside MIME come from the library's parser.
//     Parsed envelopes and body structures are kept in a size-bounded LRU
//     shared by all sessions (Options.CacheBytes).
//   - STORE (.SILENT), COPY, MOVE (RFC 6851) with COPYUID, EXPUNGE and
//     UID EXPUNGE, all with their UID forms; SEARCH with every RFC 9051 key,
//     UID SEARCH, ESEARCH return options (RFC 4731) and SEARCHRES "$"
//     (RFC 5182). IDLE (RFC 2177), ENABLE (IMAP4rev2, UTF8=ACCEPT).
//   - Folder names arrive decoded from modified UTF-7 (or as UTF-8 under
//     UTF8=ACCEPT) and are checked here: no empty levels, no leading "/",
//     no "." or ".." levels, no control characters, no "*" or "%" — refused
//     with a tagged NO [CANNOT] that says why.
//   - Live updates: each selected folder has a store subscription, so a
//     delivery, flag change or expunge by any session, SMTP or POP3 reaches
//     the others as EXISTS, FETCH FLAGS and EXPUNGE at their next command, or
//     at once in IDLE. Each session keeps its own view (the UIDs it has
//     announced), withholds EXPUNGE during FETCH, STORE and SEARCH (RFC 9051
//     §7.5.1), follows renames of its folder, and recovers from a
//     subscription overflow by comparing its view with the store. The
//     library's MailboxTracker is not used: it wants one in-process source
//     feeding sequence numbers in a single global order and panics on input
//     that does not fit, while store events carry UIDs, may be lost to
//     overflow and, with PostgreSQL, come from other replicas.
//   - Quota: APPEND and COPY beyond Quota.QuotaBytes fail with
//     NO [OVERQUOTA] (RFC 9208 §4.3, RFC 5530); MOVE never grows an account.
//   - Limits: APPEND literals over MaxAppendBytes are refused with NO [TOOBIG]
//     before the continuation request, so "{4294967295}" costs nothing;
//     sessions per address (BYE at greeting) and per account (NO [LIMIT] at
//     login); SEARCH nesting (MaxSearchDepth); LIST patterns are matched in
//     O(name·pattern) time. Internal errors are NO [SERVERBUG] with the cause
//     only in the log; panics are recovered, logged and counted (Observer).
//     Logs carry a per-connection id and never a password or message data.
//
// # What go-imap v2.0.0-beta.8 blocks
//
// The library decides the capability list, parses every command and owns
// the connection, so the following cannot be done in a Session:
//
//   - CONDSTORE and QRESYNC (RFC 7162): no capability can be added, ENABLE
//     accepts only IMAP4rev2 and UTF8=ACCEPT, and the parser knows no
//     CHANGEDSINCE, UNCHANGEDSINCE, MODSEQ fetch item, (CONDSTORE) or
//     (QRESYNC ...) SELECT parameter, nor STATUS HIGHESTMODSEQ. The store
//     keeps everything they need (mod-sequences, tombstones, Vanished).
//   - QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT and SETQUOTA are unknown
//     commands (BAD) and the capability cannot be advertised; only the
//     [OVERQUOTA] response code is available.
//   - ID (RFC 2971): not parsed by the server side (BAD Unknown command),
//     and not advertised.
//   - Limits are fixed: a command line may hold 50 KiB (longer: NO
//     [SERVERBUG] and the rest of the line is then read as a new command);
//     literals outside APPEND may hold 4096 bytes (a larger synchronising
//     literal gets no continuation and the library then waits for its
//     30-second command timeout); parenthesised lists nest 1000 deep; the
//     read timeout is 30 s before login and 35 min after it, in IDLE too
//     (RFC 9051 §5.4 asks for at least 30 min). A non-synchronising APPEND
//     literal over the limit is refused but its data is then read as
//     commands.
//   - An invalid modified UTF-7 or UTF-8 folder name is refused by the
//     library with NO [SERVERBUG]; when such a name was sent as a literal,
//     the library also loses the line end and closes the connection.
//   - EXPUNGE and CLOSE reach Session.Expunge identically, so in a folder
//     opened with EXAMINE a plain EXPUNGE succeeds without effect (as CLOSE
//     must); UID EXPUNGE is refused there.
//   - When a connection fails during IDLE the library goes on without
//     waiting for Session.Idle to return; the session serialises its
//     methods with a mutex for that reason.
//   - The greeting text and the per-response flush (one TLS record per
//     FETCH response) are the library's.
//
// # Performance
//
// Measured with BenchmarkLargeFolder and BenchmarkIdleConnectionMemory on a
// shared, heavily loaded 2-core machine, as process CPU time (wall time
// there depends on the load; the ranges are several runs): SELECT of a
// 10,000-message folder reads one metadata listing, 7–9 ms. FETCH 1:*
// (FLAGS RFC822.SIZE ENVELOPE) on 10,000 messages of 10 KiB costs
// 105–175 ms with the envelopes cached (45–60 ms of it is writing 10,000
// responses, as FETCH 1:* (UID FLAGS) shows) and 0.9–1.6 s the first time,
// when every body is read and its header parsed: the store has no
// header-only read and prepares its body query anew for each call. Misses
// are read by a few goroutines in batches; a cached envelope holds about
// 720 bytes, so the default cache keeps some 45,000. An idle logged-in TLS
// connection in IDLE holds about 28 KiB (17 KiB heap, 11 KiB of goroutine
// stacks).
package imap
