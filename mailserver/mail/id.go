package mail

import (
	"crypto/rand"
	"encoding/base32"
)

// idEncoding renders random message ids: upper-case letters and digits, no
// padding.
var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns a random 16-character message id: the id of an accepted
// message in the SMTP reply, the logs and the Received field, and of a
// queued message or a report in the queue.
func NewID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return idEncoding.EncodeToString(b)
}
