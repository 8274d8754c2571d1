// Package store defines the mail store shared by the protocol adapters:
// SMTP delivers into it, POP3 downloads and deletes from INBOX, IMAP works
// with folders, UIDs, flags, mod-sequences and expunges. Backends live in
// sub-packages (store/sqlite is the embedded default); every backend must
// pass the conformance suite in store/storetest.
//
// # Model
//
// An account is keyed by its normalized mailbox address ([mail.Fold]).
// It owns folders named with the hierarchy delimiter [Delimiter] ("/"); the
// name "INBOX" is case-insensitive (RFC 9051 §5.1) and always spelled
// "INBOX" by the store. Each folder has a UIDVALIDITY that is never reused
// within a database, even for a folder re-created under a deleted folder's
// name (RFC 9051 §2.3.1.1), a UIDNEXT, and a HIGHESTMODSEQ (RFC 7162 §3.1).
//
// UIDs within a folder are assigned in strictly increasing order and never
// reused. Every change to a folder's messages (append, flag change,
// expunge) takes a new mod-sequence, strictly greater than every earlier
// one of that folder; all messages changed by one call share it. Expunged
// UIDs are kept as tombstones with the mod-sequence of their expunge, so
// QRESYNC's VANISHED (EARLIER) can be answered (RFC 7162 §3.2.10).
//
// # Folder hierarchy
//
// Creating "a/b/c" also creates the missing superiors "a" and "a/b"
// (RFC 9051 §6.3.4 lets a server do so), so the store never holds a
// \Noselect placeholder. Consequently a folder with inferiors cannot be
// deleted: DeleteFolder refuses with [ErrFolderHasChildren], which IMAP
// reports as [HASCHILDREN] (RFC 9051 §6.3.5). Renaming a folder renames its
// inferiors too; renaming INBOX moves its messages into a new folder and
// leaves INBOX empty, with its inferiors unaffected (RFC 9051 §6.3.6).
// Subscriptions are an attribute of existing folders: they follow a rename
// and disappear with a delete.
//
// # Durability
//
// Every write method returns only after the change is durable (for the
// embedded backend: COMMIT with synchronous=FULL has returned), so an SMTP
// adapter may answer 250 as soon as Deliver returns. When the caller's
// context ends first, the method returns the context's error, but a change
// that has already been handed to the database may still commit: callers
// must treat such an error as "outcome unknown", like any temporary failure.
//
// # Outbound queue
//
// A backend may also implement [Queue] (store/sqlite does): the outbound
// queue lives in the same database, so [MessageStore.Submit] commits a message's
// local copies and its queue entry for remote recipients in one
// transaction, and [Queue.Settle] commits delivery outcomes together with
// the delivery reports they cause. The store persists only; the schedule
// and the state machine are package mailserver/queue's. The suite in
// storetest.RunQueue checks a backend's queue.
//
// # Optional interfaces
//
// A backend may implement more than [Store]; adapters discover it by type
// assertion and fall back to the core interfaces otherwise.
// [HeaderReader] reads the header sections of many messages in one call
// (IMAP ENVELOPE and BODY[HEADER...] without reading each body);
// [FolderIndexer] reads what opening a folder needs of every message (its
// UID, whether it is seen, its keywords) without building the full
// metadata, and [ReadFolderIndex] falls back to ListMessages without it.
//
// # Change notifications
//
// Subscribe returns a [Subscription] that receives an [Event] for every
// change committed to an account (optionally one folder), strictly after
// the commit, in commit order. Publishing never blocks a writer: each
// subscription buffers a bounded number of events, and on overflow it
// discards them and reports that a full resynchronisation is needed (see
// [Subscription.Take]). Events are hints for keeping a session's view
// current: a consumer may see an event describing a state it has already
// read, and must apply events idempotently. A distributed backend
// (PostgreSQL LISTEN/NOTIFY) implements the same contract with the same
// [Hub] fed from its notification channel.
package store
