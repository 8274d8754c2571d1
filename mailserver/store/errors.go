package store

import "errors"

// Errors returned by every backend, wrapped with the action that failed.
// Protocol adapters map them once with errors.Is; any other error is an
// internal failure the peer should see as temporary.
var (
	// ErrClosed means the store has been closed.
	ErrClosed = errors.New("store closed")
	// ErrAccountNotFound means no account exists for the address.
	ErrAccountNotFound = errors.New("account not found")
	// ErrFolderNotFound means the folder does not exist (IMAP [NONEXISTENT]).
	ErrFolderNotFound = errors.New("folder not found")
	// ErrFolderExists means a folder of that name already exists (IMAP [ALREADYEXISTS]).
	ErrFolderExists = errors.New("folder already exists")
	// ErrFolderHasChildren means the folder has inferior folders and cannot be
	// deleted (IMAP [HASCHILDREN], RFC 9051 §6.3.5).
	ErrFolderHasChildren = errors.New("folder has inferior folders")
	// ErrFolderProtected means the operation is not allowed on this folder,
	// for example deleting INBOX (RFC 9051 §6.3.5).
	ErrFolderProtected = errors.New("operation not allowed on this folder")
	// ErrMessageNotFound means no message has the UID in the folder (it may
	// have been expunged).
	ErrMessageNotFound = errors.New("message not found")
	// ErrOverQuota means the change would take the account's usage beyond
	// its quota (IMAP [OVERQUOTA], SMTP 452/552 4.2.2/5.2.2).
	ErrOverQuota = errors.New("quota exceeded")
	// ErrInvalidArgument means a request is malformed: an invalid folder name,
	// a rename into the folder's own subtree, an empty keyword.
	ErrInvalidArgument = errors.New("invalid argument")
)
