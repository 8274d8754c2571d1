package smtp

import "errors"

// Errors reported by lineChecker.
var (
	errBareCR      = errors.New("bare CR in message data")
	errBareLF      = errors.New("bare LF in message data")
	errLineTooLong = errors.New("message line too long")
)

// lineChecker validates message data as it streams past, after go-smtp has
// removed the dot-stuffing and the end-of-data line.
//
// RFC 5321 §2.3.8: CR and LF may appear only together, as CRLF, the line
// terminator. Some receivers take a bare LF (or "\n.\n", "\r.\n",
// "\n.\r\n") as the end of the data, which lets a sender smuggle a second
// message past a server that passes bare line endings on (CVE-2023-51764,
// CVE-2023-51765, CVE-2023-51766). go-smtp's DATA reader ends the data only
// at CRLF "." CRLF, so nothing is smuggled into this server's own command
// stream, but a message carrying bare CR or LF would be smuggled onward when
// relayed; such messages are refused outright.
//
// Lines longer than max octets including CRLF are refused as well (RFC 5321
// §4.5.3.1.6). The first error sticks.
type lineChecker struct {
	max     int  // maximum line length including CRLF
	lineLen int  // octets of the current line, without line ending
	prevCR  bool // the previous octet was CR
	err     error
}

// Write checks p. It never fails in the io.Writer sense; the verdict is in
// Err after Close.
func (c *lineChecker) Write(p []byte) (int, error) {
	if c.err != nil {
		return len(p), nil //nolint:nilerr // the verdict is in Err after Close
	}
	for _, b := range p {
		if c.prevCR {
			c.prevCR = false
			if b != '\n' {
				c.err = errBareCR
				return len(p), nil
			}
			c.lineLen = 0
			continue
		}
		switch b {
		case '\r':
			c.prevCR = true
			continue
		case '\n':
			c.err = errBareLF
			return len(p), nil
		}
		c.lineLen++
		if c.lineLen > c.max-2 {
			c.err = errLineTooLong
			return len(p), nil
		}
	}
	return len(p), nil
}

// Close ends the data (a CR as the very last octet is bare) and returns the
// verdict.
func (c *lineChecker) Close() error {
	if c.err == nil && c.prevCR {
		c.err = errBareCR
	}
	return c.err
}
