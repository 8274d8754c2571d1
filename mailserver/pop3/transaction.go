package pop3

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// msgArg parses a message-number argument (RFC 1939 §5): a decimal number,
// 1-based, naming a message of the snapshot that is not marked deleted.
// It returns the 0-based index, or writes the -ERR response and returns
// ok false.
func (s *session) msgArg(arg string) (index int, ok bool, err error) {
	n, valid := parseNumber(arg)
	if !valid || n < 1 || n > len(s.msgs) || s.deleted[n-1] {
		return 0, false, s.fail(CodeNone, "no such message")
	}
	return n - 1, true, nil
}

// parseNumber parses a non-negative decimal number of at most 9 digits
// (no sign, no spaces).
func parseNumber(arg string) (int, bool) {
	if len(arg) == 0 || len(arg) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// cmdStat is RFC 1939 §5 STAT: "+OK nn mm", deleted messages not counted.
func (s *session) cmdStat(cmd command) error {
	if len(cmd.args) != 0 {
		return s.fail(CodeNone, "syntax error")
	}
	n, size := s.stat()
	return s.ok(strconv.Itoa(n) + " " + strconv.FormatInt(size, 10))
}

// cmdList is RFC 1939 §5 LIST [msg]: a scan listing of one message or of
// every message not marked deleted.
func (s *session) cmdList(cmd command) error {
	return s.listing(cmd, func(i int) string { return strconv.FormatInt(s.msgs[i].Size, 10) },
		func() string {
			n, size := s.stat()
			return strconv.Itoa(n) + " messages (" + strconv.FormatInt(size, 10) + " octets)"
		})
}

// cmdUidl is RFC 1939 §7 UIDL [msg]: the unique-id listing.
func (s *session) cmdUidl(cmd command) error {
	return s.listing(cmd, func(i int) string { return s.msgs[i].UID },
		func() string { return "unique-id listing follows" })
}

// listing writes "+OK n value" for one message, or a multi-line listing of
// every message not marked deleted.
func (s *session) listing(cmd command, value func(i int) string, header func() string) error {
	switch len(cmd.args) {
	case 0:
		if err := s.ok(header()); err != nil {
			return err
		}
		for i := range s.msgs {
			if s.deleted[i] {
				continue
			}
			if err := s.reply(strconv.Itoa(i+1) + " " + value(i)); err != nil {
				return err
			}
		}
		return s.reply(".")
	case 1:
		i, ok, err := s.msgArg(cmd.args[0])
		if !ok {
			return err
		}
		return s.ok(strconv.Itoa(i+1) + " " + value(i))
	default:
		return s.fail(CodeNone, "syntax error")
	}
}

// cmdRetr is RFC 1939 §5 RETR msg: the whole message, byte-stuffed.
func (s *session) cmdRetr(cmd command) error {
	if len(cmd.args) != 1 {
		return s.fail(CodeNone, "syntax error")
	}
	i, ok, err := s.msgArg(cmd.args[0])
	if !ok {
		return err
	}
	return s.sendMessage(i, strconv.FormatInt(s.msgs[i].Size, 10)+" octets", -1)
}

// cmdTop is RFC 1939 §7 TOP msg n: the header, the blank line and the
// first n lines of the body; the whole message when n exceeds the body.
func (s *session) cmdTop(cmd command) error {
	if len(cmd.args) != 2 {
		return s.fail(CodeNone, "syntax error")
	}
	i, ok, err := s.msgArg(cmd.args[0])
	if !ok {
		return err
	}
	n, valid := parseNumber(cmd.args[1])
	if !valid {
		return s.fail(CodeNone, "syntax error")
	}
	return s.sendMessage(i, "top of message follows", n)
}

// sendMessage opens message i and sends it as a multi-line response; with
// bodyLines >= 0 only the header and that many body lines. Once "+OK" is
// sent a failure cannot be reported in the protocol, so a read error ends
// the session rather than send a truncated message as if it were whole.
func (s *session) sendMessage(i int, okText string, bodyLines int) error {
	ctx, cancel := s.backendContext()
	body, err := s.drop.Open(ctx, i)
	cancel()
	if err != nil {
		code, text := errorResponse(err)
		s.log.Error("Opening message failed", "msg", i+1, "err", err)
		return s.fail(code, text)
	}
	defer func() {
		if err := body.Close(); err != nil {
			s.log.Warn("Closing message failed", "msg", i+1, "err", err)
		}
	}()
	if err := s.ok(okText); err != nil {
		return err
	}
	dw := &dotWriter{w: s.w}
	if bodyLines < 0 {
		_, err = io.Copy(dw, backendReader{body})
	} else {
		err = copyTop(dw, body, bodyLines)
	}
	if err != nil {
		var re *readError
		if errors.As(err, &re) {
			s.endReason = EndBackendError
			s.log.Error("Reading message failed", "msg", i+1, "err", re.err)
			return errSessionOver
		}
		return err
	}
	return dw.Close()
}

// cmdDele is RFC 1939 §5 DELE msg: mark a message deleted; it is removed
// only in the UPDATE state.
func (s *session) cmdDele(cmd command) error {
	if len(cmd.args) != 1 {
		return s.fail(CodeNone, "syntax error")
	}
	n, valid := parseNumber(cmd.args[0])
	if valid && n >= 1 && n <= len(s.msgs) && s.deleted[n-1] {
		return s.fail(CodeNone, "message "+strconv.Itoa(n)+" already deleted")
	}
	i, ok, err := s.msgArg(cmd.args[0])
	if !ok {
		return err
	}
	s.deleted[i] = true
	return s.ok("message " + strconv.Itoa(i+1) + " deleted")
}

// cmdNoop is RFC 1939 §5 NOOP.
func (s *session) cmdNoop(cmd command) error {
	if len(cmd.args) != 0 {
		return s.fail(CodeNone, "syntax error")
	}
	return s.ok("")
}

// cmdRset is RFC 1939 §5 RSET: unmark every message marked deleted.
func (s *session) cmdRset(cmd command) error {
	if len(cmd.args) != 0 {
		return s.fail(CodeNone, "syntax error")
	}
	clear(s.deleted)
	return s.ok(s.summary())
}

// readError marks a failure to read a message from the backend, as opposed
// to a failure to write to the client.
type readError struct{ err error }

func (e *readError) Error() string { return fmt.Sprintf("reading message: %v", e.err) }

// backendReader marks its read errors as *readError. Being a plain Reader
// it also keeps io.Copy from using the body's WriterTo, whose errors could
// not be told apart.
type backendReader struct{ r io.Reader }

func (b backendReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = &readError{err}
	}
	return n, err
}

// copyTop copies the header of the message in src, the blank line after
// it and at most n body lines to dst (RFC 1939 §7 TOP).
func copyTop(dst io.Writer, src io.Reader, n int) error {
	br := bufio.NewReaderSize(src, readBufferSize)
	inHeader, atLineStart := true, true
	for inHeader || n > 0 {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if _, werr := dst.Write(chunk); werr != nil {
				return werr
			}
		}
		complete := err == nil
		if complete {
			blank := atLineStart && (len(chunk) == 1 || len(chunk) == 2 && chunk[0] == '\r')
			switch {
			case inHeader && blank:
				inHeader = false
			case !inHeader:
				n--
			}
		}
		atLineStart = complete
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil
		default:
			return &readError{err}
		}
	}
	return nil
}

// dotWriter writes a multi-line response body (RFC 1939 §3): line endings
// normalized to CRLF, lines beginning with "." byte-stuffed with another
// ".", and Close terminates the response with ".\r\n" after completing an
// unterminated last line.
type dotWriter struct {
	w      io.Writer
	midLn  bool // the last byte written was not a line ending
	prevCR bool // the last byte written was '\r'
}

var (
	crlf = []byte("\r\n")
	dot  = []byte(".")
)

// Write transforms p and writes it on; errors come from the underlying
// writer.
func (d *dotWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if !d.midLn && p[0] == '.' {
			if _, err := d.w.Write(dot); err != nil {
				return 0, err
			}
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if _, err := d.w.Write(p); err != nil {
				return 0, err
			}
			d.midLn, d.prevCR = true, p[len(p)-1] == '\r'
			break
		}
		seg := p[:i]
		if _, err := d.w.Write(seg); err != nil {
			return 0, err
		}
		endsCR := d.prevCR
		if i > 0 {
			endsCR = seg[i-1] == '\r'
		}
		nl := crlf
		if endsCR {
			nl = crlf[1:]
		}
		if _, err := d.w.Write(nl); err != nil {
			return 0, err
		}
		d.midLn, d.prevCR = false, false
		p = p[i+1:]
	}
	return n, nil
}

// Close ends the multi-line response.
func (d *dotWriter) Close() error {
	if d.midLn {
		nl := crlf
		if d.prevCR {
			nl = crlf[1:]
		}
		if _, err := d.w.Write(nl); err != nil {
			return err
		}
	}
	_, err := d.w.Write([]byte(".\r\n"))
	return err
}
