package store

import (
	"bytes"
	"context"
)

// HeaderReader is an optional interface of a MessageStore, discovered by
// type assertion: it reads the header sections of many messages in one
// call, so an adapter that needs only headers (IMAP ENVELOPE,
// BODY[HEADER.FIELDS ...]) does not read every body one at a time.
type HeaderReader interface {
	// Headers calls fn, in ascending UID order, with the header section
	// (see HeaderLen) of every message of the folder whose UID is in uids;
	// UIDs without a message are skipped. header is valid only during the
	// call: fn must copy what it keeps. An error from fn stops the read
	// and is returned as is; a missing folder or account is reported like
	// ListMessages does.
	Headers(ctx context.Context, f FolderRef, uids UIDSet, fn func(uid UID, header []byte) error) error
}

// HeaderLen returns the length of a message's header section, including
// the empty line that ends it (CRLF or a bare LF); a message without an
// empty line is all header (RFC 5322 §2.1). body[:HeaderLen(body)] is what
// IMAP calls BODY[HEADER] and body[HeaderLen(body):] is BODY[TEXT].
func HeaderLen(body []byte) int {
	n, _ := FindHeaderEnd(body)
	return n
}

// FindHeaderEnd is HeaderLen that also reports whether the empty line was
// found in b. A reader holding only a prefix of a message needs that: when
// found is false the header may go on beyond the prefix; when it is true,
// n is the header length of the whole message.
func FindHeaderEnd(b []byte) (n int, found bool) {
	if len(b) > 0 && b[0] == '\n' {
		return 1, true
	}
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return 2, true
	}
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1 // start of the next line
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1, true
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2, true
		}
	}
	return len(b), false
}
