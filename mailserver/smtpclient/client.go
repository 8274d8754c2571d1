// Package smtpclient is the outbound SMTP client of the queue: a minimal
// client that exposes every reply (Client, Reply) and a cache of open
// sessions for reuse per destination (Cache), bounded per destination and
// in total and ended with QUIT when idle.
package smtpclient

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
	GreetingTimeout = 5 * time.Minute  // §4.5.3.2.1
	CommandTimeout  = 5 * time.Minute  // §4.5.3.2.2–4 (MAIL, RCPT)
	DataTimeout     = 10 * time.Minute // §4.5.3.2.6 (reply to the final dot)
	// ResetTimeout bounds the RSET that checks a cached session (Postfix's
	// smtp_rset_timeout): a server that does not answer it soon is
	// abandoned for a new connection.
	ResetTimeout = 20 * time.Second
	// QuitTimeout bounds the wait for the reply to QUIT.
	QuitTimeout = 5 * time.Second
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

// ParseReply splits "250-…\n…" as returned by textproto into a Reply.
func ParseReply(code int, msg string) Reply {
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

// Client is a minimal SMTP client for delivery: it exposes each reply, so
// the caller can classify every recipient, and it controls STARTTLS and
// the EHLO name, which go-smtp's client does not. It is not safe for
// concurrent use.
type Client struct {
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

// NewClient reads the greeting on conn; host is the server's name, for
// logs and reports.
func NewClient(conn net.Conn, host string) (*Client, error) {
	c := &Client{conn: conn, text: textproto.NewConn(conn), host: host}
	_, isTLS := conn.(*tls.Conn)
	c.tls = isTLS
	r, err := c.Read(GreetingTimeout)
	if err != nil {
		return nil, err
	}
	if r.Code != 220 {
		return nil, r
	}
	return c, nil
}

// Read reads one reply within timeout.
func (c *Client) Read(timeout time.Duration) (Reply, error) {
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
	return ParseReply(code, msg), nil
}

// Cmd sends one command and reads its reply. Only I/O failures are
// errors; the caller judges the reply.
func (c *Client) Cmd(timeout time.Duration, format string, args ...any) (Reply, error) {
	_ = c.conn.SetDeadline(time.Now().Add(timeout))
	if err := c.text.PrintfLine(format, args...); err != nil {
		c.broken = true
		return Reply{}, err
	}
	return c.Read(timeout)
}

// HelloExtensions parses an EHLO reply's raw text (lines separated by
// "\n", the first being the greeting).
func HelloExtensions(msg string) map[string]string {
	ext := map[string]string{}
	lines := strings.Split(msg, "\n")
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		ext[strings.ToUpper(k)] = v
	}
	return ext
}

// Hello sends EHLO and records the extensions, or falls back to HELO
// when EHLO is not recognised (RFC 5321 §3.2).
func (c *Client) Hello(name string) error {
	_ = c.conn.SetDeadline(time.Now().Add(CommandTimeout))
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
		c.ext = HelloExtensions(msg)
		return nil
	}
	if code != 500 && code != 502 {
		return ParseReply(code, msg)
	}
	r, err := c.Cmd(CommandTimeout, "HELO %s", name)
	if err != nil {
		return err
	}
	c.ext = map[string]string{}
	if r.Code != 250 {
		return r
	}
	return nil
}

// Extension returns the parameters of an EHLO extension ("" when it has
// none or was not offered).
func (c *Client) Extension(name string) string { return c.ext[name] }

// Has reports an EHLO extension.
func (c *Client) Has(ext string) bool {
	_, ok := c.ext[ext]
	return ok
}

// StartTLS runs STARTTLS (RFC 3207) and the handshake, then EHLO again.
func (c *Client) StartTLS(ctx context.Context, cfg *tls.Config, name string) error {
	r, err := c.Cmd(CommandTimeout, "STARTTLS")
	if err != nil {
		return err
	}
	if r.Code != 220 {
		return r
	}
	tc := tls.Client(c.conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return &TLSError{Err: err}
	}
	c.conn, c.text, c.tls = tc, textproto.NewConn(tc), true
	return c.Hello(name)
}

// TLSError is a failed TLS handshake (as opposed to a refused STARTTLS).
type TLSError struct{ Err error }

// Error implements error.
func (e *TLSError) Error() string { return "TLS handshake: " + e.Err.Error() }

// Unwrap returns the handshake's error.
func (e *TLSError) Unwrap() error { return e.Err }

// Auth authenticates with PLAIN when offered, else LOGIN (RFC 4954).
func (c *Client) Auth(user, pass string) error {
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
	r, err := c.Cmd(CommandTimeout, "%s", line)
	for err == nil && r.Code == 334 {
		challenge, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(r.Text))
		if derr != nil {
			_, _ = c.Cmd(CommandTimeout, "*")
			return fmt.Errorf("malformed AUTH challenge: %w", derr)
		}
		resp, nerr := cl.Next(challenge)
		if nerr != nil {
			_, _ = c.Cmd(CommandTimeout, "*")
			return nerr
		}
		r, err = c.Cmd(CommandTimeout, "%s", base64.StdEncoding.EncodeToString(resp))
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

// Data sends DATA, the dot-stuffed message and the final dot, and returns
// the reply to the message (RFC 5321 §4.1.1.4).
func (c *Client) Data(body []byte) (Reply, error) {
	r, err := c.Cmd(CommandTimeout, "DATA")
	if err != nil {
		return Reply{}, err
	}
	if r.Code != 354 {
		return r, nil
	}
	_ = c.conn.SetDeadline(time.Now().Add(DataTimeout))
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
	return c.Read(DataTimeout)
}

// Reset aborts any transaction in progress (RFC 5321 §4.1.1.5); on a
// session taken from the cache it is also the check that the server is
// still there.
func (c *Client) Reset() error {
	r, err := c.Cmd(ResetTimeout, "RSET")
	if err != nil {
		return err
	}
	if r.Code != 250 {
		c.broken = true // a server that refuses RSET is in no known state
		return r
	}
	return nil
}

// Quit ends the session politely, waiting at most timeout for the reply;
// errors do not matter any more.
func (c *Client) Quit(timeout time.Duration) {
	if !c.broken {
		_, _ = c.Cmd(timeout, "QUIT")
	}
	_ = c.text.Close()
}

// Close drops the connection.
func (c *Client) Close() { _ = c.text.Close() }

// TLS reports whether the session runs over TLS (implicit or STARTTLS).
func (c *Client) TLS() bool { return c.tls }

// Broken reports whether the session is out of step with the server (an
// I/O error, a malformed reply, or 421): it must not be reused.
func (c *Client) Broken() bool { return c.broken }

// Host is the server's name given to NewClient.
func (c *Client) Host() string { return c.host }
