package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// rawIMAP sends IMAP commands and reads their responses without decoding them, so the timed commands
// measure the server and the wire, not a client library's parser (imapclient decodes every ENVELOPE
// into structures, which would add the same client cost to both servers and flatten their ratio).
type rawIMAP struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
	tag     int
	tls     bool // the session runs over TLS (STARTTLS)
	stop    func() bool
}

// response is one untagged response line, literals replaced by "{}", and the literal bytes it carried.
type response struct {
	line         string
	literalBytes int64
}

// dialRawIMAP connects, reads the greeting, upgrades with STARTTLS when asked and offered
// (RFC 9051 §6.2.1) and logs in with LOGIN (RFC 9051 §6.2.3).
func dialRawIMAP(ctx context.Context, addr, user, pass string, o connOptions) (*rawIMAP, error) {
	timeout := o.timeout
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dialing IMAP %s: %w", addr, err)
	}
	c := &rawIMAP{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), timeout: timeout}
	c.stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
	greeting, err := c.read()
	if err != nil || !strings.HasPrefix(greeting.line, "* OK") {
		c.close()
		return nil, fmt.Errorf("reading IMAP greeting from %s: %q, %v", addr, greeting.line, err)
	}
	if o.startTLS {
		if err := c.startTLS(ctx, addr, greeting.line); err != nil {
			c.close()
			return nil, err
		}
	}
	if err := c.command("LOGIN "+quote(user)+" "+quote(pass), nil); err != nil {
		c.close()
		return nil, fmt.Errorf("IMAP LOGIN %s: %w", user, err)
	}
	return c, nil
}

// startTLS upgrades the session when the server's capabilities (from the greeting, else from
// CAPABILITY) include STARTTLS.
func (c *rawIMAP) startTLS(ctx context.Context, addr, greeting string) error {
	caps := greeting
	if !strings.Contains(strings.ToUpper(caps), "[CAPABILITY ") {
		if err := c.command("CAPABILITY", func(r response) { caps += " " + r.line }); err != nil {
			return fmt.Errorf("IMAP CAPABILITY: %w", err)
		}
	}
	offered := false
	for _, f := range strings.Fields(strings.ToUpper(strings.NewReplacer("[", " ", "]", " ").Replace(caps))) {
		offered = offered || f == "STARTTLS"
	}
	if !offered {
		return nil
	}
	if err := c.command("STARTTLS", nil); err != nil {
		return fmt.Errorf("IMAP STARTTLS: %w", err)
	}
	tc, err := upgradeTLS(ctx, c.conn, addr, c.timeout)
	if err != nil {
		return err
	}
	c.conn, c.r, c.tls = tc, bufio.NewReaderSize(tc, 64<<10), true
	return nil
}

// quote renders s as an IMAP quoted string (RFC 9051 §4.3).
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// read returns the next response line, discarding (and counting) the literals inside it (RFC 9051 §4.3).
func (c *rawIMAP) read() (response, error) {
	var b strings.Builder
	var lit int64
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(c.timeout))
		s, err := c.r.ReadString('\n')
		if err != nil {
			return response{b.String(), lit}, err
		}
		s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
		n, prefix, ok := trailingLiteral(s)
		if !ok {
			b.WriteString(s)
			return response{b.String(), lit}, nil
		}
		b.WriteString(prefix)
		b.WriteString("{}")
		copied, err := io.CopyN(io.Discard, c.r, n)
		lit += copied
		if err != nil {
			return response{b.String(), lit}, err
		}
	}
}

// trailingLiteral recognises a line ending in "{N}" and returns N and the text before it.
func trailingLiteral(s string) (int64, string, bool) {
	if !strings.HasSuffix(s, "}") {
		return 0, "", false
	}
	open := strings.LastIndexByte(s, '{')
	if open < 0 {
		return 0, "", false
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(s[open+1:len(s)-1], "+"), 10, 64)
	if err != nil || n < 0 {
		return 0, "", false
	}
	return n, s[:open], true
}

// command sends one command, hands every untagged response to each (when not nil) and returns nil on
// the tagged OK, or an error carrying the server's NO or BAD.
func (c *rawIMAP) command(cmd string, each func(response)) error {
	c.tag++
	tag := "b" + strconv.Itoa(c.tag)
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, err := io.WriteString(c.conn, tag+" "+cmd+"\r\n"); err != nil {
		return err
	}
	for {
		resp, err := c.read()
		if err != nil {
			return err
		}
		if rest, ok := strings.CutPrefix(resp.line, tag+" "); ok {
			if strings.HasPrefix(rest, "OK") {
				return nil
			}
			return fmt.Errorf("server replied %q", rest)
		}
		if each != nil {
			each(resp)
		}
	}
}

// untaggedNumber returns N of a "* N KEYWORD" response, when the keyword matches.
func untaggedNumber(line, keyword string) (int, bool) {
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "*" || !strings.EqualFold(f[2], keyword) {
		return 0, false
	}
	n, err := strconv.Atoi(f[1])
	return n, err == nil
}

// searchHits counts the results in a SEARCH response (RFC 3501 §7.2.5) or in the ALL of an ESEARCH
// response (RFC 9051 §7.3.4), which an IMAP4rev2 session receives instead; other lines count 0.
func searchHits(line string) int {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "*" {
		return 0
	}
	switch strings.ToUpper(f[1]) {
	case "SEARCH":
		return len(f) - 2
	case "ESEARCH":
		for i := 2; i+1 < len(f); i++ {
			if strings.EqualFold(f[i], "ALL") {
				return setSize(f[i+1])
			}
		}
	}
	return 0
}

// setSize counts the numbers in a sequence set such as "1,101:105,201" (no "*" in search results).
func setSize(set string) int {
	n := 0
	for _, part := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err1 := strconv.Atoi(lo)
		if !isRange {
			if err1 == nil {
				n++
			}
			continue
		}
		b, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil {
			n += max(a, b) - min(a, b) + 1
		}
	}
	return n
}

// close logs out (best effort) and closes the connection.
func (c *rawIMAP) close() {
	c.stop()
	_ = c.conn.SetDeadline(time.Now().Add(time.Second))
	_, _ = io.WriteString(c.conn, "z LOGOUT\r\n")
	_ = c.conn.Close()
}

// imapPass logs in on a fresh connection (not timed) and times SELECT, the envelope FETCH, the header
// SEARCH and the full-body FETCH, checking that each returns what the mailbox holds.
func imapPass(ctx context.Context, addr, user, pass string, want int, o connOptions) (imapTimings, error) {
	var t imapTimings
	c, err := dialRawIMAP(ctx, addr, user, pass, o)
	if err != nil {
		return t, err
	}
	defer c.close()
	t.tls = c.tls

	exists := -1
	start := time.Now()
	err = c.command("SELECT INBOX", func(r response) {
		if n, ok := untaggedNumber(r.line, "EXISTS"); ok {
			exists = n
		}
	})
	t.selectTime = time.Since(start)
	if err != nil {
		return t, fmt.Errorf("IMAP SELECT INBOX: %w", err)
	}
	if exists != want {
		return t, fmt.Errorf("IMAP SELECT INBOX: %d messages, want %d", exists, want)
	}

	const envelope = "FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)"
	n := 0
	start = time.Now()
	err = c.command(envelope, func(r response) {
		if _, ok := untaggedNumber(r.line, "FETCH"); ok && strings.Contains(r.line, "ENVELOPE") {
			n++
		}
	})
	t.envelopeTime = time.Since(start)
	if err != nil {
		return t, fmt.Errorf("IMAP %s: %w", envelope, err)
	}
	if n != want {
		return t, fmt.Errorf("IMAP %s: %d messages, want %d", envelope, n, want)
	}

	search := "UID SEARCH HEADER Subject " + needleWord
	start = time.Now()
	err = c.command(search, func(r response) { t.searchHits += searchHits(r.line) })
	t.searchTime = time.Since(start)
	if err != nil {
		return t, fmt.Errorf("IMAP %s: %w", search, err)
	}
	if t.searchHits != needlesBelow(want) {
		return t, fmt.Errorf("IMAP %s: %d hits, want %d", search, t.searchHits, needlesBelow(want))
	}

	const body = "FETCH 1:* BODY.PEEK[]"
	n = 0
	start = time.Now()
	err = c.command(body, func(r response) {
		if _, ok := untaggedNumber(r.line, "FETCH"); ok && r.literalBytes > 0 {
			n++
			t.bodyBytes += r.literalBytes
		}
	})
	t.bodyTime = time.Since(start)
	if err != nil {
		return t, fmt.Errorf("IMAP %s: %w", body, err)
	}
	if n != want {
		return t, fmt.Errorf("IMAP %s: %d messages, want %d", body, n, want)
	}
	return t, nil
}
