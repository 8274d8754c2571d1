package pop3

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
)

// maxSASLLine bounds a SASL response line sent after a "+ " continuation.
// RFC 4616 §2 requires accepting authzid, authcid and passwd of up to 255
// octets each, which is 767 octets and 1024 in base64; the limit leaves
// room and stops a client from making the server buffer an endless line.
const maxSASLLine = 2048

// cmdAuth is RFC 5034 §4 AUTH with the PLAIN mechanism (RFC 4616). AUTH
// without arguments lists the mechanisms, as clients that predate CAPA
// expect.
func (s *session) cmdAuth(cmd command) error {
	if !s.authAllowed() {
		return s.failTLSRequired()
	}
	switch len(cmd.args) {
	case 0:
		if err := s.ok(""); err != nil {
			return err
		}
		if err := s.reply("PLAIN"); err != nil {
			return err
		}
		return s.reply(".")
	case 1, 2:
	default:
		return s.fail(CodeNone, "syntax error")
	}
	if !strings.EqualFold(cmd.args[0], "PLAIN") {
		return s.fail(CodeNone, "unsupported authentication mechanism")
	}

	var response string
	if len(cmd.args) == 2 {
		// RFC 5034 §4: the initial response; "=" is a zero-length one.
		// The 255-octet command line limit applies to it.
		response = cmd.args[1]
		if response == "=" {
			response = ""
		}
	} else {
		// RFC 5034 §4: PLAIN starts with an empty challenge.
		if err := s.reply("+ "); err != nil {
			return err
		}
		if err := s.w.Flush(); err != nil {
			return err
		}
		line, tooLong, err := s.readCommand(maxSASLLine)
		switch {
		case err != nil:
			s.endOnReadError(err)
			return errSessionOver
		case tooLong:
			return s.fail(CodeNone, "line too long")
		case string(line) == "*":
			// RFC 5034 §4: the client canceled the exchange.
			return s.fail(CodeNone, "authentication cancelled")
		}
		response = string(line)
	}

	// RFC 5034 §4: a response that is not valid base64 is rejected.
	decoded, err := base64.StdEncoding.DecodeString(response)
	if err != nil {
		return s.fail(CodeNone, "invalid base64 encoding")
	}
	authzid, authcid, passwd, err := parsePlain(decoded)
	if err != nil {
		return s.fail(CodeNone, "malformed PLAIN response")
	}
	// This server has no proxy authorization: the authorization identity is
	// empty or the authentication identity itself (RFC 4616 §2).
	if authzid != "" && authzid != authcid {
		return s.fail(CodeAuth, "authorization identity not permitted")
	}
	return s.login(authcid, passwd)
}

var errMalformedPlain = errors.New("malformed PLAIN message")

// parsePlain splits a PLAIN message, [authzid] NUL authcid NUL passwd, where
// authcid and passwd are not empty (RFC 4616 §2).
func parsePlain(msg []byte) (authzid, authcid, passwd string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(parts[2]) == 0 {
		return "", "", "", errMalformedPlain
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}
