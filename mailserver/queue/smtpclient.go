package queue

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// Timeouts of the SMTP client (RFC 5321 §4.5.3.2).
const (
	greetingTimeout = 5 * time.Minute  // §4.5.3.2.1
	commandTimeout  = 5 * time.Minute  // §4.5.3.2.2–4 (MAIL, RCPT)
	dataTimeout     = 10 * time.Minute // §4.5.3.2.6 (reply to the final dot)
	// rsetTimeout bounds the RSET that checks a cached session (Postfix's
	// smtp_rset_timeout): a server that does not answer it soon is
	// abandoned for a new connection.
	rsetTimeout = 20 * time.Second
	// quitTimeout bounds the wait for the reply to QUIT.
	quitTimeout = 5 * time.Second
)

// codeClosing is the reply "service not available, closing transmission
// channel" (RFC 5321 §3.8, §4.2.3).
const codeClosing = 421

// Reply is an SMTP reply (RFC 5321 §4.2) with its enhanced status code
// (RFC 3463) when the server sent one.
type Reply struct {
	Code     int
	Enhanced string // "5.1.1", or "" when absent
	Text     string
}

// String renders the reply as the server sent it (one line).
func (r Reply) String() string {
	s := strconv.Itoa(r.Code)
	if r.Enhanced != "" {
		s += " " + r.Enhanced
	}
	if r.Text != "" {
		s += " " + r.Text
	}
	return s
}

// Error makes a failure reply usable as an error.
func (r Reply) Error() string { return r.String() }

// Permanent reports a 5yz reply.
func (r Reply) Permanent() bool { return r.Code >= 500 }

// parseReply splits "250-…\n…" as returned by textproto into a Reply.
func parseReply(code int, msg string) Reply {
	r := Reply{Code: code}
	lines := strings.Split(msg, "\n")
	first := lines[0]
	if enh, rest, ok := strings.Cut(first, " "); ok || first != "" {
		if isEnhancedCode(enh, code) {
			r.Enhanced, first = enh, rest
		}
	}
	lines[0] = first
	r.Text = strings.Join(lines, " ")
	return r
}

// isEnhancedCode checks class.subject.detail whose class matches the reply.
func isEnhancedCode(s string, code int) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || strconv.Itoa(code/100) != parts[0] {
		return false
	}
	for _, p := range parts[1:] {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 999 || p == "" {
			return false
		}
	}
	return true
}

// client is a minimal SMTP client for delivery: it exposes each reply, so
// the caller can classify every recipient, and it controls STARTTLS and
// the EHLO name, which go-smtp's client does not.
type client struct {
	conn net.Conn
	text *textproto.Conn
	ext  map[string]string
	tls  bool
	host string // the server's name, for logs and Remote-MTA
	// broken is set once the session can no longer be trusted to be in
	// step with the server: an I/O error, a malformed reply, or 421
	// (the server is closing the channel, RFC 5321 §3.8). A broken
	// session is never reused.
	broken bool
}

// newClient reads the greeting on conn.
func newClient(conn net.Conn, host string) (*client, error) {
	c := &client{conn: conn, text: textproto.NewConn(conn), host: host}
	_, isTLS := conn.(*tls.Conn)
	c.tls = isTLS
	r, err := c.read(greetingTimeout)
	if err != nil {
		return nil, err
	}
	if r.Code != 220 {
		return nil, r
	}
	return c, nil
}

// read reads one reply within timeout.
func (c *client) read(timeout time.Duration) (Reply, error) {
	_ = c.conn.SetDeadline(time.Now().Add(timeout))
	code, msg, err := c.text.ReadResponse(0)
	c.broken = c.broken || err != nil || code == codeClosing
	if err != nil {
		var pe textproto.ProtocolError
		if errors.As(err, &pe) {
			return Reply{}, fmt.Errorf("malformed reply: %w", err)
		}
		return Reply{}, err
	}
	return parseReply(code, msg), nil
}

// cmd sends one command and reads its reply. Only I/O failures are
// errors; the caller judges the reply.
func (c *client) cmd(timeout time.Duration, format string, args ...any) (Reply, error) {
	_ = c.conn.SetDeadline(time.Now().Add(timeout))
	if err := c.text.PrintfLine(format, args...); err != nil {
		c.broken = true
		return Reply{}, err
	}
	return c.read(timeout)
}

// helloExtensions parses an EHLO reply's raw text (lines separated by
// "\n", the first being the greeting).
func helloExtensions(msg string) map[string]string {
	ext := map[string]string{}
	lines := strings.Split(msg, "\n")
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		ext[strings.ToUpper(k)] = v
	}
	return ext
}

// ehlo sends EHLO and records the extensions, or falls back to HELO
// when EHLO is not recognised (RFC 5321 §3.2).
func (c *client) ehlo(name string) error {
	_ = c.conn.SetDeadline(time.Now().Add(commandTimeout))
	if err := c.text.PrintfLine("EHLO %s", name); err != nil {
		c.broken = true
		return err
	}
	code, msg, err := c.text.ReadResponse(0)
	c.broken = c.broken || err != nil || code == codeClosing
	if err != nil {
		return err
	}
	if code == 250 {
		c.ext = helloExtensions(msg)
		return nil
	}
	if code != 500 && code != 502 {
		return parseReply(code, msg)
	}
	r, err := c.cmd(commandTimeout, "HELO %s", name)
	if err != nil {
		return err
	}
	c.ext = map[string]string{}
	if r.Code != 250 {
		return r
	}
	return nil
}

// has reports an EHLO extension.
func (c *client) has(ext string) bool {
	_, ok := c.ext[ext]
	return ok
}

// startTLS runs STARTTLS (RFC 3207) and the handshake, then EHLO again.
func (c *client) startTLS(ctx context.Context, cfg *tls.Config, name string) error {
	r, err := c.cmd(commandTimeout, "STARTTLS")
	if err != nil {
		return err
	}
	if r.Code != 220 {
		return r
	}
	tc := tls.Client(c.conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return &tlsError{err: err}
	}
	c.conn, c.text, c.tls = tc, textproto.NewConn(tc), true
	return c.ehlo(name)
}

// tlsError is a failed TLS handshake.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// auth authenticates with PLAIN when offered, else LOGIN (RFC 4954).
func (c *client) auth(user, pass string) error {
	mechs := strings.Fields(strings.ToUpper(c.ext["AUTH"]))
	var cl sasl.Client
	var mech string
	switch {
	case contains(mechs, sasl.Plain):
		cl, mech = sasl.NewPlainClient("", user, pass), sasl.Plain
	case contains(mechs, sasl.Login):
		cl, mech = sasl.NewLoginClient(user, pass), sasl.Login
	default:
		return fmt.Errorf("the server offers no AUTH mechanism this client knows (PLAIN, LOGIN): %q", c.ext["AUTH"])
	}
	_, ir, err := cl.Start()
	if err != nil {
		return err
	}
	line := "AUTH " + mech
	if ir != nil {
		enc := base64.StdEncoding.EncodeToString(ir)
		if enc == "" {
			enc = "="
		}
		line += " " + enc
	}
	r, err := c.cmd(commandTimeout, "%s", line)
	for err == nil && r.Code == 334 {
		challenge, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(r.Text))
		if derr != nil {
			_, _ = c.cmd(commandTimeout, "*")
			return fmt.Errorf("malformed AUTH challenge: %w", derr)
		}
		resp, nerr := cl.Next(challenge)
		if nerr != nil {
			_, _ = c.cmd(commandTimeout, "*")
			return nerr
		}
		r, err = c.cmd(commandTimeout, "%s", base64.StdEncoding.EncodeToString(resp))
	}
	if err != nil {
		return err
	}
	if r.Code != 235 {
		return r
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// data sends DATA, the dot-stuffed message and the final dot, and returns
// the reply to the message (RFC 5321 §4.1.1.4).
func (c *client) data(body []byte) (Reply, error) {
	r, err := c.cmd(commandTimeout, "DATA")
	if err != nil {
		return Reply{}, err
	}
	if r.Code != 354 {
		return r, nil
	}
	_ = c.conn.SetDeadline(time.Now().Add(dataTimeout))
	w := c.text.DotWriter()
	bw := bufio.NewWriter(w)
	_, err = bw.Write(body)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		c.broken = true
		return Reply{}, err
	}
	return c.read(dataTimeout)
}

// rset aborts any transaction in progress (RFC 5321 §4.1.1.5); on a
// session taken from the cache it is also the check that the server is
// still there.
func (c *client) rset() error {
	r, err := c.cmd(rsetTimeout, "RSET")
	if err != nil {
		return err
	}
	if r.Code != 250 {
		c.broken = true // a server that refuses RSET is in no known state
		return r
	}
	return nil
}

// quit ends the session politely, waiting at most timeout for the reply;
// errors do not matter any more.
func (c *client) quit(timeout time.Duration) {
	if !c.broken {
		_, _ = c.cmd(timeout, "QUIT")
	}
	_ = c.text.Close()
}

// close drops the connection.
func (c *client) close() { _ = c.text.Close() }
