package pop3

import (
	"bytes"
	"context"
	"strconv"
	"strings"
)

// command is a parsed command line (RFC 1939 §3: a keyword of three or four
// characters, case-insensitive, and arguments separated by spaces).
type command struct {
	keyword string   // upper-cased
	args    []string // split on spaces; PASS keeps its whole argument
}

// parseCommand parses a command line without its CRLF. It reports false
// for a line that is not a command: empty, a keyword that is not 3 or 4
// ASCII letters, or control characters other than tab.
func parseCommand(line []byte) (command, bool) {
	for _, b := range line {
		if b < 0x20 && b != '\t' || b == 0x7f {
			return command{}, false
		}
	}
	kw, rest, _ := bytes.Cut(line, []byte{' '})
	if len(kw) < 3 || len(kw) > 4 {
		return command{}, false
	}
	for _, b := range kw {
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z') {
			return command{}, false
		}
	}
	cmd := command{keyword: strings.ToUpper(string(kw))}
	if cmd.keyword == "PASS" {
		// RFC 1939 §7: PASS has exactly one argument, so spaces in it are
		// part of the password.
		if len(rest) > 0 {
			cmd.args = []string{string(rest)}
		}
		return cmd, true
	}
	cmd.args = strings.Fields(string(rest))
	return cmd, true
}

// handler runs one command; it returns errSessionOver to end the session
// after its response, or a write error.
type handler func(s *session, cmd command) error

// commandSpec says in which states a command is valid and how it runs.
type commandSpec struct {
	states state
	run    handler
}

// commands are the commands this server implements, with the states in
// which each is valid (RFC 1939 §4-§7, RFC 2449 §5, RFC 2595 §4,
// RFC 5034 §4).
var commands = map[string]commandSpec{
	"CAPA": {stateAuthorization | stateTransaction, (*session).cmdCapa},
	"QUIT": {stateAuthorization | stateTransaction, (*session).cmdQuit},
	"STLS": {stateAuthorization, (*session).cmdStls},
	"USER": {stateAuthorization, (*session).cmdUser},
	"PASS": {stateAuthorization, (*session).cmdPass},
	"AUTH": {stateAuthorization, (*session).cmdAuth},
	"STAT": {stateTransaction, (*session).cmdStat},
	"LIST": {stateTransaction, (*session).cmdList},
	"UIDL": {stateTransaction, (*session).cmdUidl},
	"RETR": {stateTransaction, (*session).cmdRetr},
	"TOP":  {stateTransaction, (*session).cmdTop},
	"DELE": {stateTransaction, (*session).cmdDele},
	"NOOP": {stateTransaction, (*session).cmdNoop},
	"RSET": {stateTransaction, (*session).cmdRset},
}

// dispatch parses and runs one command line.
func (s *session) dispatch(line []byte) error {
	cmd, ok := parseCommand(line)
	spec, known := commands[cmd.keyword]
	if !ok || !known {
		s.command = "UNKNOWN"
		s.hasUser = false
		return s.fail(CodeNone, "unknown command")
	}
	s.command = cmd.keyword
	s.log.Debug("POP3 command", "cmd", cmd.keyword, "args", redactedArgs(cmd.keyword, cmd.args))
	// RFC 1939 §7: PASS is only valid immediately after USER.
	if cmd.keyword != "PASS" {
		s.hasUser = false
	}
	if spec.states&s.state == 0 {
		return s.fail(CodeNone, "command not valid in this state")
	}
	return spec.run(s, cmd)
}

// authAllowed reports whether credentials may be sent on this connection
// (RFC 2595 §2.3: not in clear text unless configured otherwise).
func (s *session) authAllowed() bool {
	return s.info.TLS != nil || s.srv.opts.AllowInsecureAuth
}

// failTLSRequired refuses a credential command before TLS; RFC 3206 §5
// makes [AUTH] the code for "authentication not allowed as attempted".
func (s *session) failTLSRequired() error {
	return s.fail(CodeAuth, "TLS required before authentication, use STLS")
}

// cmdCapa lists capabilities (RFC 2449 §5). Capabilities usable in the
// AUTHORIZATION state are announced in both states (RFC 2449 §5); USER
// and SASL only when credentials may be sent (RFC 2595 §4).
func (s *session) cmdCapa(cmd command) error {
	if len(cmd.args) != 0 {
		return s.fail(CodeNone, "syntax error")
	}
	caps := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"}
	if s.authAllowed() {
		caps = append(caps, "USER", "SASL PLAIN")
	}
	if s.info.TLS == nil && s.srv.opts.TLSConfig != nil {
		caps = append(caps, "STLS")
	}
	caps = append(caps, "IMPLEMENTATION kubemail")
	if err := s.ok("Capability list follows"); err != nil {
		return err
	}
	for _, c := range caps {
		if err := s.reply(c); err != nil {
			return err
		}
	}
	return s.reply(".")
}

// cmdStls starts TLS (RFC 2595 §4): only in the AUTHORIZATION state, only
// once, only when a TLS configuration is set.
func (s *session) cmdStls(cmd command) error {
	switch {
	case len(cmd.args) != 0:
		return s.fail(CodeNone, "syntax error")
	case s.info.TLS != nil:
		return s.fail(CodeNone, "command not permitted when TLS active")
	case s.srv.opts.TLSConfig == nil:
		return s.fail(CodeNone, "TLS not available")
	}
	if err := s.ok("Begin TLS negotiation"); err != nil {
		return err
	}
	if err := s.w.Flush(); err != nil {
		return err
	}
	// CVE-2011-0411 class: anything the client sent after STLS before the
	// handshake arrived in clear text and must not be executed inside the
	// TLS session. setConn below drops the old reader with its buffer.
	if n := s.r.Buffered(); n > 0 {
		s.log.Warn("Discarded data pipelined after STLS", "bytes", n)
	}
	s.hasUser = false
	if err := s.handshake(); err != nil {
		return errSessionOver
	}
	return nil
}

// cmdUser names the user for a following PASS (RFC 1939 §7). The reply
// does not reveal whether the user exists.
func (s *session) cmdUser(cmd command) error {
	if !s.authAllowed() {
		return s.failTLSRequired()
	}
	if len(cmd.args) != 1 {
		return s.fail(CodeNone, "syntax error")
	}
	s.pendingUser, s.hasUser = cmd.args[0], true
	return s.ok("send PASS")
}

// cmdPass completes USER/PASS authentication (RFC 1939 §7).
func (s *session) cmdPass(cmd command) error {
	if !s.authAllowed() {
		return s.failTLSRequired()
	}
	if !s.hasUser {
		return s.fail(CodeNone, "PASS must follow USER")
	}
	s.hasUser = false
	if len(cmd.args) != 1 {
		return s.fail(CodeNone, "syntax error")
	}
	return s.login(s.pendingUser, cmd.args[0])
}

// login authenticates, takes the maildrop lock, snapshots the maildrop and
// enters the TRANSACTION state (RFC 1939 §4, §7 PASS). On failure the
// session stays in the AUTHORIZATION state.
func (s *session) login(username, password string) error {
	ctx, cancel := s.backendContext()
	defer cancel()
	drop, err := s.srv.opts.Backend.Login(ctx, s.info, username, password)
	if err != nil {
		code, text := errorResponse(err)
		s.log.Info("POP3 login failed", "user", username, "code", code, "err", err)
		s.srv.obs.AuthFailed(s.info, code)
		return s.fail(code, text)
	}
	name := drop.Name()
	if !s.srv.lock(name) {
		// RFC 2449 §8.1.2: another session holds the maildrop.
		if err := drop.Close(); err != nil {
			s.log.Warn("Closing maildrop failed", "err", err)
		}
		s.log.Info("POP3 login refused, maildrop in use", "user", username)
		s.srv.obs.AuthFailed(s.info, CodeInUse)
		return s.fail(errorResponse(ErrInUse))
	}
	s.drop, s.lockName = drop, name
	msgs, err := s.snapshot(ctx)
	if err != nil {
		s.closeMaildrop()
		code, text := errorResponse(err)
		s.log.Error("Listing maildrop failed", "user", username, "err", err)
		return s.fail(code, text)
	}
	s.msgs, s.deleted = msgs, make([]bool, len(msgs))
	s.state = stateTransaction
	s.user = username
	s.log.Info("POP3 login succeeded", "user", username, "messages", len(msgs))
	return s.ok(s.summary())
}

// snapshot lists the maildrop and checks the UIDs are valid unique-id
// listings (RFC 1939 §7), so a backend bug cannot inject protocol lines.
func (s *session) snapshot(ctx context.Context) ([]MessageInfo, error) {
	msgs, err := s.drop.List(ctx)
	if err != nil {
		return nil, err
	}
	for i, m := range msgs {
		if !validUID(m.UID) || m.Size < 0 {
			return nil, TemporaryError(errInvalidMessage(i))
		}
	}
	return msgs, nil
}

type errInvalidMessage int

func (e errInvalidMessage) Error() string {
	return "backend listed an invalid UID or size for message " + strconv.Itoa(int(e)+1)
}

func validUID(uid string) bool {
	if len(uid) == 0 || len(uid) > 70 {
		return false
	}
	for i := 0; i < len(uid); i++ {
		if uid[i] < 0x21 || uid[i] > 0x7e {
			return false
		}
	}
	return true
}

// summary is "maildrop has N messages (M octets)", not counting deleted
// messages (RFC 1939 §5, §7 PASS, RSET).
func (s *session) summary() string {
	n, size := s.stat()
	return "maildrop has " + strconv.Itoa(n) + " messages (" + strconv.FormatInt(size, 10) + " octets)"
}

func (s *session) stat() (n int, size int64) {
	for i, m := range s.msgs {
		if !s.deleted[i] {
			n++
			size += m.Size
		}
	}
	return n, size
}

// cmdQuit ends the session (RFC 1939 §4, §6). In the TRANSACTION state it
// enters the UPDATE state and commits the deletions atomically.
func (s *session) cmdQuit(cmd command) error {
	s.endReason = EndQuit
	if s.state == stateTransaction {
		var uids []string
		for i, m := range s.msgs {
			if s.deleted[i] {
				uids = append(uids, m.UID)
			}
		}
		ctx, cancel := s.backendContext()
		err := s.drop.Commit(ctx, uids)
		cancel()
		if err != nil {
			s.log.Error("Committing POP3 deletions failed", "deleted", len(uids), "err", err)
			code, _ := errorResponse(err)
			if code != CodeSysPerm {
				code = CodeSysTemp
			}
			// RFC 1939 §6 QUIT: "-ERR some deleted messages not removed".
			if err := s.fail(code, "some deleted messages not removed"); err != nil {
				return err
			}
			return errSessionOver
		}
		s.log.Info("POP3 session committed", "deleted", len(uids))
	}
	if err := s.ok(s.srv.opts.Hostname + " POP3 server signing off"); err != nil {
		return err
	}
	return errSessionOver
}
