package store

import (
	"fmt"
	"strings"
	"time"
)

// Delimiter is the hierarchy delimiter of folder names.
const Delimiter = "/"

// Inbox is the name of the folder that receives mail.
const Inbox = "INBOX"

// NormalizeFolder returns the stored spelling of a folder name: any case of
// "INBOX" becomes "INBOX" (RFC 9051 §5.1), and so does the first level of
// INBOX's inferiors ("inbox/x" is "INBOX/x", as in Dovecot), so a client
// cannot create a sibling hierarchy that differs only in case. Other names
// are kept as given (case-sensitive).
func NormalizeFolder(name string) string {
	switch {
	case strings.EqualFold(name, Inbox):
		return Inbox
	case len(name) > len(Inbox) && strings.EqualFold(name[:len(Inbox)+1], Inbox+Delimiter):
		return Inbox + name[len(Inbox):]
	}
	return name
}

// ValidateFolderName checks what the store relies on: a non-empty name with
// no empty hierarchy level. Adapters check protocol syntax before that.
func ValidateFolderName(name string) error {
	if name == "" || strings.HasPrefix(name, Delimiter) || strings.HasSuffix(name, Delimiter) ||
		strings.Contains(name, Delimiter+Delimiter) || strings.ContainsRune(name, 0) {
		return fmt.Errorf("checking folder name %q: %w", name, ErrInvalidArgument)
	}
	return nil
}

// SpecialUse is a folder's SPECIAL-USE attribute (RFC 6154), or "" for none.
type SpecialUse string

// The special-use attributes of the default folders (RFC 6154 §2).
const (
	SpecialNone    SpecialUse = ""
	SpecialAll     SpecialUse = `\All`
	SpecialArchive SpecialUse = `\Archive`
	SpecialDrafts  SpecialUse = `\Drafts`
	SpecialFlagged SpecialUse = `\Flagged`
	SpecialJunk    SpecialUse = `\Junk`
	SpecialSent    SpecialUse = `\Sent`
	SpecialTrash   SpecialUse = `\Trash`
)

// Valid reports whether u is empty or one of the attributes of RFC 6154 §2.
func (u SpecialUse) Valid() bool {
	switch u {
	case SpecialNone, SpecialAll, SpecialArchive, SpecialDrafts, SpecialFlagged, SpecialJunk, SpecialSent, SpecialTrash:
		return true
	}
	return false
}

// DefaultFolder is a folder EnsureAccount creates with a new account.
type DefaultFolder struct {
	Name       string
	SpecialUse SpecialUse
}

// DefaultFolders returns the folders created, subscribed, with every new
// account.
func DefaultFolders() []DefaultFolder {
	return []DefaultFolder{
		{Name: Inbox},
		{Name: "Sent", SpecialUse: SpecialSent},
		{Name: "Drafts", SpecialUse: SpecialDrafts},
		{Name: "Trash", SpecialUse: SpecialTrash},
		{Name: "Junk", SpecialUse: SpecialJunk},
		{Name: "Archive", SpecialUse: SpecialArchive},
	}
}

// FolderRef names a folder of an account.
type FolderRef struct {
	Account string
	Folder  string
}

// String formats the reference for errors and logs.
func (f FolderRef) String() string { return f.Account + ":" + f.Folder }

// Usage is what an account holds: every message in every folder.
type Usage struct {
	Bytes    int64
	Messages int64
}

// Account is an account with its usage.
type Account struct {
	Address string
	Usage   Usage
}

// FolderStatus is the state IMAP STATUS and SELECT report (RFC 9051 §6.3.11,
// RFC 7162 §3.1.2).
type FolderStatus struct {
	Messages      uint32
	Unseen        uint32
	UIDNext       UID
	UIDValidity   uint32
	HighestModSeq ModSeq
	// Size is the sum of the messages' sizes in bytes (RFC 8438).
	Size int64
}

// Folder is a folder as LIST reports it, with its status.
type Folder struct {
	Name       string
	SpecialUse SpecialUse
	Subscribed bool
	Status     FolderStatus
}

// CreateFolderOptions are the optional settings of a new folder.
type CreateFolderOptions struct {
	// SpecialUse is the attribute of the folder (RFC 6154 §3, CREATE-SPECIAL-USE).
	SpecialUse SpecialUse
	// Subscribed subscribes the folder at once.
	Subscribed bool
}

// FlagState is a message's flags and the mod-sequence of their last change.
type FlagState struct {
	UID    UID
	ModSeq ModSeq
	Flags  Flags
}

// MessageMeta is what a listing returns for one message.
type MessageMeta struct {
	UID          UID
	ModSeq       ModSeq
	Flags        Flags
	Size         int64
	InternalDate time.Time
}

// ListOptions select the messages of a listing.
type ListOptions struct {
	// UIDs restricts the listing; an empty set lists nothing.
	UIDs UIDSet
	// ChangedSince, when not 0, keeps only messages whose mod-sequence is
	// greater (RFC 7162 §3.1.4 CHANGEDSINCE).
	ChangedSince ModSeq
}

// MessageList is one consistent snapshot of a folder: its status and the
// selected messages in ascending UID order, so position i+1 is the sequence
// number when every UID was selected.
type MessageList struct {
	Status   FolderStatus
	Messages []MessageMeta
}

// DeliveryTarget is one recipient of a delivery.
type DeliveryTarget struct {
	Account string
	// Folder is where the message goes; "" means INBOX.
	Folder string
	// Flags are set on the new message (for example \Seen on a Sent copy).
	Flags Flags
	// QuotaBytes is the account's quota; 0 means unlimited.
	QuotaBytes int64
}

// Submission is one message for local targets, remote recipients or both:
// what MessageStore.Submit stores, and what a Settlement's reports are.
type Submission struct {
	Body []byte
	// InternalDate is the local copies' arrival time; zero means now.
	InternalDate time.Time
	// Local are the mailbox copies. The body is stored once and shared by
	// every copy.
	Local []DeliveryTarget
	// Outbound queues the message for remote recipients; nil for none.
	Outbound *Outbound
	// BestEffort stores the copy of every local target that can take it
	// and skips the others, each result saying which (a delivery report is
	// not refused because one of its recipients is full). Without it the
	// submission is all or nothing.
	BestEffort bool
}

// DeliveryResult is the outcome for the target of the same index.
type DeliveryResult struct {
	// Err is nil when the message was stored; otherwise it wraps a typed
	// error such as ErrOverQuota, ErrAccountNotFound or ErrFolderNotFound.
	Err         error
	UIDValidity uint32
	UID         UID
}

// AppendRequest is an IMAP APPEND (RFC 9051 §6.3.12).
type AppendRequest struct {
	Folder FolderRef
	Body   []byte
	Flags  Flags
	// InternalDate is the message's internal date; zero means now.
	InternalDate time.Time
	// QuotaBytes is the account's quota; 0 means unlimited.
	QuotaBytes int64
}

// AppendResult identifies the new message (RFC 4315 APPENDUID).
type AppendResult struct {
	UIDValidity uint32
	UID         UID
	ModSeq      ModSeq
}

// FlagOp is how a flag update combines with the current flags.
type FlagOp uint8

// The flag operations of IMAP STORE (RFC 9051 §6.4.6).
const (
	FlagsAdd     FlagOp = iota + 1 // +FLAGS
	FlagsRemove                    // -FLAGS
	FlagsReplace                   // FLAGS
)

// FlagUpdate is an IMAP STORE on a set of UIDs.
type FlagUpdate struct {
	Folder FolderRef
	UIDs   UIDSet
	Op     FlagOp
	Flags  Flags
	// UnchangedSince, when not 0, updates only messages whose mod-sequence is
	// not greater (RFC 7162 §3.1.3); the others are reported in Modified. As
	// in go-imap, 0 means no condition.
	UnchangedSince ModSeq
}

// FlagUpdateResult is the outcome of a FlagUpdate.
type FlagUpdateResult struct {
	// Messages are the selected messages that passed the condition, with
	// their flags after the update, in ascending UID order (changed or not).
	Messages []FlagState
	// Modified are the UIDs that failed UNCHANGEDSINCE (RFC 7162 MODIFIED).
	Modified []UID
	// ModSeq is the mod-sequence of the change, or 0 when nothing changed.
	ModSeq ModSeq
}

// ExpungeRequest selects the messages to expunge.
type ExpungeRequest struct {
	Folder FolderRef
	// UIDs are the candidates; an empty set expunges nothing.
	UIDs UIDSet
	// OnlyDeleted keeps only candidates flagged \Deleted (IMAP EXPUNGE and
	// UID EXPUNGE); POP3 leaves it false to remove exactly the UIDs given.
	OnlyDeleted bool
}

// ExpungeResult lists the expunged UIDs in ascending order.
type ExpungeResult struct {
	UIDs   []UID
	ModSeq ModSeq
}

// CopyRequest copies or moves messages between folders of one account.
type CopyRequest struct {
	Account string
	From    string
	To      string
	UIDs    UIDSet
	// QuotaBytes is the account's quota, checked by Copy; 0 means unlimited.
	QuotaBytes int64
}

// CopyResult maps source to destination UIDs (RFC 4315 COPYUID): the
// message SourceUIDs[i] became DestUIDs[i] in the destination.
type CopyResult struct {
	DestUIDValidity uint32
	SourceUIDs      []UID
	DestUIDs        []UID
}
