package pop3

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"
)

// state is a POP3 session state (RFC 1939 §3).
type state int

const (
	stateAuthorization state = 1 << iota
	stateTransaction
)

const (
	readBufferSize  = 4096
	writeBufferSize = 32 * 1024
)

// errSessionOver ends the command loop after the response was written.
var errSessionOver = errors.New("session over")

// session is one client connection.
type session struct {
	srv  *Server
	raw  net.Conn // the accepted connection
	conn net.Conn // raw, or the TLS connection over it
	r    *bufio.Reader
	w    *bufio.Writer
	log  *slog.Logger
	info ConnInfo
	ctx  context.Context

	state       state
	pendingUser string // set by USER, consumed by PASS (RFC 1939 §7)
	hasUser     bool
	badCommands int
	command     string // keyword of the command being handled, for the Observer
	endReason   EndReason
	line        []byte // scratch buffer for readLine

	user     string // the logged-in user, for logs
	drop     Maildrop
	lockName string
	msgs     []MessageInfo
	deleted  []bool
}

// serveConn runs one session on c until it ends; it always closes c.
func (srv *Server) serveConn(c net.Conn, implicitTLS bool) {
	s := &session{
		srv:   srv,
		raw:   c,
		conn:  c,
		state: stateAuthorization,
		ctx:   srv.ctx,
		info: ConnInfo{
			ID:         srv.newConnID(),
			RemoteAddr: c.RemoteAddr(),
			LocalAddr:  c.LocalAddr(),
		},
	}
	s.log = srv.log.With("conn", s.info.ID, "remote", addrString(s.info.RemoteAddr))
	s.setConn(c)
	srv.obs.SessionStarted(s.info)
	start := time.Now()
	defer func() {
		if v := recover(); v != nil {
			s.panicked(v)
		}
		s.cleanup()
		// Sessions that never logged in (port probes, scanners) log at
		// debug level unless something went wrong.
		level := slog.LevelDebug
		if s.user != "" || (s.endReason != EndQuit && s.endReason != EndClientClosed) {
			level = slog.LevelInfo
		}
		s.log.Log(context.Background(), level, "POP3 session ended",
			"reason", s.endReason, "user", s.user, "duration", time.Since(start))
		srv.obs.SessionEnded(s.info, s.endReason)
	}()
	s.log.Debug("POP3 session started")
	s.run(implicitTLS)
}

// panicked logs and counts a recovered panic.
func (s *session) panicked(v any) {
	s.endReason = EndPanic
	s.log.Error("POP3 session panicked", "panic", v, "stack", string(debug.Stack()))
	s.srv.obs.Panicked(s.info, v)
}

// cleanup closes the maildrop without committing (RFC 1939 §6), releases
// the lock and closes the connection, even if Maildrop.Close panics.
func (s *session) cleanup() {
	defer func() {
		if v := recover(); v != nil {
			s.panicked(v)
		}
		_ = s.conn.Close()
	}()
	s.closeMaildrop()
}

// closeMaildrop closes the maildrop, then releases its lock.
func (s *session) closeMaildrop() {
	if s.drop == nil {
		return
	}
	drop, name := s.drop, s.lockName
	s.drop, s.lockName, s.msgs, s.deleted = nil, "", nil, nil
	defer s.srv.unlock(name)
	if err := drop.Close(); err != nil {
		s.log.Warn("Closing maildrop failed", "err", err)
	}
}

func (s *session) run(implicitTLS bool) {
	if implicitTLS {
		if err := s.handshake(); err != nil {
			return
		}
	}
	// RFC 1939 §4: the greeting.
	if err := s.reply("+OK " + s.srv.opts.Hostname + " POP3 server ready"); err != nil {
		s.endReason = EndNetworkError
		return
	}
	for {
		if err := s.flushIfIdle(); err != nil {
			s.endReason = EndNetworkError
			return
		}
		line, tooLong, err := s.readCommand(s.srv.opts.MaxLineLength)
		if err != nil {
			s.endOnReadError(err)
			return
		}
		if tooLong {
			// RFC 2449 §4: the line was discarded without being buffered.
			s.command = "UNKNOWN"
			s.hasUser = false
			err = s.fail(CodeNone, "line too long")
		} else {
			err = s.dispatch(line)
		}
		if err != nil {
			if !errors.Is(err, errSessionOver) && s.endReason == "" {
				s.endReason = EndNetworkError
				s.log.Debug("POP3 session write failed", "err", err)
			}
			_ = s.w.Flush()
			return
		}
	}
}

// endOnReadError ends the session after a failed read of a command line,
// telling the client why when it is still there.
func (s *session) endOnReadError(err error) {
	var ne net.Error
	switch {
	case s.srv.closing.Load():
		s.endReason = EndShutdown
		_ = s.reply("-ERR [" + string(CodeSysTemp) + "] server shutting down")
	case errors.As(err, &ne) && ne.Timeout():
		// RFC 1939 §3: the autologout timer expired; no UPDATE state.
		s.endReason = EndIdleTimeout
		_ = s.reply("-ERR idle timeout, closing connection")
	case errors.Is(err, io.EOF):
		s.endReason = EndClientClosed
	default:
		s.endReason = EndNetworkError
		s.log.Debug("Reading POP3 command failed", "err", err)
	}
	_ = s.w.Flush()
}

// readCommand waits up to the idle timeout for a line of at most max
// octets, CRLF included.
func (s *session) readCommand(max int) (line []byte, tooLong bool, err error) {
	if err := s.conn.SetReadDeadline(time.Now().Add(s.srv.opts.IdleTimeout)); err != nil {
		return nil, false, err
	}
	if s.srv.closing.Load() {
		// Checked after setting the deadline, so Shutdown's interrupting
		// deadline cannot be overwritten unnoticed.
		return nil, false, net.ErrClosed
	}
	return s.readLine(max)
}

// readLine reads one line of at most max octets including its line ending.
// A longer line is consumed and discarded while being read, so it never
// occupies more than the reader's buffer. The line ending (CRLF, or a bare
// LF from lenient clients) is removed; the result is only valid until the
// next call.
func (s *session) readLine(max int) (line []byte, tooLong bool, err error) {
	s.line = s.line[:0]
	for {
		chunk, err := s.r.ReadSlice('\n')
		if !tooLong {
			if len(s.line)+len(chunk) > max {
				tooLong = true
				s.line = s.line[:0]
			} else {
				s.line = append(s.line, chunk...)
			}
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, false, err
		}
	}
	if tooLong {
		return nil, true, nil
	}
	line = s.line[:len(s.line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, false, nil
}

// setConn switches the session to c (after a TLS handshake) with fresh
// buffers: whatever the old reader held is dropped.
func (s *session) setConn(c net.Conn) {
	s.conn = c
	s.r = bufio.NewReaderSize(c, readBufferSize)
	s.w = bufio.NewWriterSize(progressWriter{c: c, timeout: s.srv.opts.CommandTimeout}, writeBufferSize)
}

// handshake runs the server side of a TLS handshake over the current
// connection and switches the session to it.
func (s *session) handshake() error {
	tc := tls.Server(s.conn, s.srv.opts.TLSConfig)
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.opts.CommandTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		s.endReason = EndTLSHandshakeFailed
		s.log.Info("TLS handshake failed", "err", err)
		return err
	}
	st := tc.ConnectionState()
	s.info.TLS = &st
	s.setConn(tc)
	s.log.Debug("TLS established", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
	return nil
}

// flushIfIdle sends buffered responses unless more pipelined commands are
// already waiting (RFC 2449 §6.6 PIPELINING).
func (s *session) flushIfIdle() error {
	if s.r.Buffered() > 0 {
		return nil
	}
	return s.w.Flush()
}

// reply writes one response line; it is sent by the next flush.
func (s *session) reply(line string) error {
	if _, err := s.w.WriteString(line); err != nil {
		return err
	}
	_, err := s.w.WriteString("\r\n")
	return err
}

// ok writes "+OK text".
func (s *session) ok(text string) error {
	if text == "" {
		return s.reply("+OK")
	}
	return s.reply("+OK " + text)
}

// fail writes "-ERR [code] text" for the command being handled and counts
// it; a session with too many failed commands is ended. Server-side
// failures (SYS/TEMP, SYS/PERM) are not the client's fault and do not
// count towards the limit.
func (s *session) fail(code ResponseCode, text string) error {
	s.srv.obs.CommandFailed(s.info, s.command, code)
	if code != CodeSysTemp && code != CodeSysPerm {
		s.badCommands++
		if s.badCommands >= s.srv.opts.MaxBadCommands {
			s.endReason = EndTooManyErrors
			s.log.Info("Too many bad POP3 commands, closing connection", "count", s.badCommands)
			if err := s.reply("-ERR too many errors, closing connection"); err != nil {
				return err
			}
			return errSessionOver
		}
	}
	if code != CodeNone {
		text = "[" + string(code) + "] " + text
	}
	return s.reply("-ERR " + text)
}

// backendContext bounds one backend call.
func (s *session) backendContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, s.srv.opts.CommandTimeout)
}

// progressWriter sets a fresh write deadline before every write, so a slow
// but progressing client can download a large message while a stalled one
// is dropped after the timeout.
type progressWriter struct {
	c       net.Conn
	timeout time.Duration
}

func (w progressWriter) Write(p []byte) (int, error) {
	if err := w.c.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		return 0, err
	}
	return w.c.Write(p)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// redactedArgs returns a command's arguments as they may be logged:
// passwords and SASL data never are.
func redactedArgs(keyword string, args []string) string {
	switch keyword {
	case "PASS":
		return "[redacted]"
	case "AUTH":
		// Only a known mechanism name is logged: a client that left it
		// out may have put credentials in its place.
		switch {
		case len(args) == 0:
			return ""
		case !strings.EqualFold(args[0], "PLAIN"):
			return "[redacted]"
		case len(args) > 1:
			return args[0] + " [redacted]"
		}
	}
	return strings.Join(args, " ")
}
