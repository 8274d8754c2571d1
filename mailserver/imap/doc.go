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
//     shared by all sessions (Options.CacheBytes). When the items need at
//     most the header (ENVELOPE, BODY[HEADER...], RFC822.HEADER) and the
//     store implements store.HeaderReader, headers are read in bulk, ahead
//     of the responses, and parsed by quickEnvelope, which reads the header
//     shapes of nearly all mail exactly as the library does (a differential
//     fuzz test checks it) and leaves the rest to the library. The header
//     sections read so, up to 4 KiB each, are kept in a second LRU
//     (Options.HeaderCacheBytes), which later header fetches and SEARCH
//     HEADER read instead of the store.
//   - STORE (.SILENT), COPY, MOVE (RFC 6851) with COPYUID, EXPUNGE and
//     UID EXPUNGE, all with their UID forms; SEARCH with every RFC 9051 key,
//     UID SEARCH, ESEARCH return options (RFC 4731) and SEARCHRES "$"
//     (RFC 5182). IDLE (RFC 2177), ENABLE (IMAP4rev2, UTF8=ACCEPT).
//   - Folder names arrive decoded from modified UTF-7 (or as UTF-8 under
//     UTF8=ACCEPT) and are checked here: no empty levels, no leading "/",
//     no "." or ".." levels, no control characters, no "*" or "%" — refused
//     with a tagged NO [CANNOT] that says why.
//   - SELECT reads the folder's index (store.FolderIndexer: UIDs, first
//     unseen message, keywords in use) rather than every message's
//     metadata, and sessions that select a folder in the same state share
//     one immutable snapshot of it (snapshots): a view is a uidList of
//     blocks shared between views, and a change copies one block.
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
//   - The greeting text is the library's, and so is the flush after every
//     response (one TLS record each); commands that write many responses
//     gather those flushes into writes of up to 32 KiB below TLS
//     (batchConn).
//
// # Performance
//
// Measured with BenchmarkLargeFolder and BenchmarkIdleConnectionMemory on a
// shared 2-core machine under load from other work (load average 4–9), as
// wall and process CPU time (the CPU time includes the in-process test
// client), on a 10,000-message folder of 10 KiB messages. SELECT takes
// 0.9–1.6 ms when it reads the folder's index (80 listing rows in the
// SQLite store) and 0.2–0.9 ms when another session's snapshot is current;
// it took 10–12 ms when it read every message's metadata. FETCH 1:* (FLAGS
// RFC822.SIZE ENVELOPE) takes 55–105 ms (95–110 ms CPU) with the envelopes
// cached, most of it the library encoding 10,000 envelopes, and 100–230 ms
// (150–240 ms CPU) the first time, when two goroutines read the headers 256
// messages per store call and parse them while the session writes the
// responses. UID SEARCH HEADER Subject takes 12–13 ms with the headers
// cached by such a fetch and 42–52 ms reading them from the store (SQLite
// reads the header sections apart from the bodies; about 2 µs a message is
// the cost of a row through database/sql and modernc.org/sqlite); it took
// 95–190 ms reading a prefix of every body. FETCH 1:* of the header fields
// Thunderbird asks for takes 80–130 ms from the header cache and 110–180 ms
// from the store, FETCH 1:* (UID FLAGS) 15–23 ms. A cached envelope holds
// about 700 bytes, so the default cache keeps some 45,000; a cached header
// holds its size plus about 120 bytes. An idle logged-in TLS connection in
// IDLE holds about 29 KiB (17 KiB heap, 12 KiB of goroutine stacks) with
// one message or 10,000 in its folder (71 KiB with 10,000 before the
// snapshots were shared): the library's bufio reader and writer (8 KiB),
// crypto/tls's buffers and ciphers (6 KiB) and the two goroutines of a
// connection in IDLE make most of it.
package imap
