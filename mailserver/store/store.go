package store

import (
	"context"
	"io"
)

// Store is a complete mail store backend. Adapters should depend on the
// smallest of the interfaces it is made of.
type Store interface {
	AccountStore
	FolderStore
	MessageStore
	Notifier
	io.Closer
}

// AccountStore manages accounts. Every method normalizes the address with
// mail.Fold.
type AccountStore interface {
	// EnsureAccount creates the account with DefaultFolders if it does not
	// exist and reports whether it did; an existing account is left as it is
	// (default folders its user deleted are not re-created).
	EnsureAccount(ctx context.Context, address string) (created bool, err error)
	// DeleteAccount removes the account with all its folders and messages.
	DeleteAccount(ctx context.Context, address string) error
	// Accounts lists every account with its usage, ordered by address.
	Accounts(ctx context.Context) ([]Account, error)
	// Usage returns what the account holds, in constant time.
	Usage(ctx context.Context, address string) (Usage, error)
}

// FolderStore manages the folders of an account. Names are normalized with
// NormalizeFolder and must pass ValidateFolderName.
type FolderStore interface {
	// ListFolders returns every folder of the account, ordered by name.
	ListFolders(ctx context.Context, account string) ([]Folder, error)
	// FolderStatus returns the folder's counters, in constant time.
	FolderStatus(ctx context.Context, f FolderRef) (FolderStatus, error)
	// CreateFolder creates the folder and any missing superior folder; it
	// fails with ErrFolderExists when the name is taken.
	CreateFolder(ctx context.Context, f FolderRef, opts CreateFolderOptions) error
	// DeleteFolder deletes an empty-of-children folder and its messages; it
	// refuses INBOX (ErrFolderProtected) and a folder with inferiors
	// (ErrFolderHasChildren).
	DeleteFolder(ctx context.Context, f FolderRef) error
	// RenameFolder renames a folder with its inferiors, creating missing
	// superiors of the new name. Renaming INBOX moves its messages into a
	// new folder and leaves INBOX empty (RFC 9051 §6.3.6).
	RenameFolder(ctx context.Context, account, from, to string) error
	// SetSubscribed subscribes or unsubscribes the folder.
	SetSubscribed(ctx context.Context, f FolderRef, subscribed bool) error
}

// MessageStore stores and changes messages.
type MessageStore interface {
	// Submit is the one way mail enters the store (package delivery is its
	// only caller in the server): it stores s in one durable transaction, a
	// copy for every local target and a queue entry for every outbound
	// recipient, and returns one result per local target. Without
	// s.BestEffort it is all or nothing: when a local target fails, nothing
	// is stored and the error wraps that target's error (ErrOverQuota,
	// ErrAccountNotFound, …), the results saying per target which failed.
	// With s.BestEffort the error is nil unless the submission as a whole
	// failed, and the results say which targets got their copy. Targets
	// are not deduplicated.
	Submit(ctx context.Context, s Submission) ([]DeliveryResult, error)
	// Append adds one message to a folder (IMAP APPEND).
	Append(ctx context.Context, r AppendRequest) (AppendResult, error)
	// ListMessages returns a consistent snapshot of the folder's status
	// and the selected messages' metadata in ascending UID order.
	ListMessages(ctx context.Context, f FolderRef, opts ListOptions) (MessageList, error)
	// Body returns the message's body. The slice belongs to the caller.
	Body(ctx context.Context, f FolderRef, uid UID) ([]byte, error)
	// UpdateFlags changes the flags of the selected messages.
	UpdateFlags(ctx context.Context, u FlagUpdate) (FlagUpdateResult, error)
	// Expunge removes the selected messages and records their tombstones.
	Expunge(ctx context.Context, r ExpungeRequest) (ExpungeResult, error)
	// Vanished returns the UIDs in uids expunged with a mod-sequence greater
	// than since, in ascending order (RFC 7162 §3.2.10 VANISHED (EARLIER)).
	Vanished(ctx context.Context, f FolderRef, since ModSeq, uids UIDSet) ([]UID, error)
	// Copy copies messages, keeping their flags and internal dates; the
	// whole copy fails with ErrOverQuota when it would exceed the quota.
	Copy(ctx context.Context, r CopyRequest) (CopyResult, error)
	// Move moves messages (RFC 6851): they get new UIDs in the destination
	// and are expunged from the source in the same transaction.
	Move(ctx context.Context, r CopyRequest) (CopyResult, error)
}

// Notifier publishes committed changes (see the package documentation).
type Notifier interface {
	// Subscribe starts receiving the events of an account or one of its
	// folders. The caller must Close the subscription.
	Subscribe(opts SubscribeOptions) (*Subscription, error)
}
