package smtp

import (
	"bytes"
	"errors"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
)

// Limits on SASL fields. RFC 4616 §2 requires accepting at least 255 octets
// per field; identities longer than an address can be are refused, and
// passwords are allowed generous length for passphrases. Anything larger is a
// malformed response (501), which keeps garbage from reaching the password
// hasher.
const (
	maxSASLIdentity = 320
	maxSASLPassword = 1024
	maxPlainMessage = 2*maxSASLIdentity + maxSASLPassword + 2
)

var errSASLMalformed = errors.New("malformed SASL response")

// credentialsFunc checks credentials; it returns nil on success or an
// *smtp.SMTPError for the peer.
type credentialsFunc func(authzid, username, password string) error

// parsePlain splits a PLAIN message (RFC 4616 §2):
//
//	message = [authzid] UTF8NUL authcid UTF8NUL passwd
func parsePlain(msg []byte) (authzid, authcid, passwd string, err error) {
	if len(msg) > maxPlainMessage {
		return "", "", "", errSASLMalformed
	}
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", "", errSASLMalformed
	}
	if len(parts[0]) > maxSASLIdentity || !validSASLField(parts[0], 0) ||
		!validSASLField(parts[1], maxSASLIdentity) || !validSASLField(parts[2], maxSASLPassword) {
		return "", "", "", errSASLMalformed
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}

// validSASLField reports whether b is valid UTF-8 without NUL, CR or LF and,
// when limit > 0, is 1 to limit octets long.
func validSASLField(b []byte, limit int) bool {
	if limit > 0 && (len(b) == 0 || len(b) > limit) {
		return false
	}
	if bytes.ContainsAny(b, "\x00\r\n") {
		return false
	}
	return utf8.Valid(b)
}

// plainServer implements the server side of PLAIN (RFC 4616).
type plainServer struct {
	check credentialsFunc
	done  bool
}

var _ sasl.Server = (*plainServer)(nil)

// Next implements sasl.Server.
func (p *plainServer) Next(response []byte) ([]byte, bool, error) {
	if p.done {
		return nil, false, replyAuthMalformed
	}
	if response == nil {
		// No initial response: send an empty challenge (RFC 4954 §4).
		return []byte{}, false, nil
	}
	p.done = true
	authzid, authcid, passwd, err := parsePlain(response)
	if err != nil {
		return nil, false, replyAuthMalformed
	}
	if err := p.check(authzid, authcid, passwd); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// loginServer implements the server side of the obsolete but widely used
// LOGIN mechanism (draft-murchison-sasl-login-00): the user name, then the
// password, each in its own response.
type loginServer struct {
	check    credentialsFunc
	step     int
	username string
}

var _ sasl.Server = (*loginServer)(nil)

// LOGIN challenges as clients expect them.
var (
	loginUsernameChallenge = []byte("Username:")
	loginPasswordChallenge = []byte("Password:")
)

// Next implements sasl.Server.
func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		if response == nil {
			l.step = 1
			return loginUsernameChallenge, false, nil
		}
		// An initial response carries the user name.
		fallthrough
	case 1:
		if !validSASLField(response, maxSASLIdentity) {
			l.step = 3
			return nil, false, replyAuthMalformed
		}
		l.username = string(response)
		l.step = 2
		return loginPasswordChallenge, false, nil
	case 2:
		l.step = 3
		if !validSASLField(response, maxSASLPassword) {
			return nil, false, replyAuthMalformed
		}
		if err := l.check("", l.username, string(response)); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	default:
		return nil, false, replyAuthMalformed
	}
}
