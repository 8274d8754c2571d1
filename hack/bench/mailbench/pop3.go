package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// pop3Client is the small part of a POP3 client (RFC 1939) the benchmark needs: CAPA and STLS, USER/PASS,
// STAT, LIST, RETR and QUIT.
type pop3Client struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
	tls     bool        // the session runs over TLS (STLS)
	stop    func() bool // unregisters closing the connection with the context
}

// dialPOP3 connects, reads the greeting, upgrades to TLS when asked and offered (RFC 2595 §4) and logs
// in with USER/PASS (RFC 1939 §7).
func dialPOP3(ctx context.Context, addr, user, pass string, o connOptions) (*pop3Client, error) {
	timeout := o.timeout
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dialing POP3 %s: %w", addr, err)
	}
	c := &pop3Client{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), timeout: timeout}
	c.stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
	fail := func(err error) (*pop3Client, error) {
		c.stop()
		_ = conn.Close()
		return nil, err
	}
	if _, err := c.status(); err != nil {
		return fail(fmt.Errorf("reading POP3 greeting from %s: %w", addr, err))
	}
	if o.startTLS {
		if err := c.startTLS(ctx, addr); err != nil {
			return fail(err)
		}
	}
	if _, err := c.cmd("USER " + user); err != nil {
		return fail(fmt.Errorf("POP3 USER %s: %w", user, err))
	}
	if _, err := c.cmd("PASS " + pass); err != nil {
		return fail(fmt.Errorf("POP3 PASS for %s: %w", user, err))
	}
	return c, nil
}

// startTLS asks for the capabilities (RFC 2449 §5) and, when STLS is among them, upgrades the session.
func (c *pop3Client) startTLS(ctx context.Context, addr string) error {
	if _, err := c.cmd("CAPA"); err != nil {
		var refused *pop3Error
		if errors.As(err, &refused) {
			return nil // a server without CAPA offers no STLS either
		}
		return fmt.Errorf("POP3 CAPA: %w", err)
	}
	var caps strings.Builder
	if _, err := c.multiline(&caps); err != nil {
		return fmt.Errorf("POP3 CAPA: %w", err)
	}
	offered := false
	for _, line := range strings.Split(caps.String(), "\n") {
		if strings.EqualFold(strings.TrimSpace(line), "STLS") {
			offered = true
		}
	}
	if !offered {
		return nil
	}
	if _, err := c.cmd("STLS"); err != nil {
		return fmt.Errorf("POP3 STLS: %w", err)
	}
	tc, err := upgradeTLS(ctx, c.conn, addr, c.timeout)
	if err != nil {
		return err
	}
	c.conn, c.r, c.tls = tc, bufio.NewReaderSize(tc, 64<<10), true
	return nil
}

// status reads one status line and returns its text after "+OK", or an error for "-ERR".
func (c *pop3Client) status() (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if rest, ok := strings.CutPrefix(line, "+OK"); ok {
		return strings.TrimSpace(rest), nil
	}
	return "", &pop3Error{reply: line}
}

// pop3Error is a negative (-ERR) or unexpected status line from the server.
type pop3Error struct{ reply string }

func (e *pop3Error) Error() string { return fmt.Sprintf("server replied %q", e.reply) }

func (c *pop3Client) cmd(line string) (string, error) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		return "", err
	}
	return c.status()
}

// multiline copies a multi-line response body (RFC 1939 §3) to w, undoing dot-stuffing, and returns
// the number of lines.
func (c *pop3Client) multiline(w io.Writer) (int, error) {
	lines := 0
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(c.timeout))
		line, err := c.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: keep reading it.
			if _, err := w.Write(line); err != nil {
				return lines, err
			}
			continue
		}
		if err != nil {
			return lines, err
		}
		if bytes.Equal(line, []byte(".\r\n")) || bytes.Equal(line, []byte(".\n")) {
			return lines, nil
		}
		if len(line) > 1 && line[0] == '.' {
			line = line[1:]
		}
		if _, err := w.Write(line); err != nil {
			return lines, err
		}
		lines++
	}
}

// stat returns the number of messages in the maildrop.
func (c *pop3Client) stat() (int, error) {
	text, err := c.cmd("STAT")
	if err != nil {
		return 0, fmt.Errorf("POP3 STAT: %w", err)
	}
	f := strings.Fields(text)
	if len(f) < 1 {
		return 0, fmt.Errorf("POP3 STAT: malformed reply %q", text)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, fmt.Errorf("POP3 STAT: malformed reply %q", text)
	}
	return n, nil
}

// list returns the number of scan listings LIST returned.
func (c *pop3Client) list() (int, error) {
	if _, err := c.cmd("LIST"); err != nil {
		return 0, fmt.Errorf("POP3 LIST: %w", err)
	}
	n, err := c.multiline(io.Discard)
	if err != nil {
		return n, fmt.Errorf("POP3 LIST: reading listing: %w", err)
	}
	return n, nil
}

// retr fetches message n and returns its size as received (dot-stuffing undone).
func (c *pop3Client) retr(n int) (int64, error) {
	if _, err := c.cmd("RETR " + strconv.Itoa(n)); err != nil {
		return 0, fmt.Errorf("POP3 RETR %d: %w", n, err)
	}
	cw := &countWriter{}
	if _, err := c.multiline(cw); err != nil {
		return cw.n, fmt.Errorf("POP3 RETR %d: reading message: %w", n, err)
	}
	return cw.n, nil
}

// quit ends the session without deleting anything and closes the connection.
func (c *pop3Client) quit() error {
	_, err := c.cmd("QUIT")
	c.stop()
	cerr := c.conn.Close()
	if err != nil {
		return fmt.Errorf("POP3 QUIT: %w", err)
	}
	return cerr
}

// countWriter counts and discards what is written to it.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
