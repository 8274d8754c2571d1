package imap

import (
	"context"
	"errors"

	"github.com/emersion/go-imap/v2"

	"github.com/kubemail/kubemail/mailserver/store"
)

// Response codes the go-imap package does not name.
const (
	// codeUseAttr: CREATE named a special-use attribute the server cannot
	// set (RFC 6154 §3).
	codeUseAttr imap.ResponseCode = "USEATTR"
)

// Replies that carry no detail; every tagged NO this package sends is one
// of these or built by storeError, so internal text never reaches the peer.
var (
	errServerBug = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug,
		Text: "Internal server error"}
	errUnavailable = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
		Text: "Temporary failure, try again later"}
	errThrottled = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
		Text: "Too many failed login attempts, try again later"}
	errAuthUnavailable = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
		Text: "Authentication is temporarily unavailable"}
	errTooManySessions = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit,
		Text: "Too many sessions for this account"}
	errReadOnly = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "Mailbox is read-only (EXAMINE)"}
	errOverQuota = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota,
		Text: "Quota exceeded"}
	errTryCreate = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate,
		Text: "No such folder"}
	errNonexistent = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent,
		Text: "No such folder"}
	errMailboxGone = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent,
		Text: "The selected folder was deleted"}
	errSearchTooDeep = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit,
		Text: "SEARCH criteria nested too deeply"}
	errBadFlag = &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug,
		Text: "Invalid flag"}
	errOneSpecialUse = &imap.Error{Type: imap.StatusResponseTypeNo, Code: codeUseAttr,
		Text: "Only one of \\Archive \\Drafts \\Junk \\Sent \\Trash may be given"}
)

// storeError maps an error of the store (or of a context) to the reply the
// client sees. Anything unknown is errServerBug: the caller logs it.
func storeError(err error) *imap.Error {
	no := func(code imap.ResponseCode, text string) *imap.Error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
	}
	switch {
	case errors.Is(err, store.ErrFolderNotFound):
		return errNonexistent
	case errors.Is(err, store.ErrFolderExists):
		return no(imap.ResponseCodeAlreadyExists, "Folder already exists")
	case errors.Is(err, store.ErrFolderHasChildren):
		// RFC 9051 §6.3.5: the store never keeps \Noselect placeholders.
		return no(imap.ResponseCodeHasChildren, "Folder has inferior folders, delete them first")
	case errors.Is(err, store.ErrFolderProtected):
		return no(imap.ResponseCodeCannot, "Not allowed on this folder")
	case errors.Is(err, store.ErrOverQuota):
		return errOverQuota
	case errors.Is(err, store.ErrMessageNotFound):
		return no(imap.ResponseCodeNonExistent, "Message no longer exists")
	case errors.Is(err, store.ErrAccountNotFound):
		return no(imap.ResponseCodeUnavailable, "Account no longer exists")
	case errors.Is(err, store.ErrInvalidArgument):
		return no(imap.ResponseCodeCannot, "Invalid request")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, store.ErrClosed):
		return errUnavailable
	}
	return errServerBug
}

// tryCreate maps a missing destination of APPEND, COPY or MOVE to
// NO [TRYCREATE] (RFC 9051 §6.3.12, §6.4.7).
func tryCreate(err error) error {
	if errors.Is(err, store.ErrFolderNotFound) {
		return errTryCreate
	}
	return err
}
