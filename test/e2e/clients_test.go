package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// smtpClient speaks raw SMTP, so tests see the exact replies.
type smtpClient struct {
	conn net.Conn
	tp   *textproto.Conn
}

// dialSMTP connects and reads the greeting, which must be 220.
func dialSMTP(addr string) (*smtpClient, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return newSMTPClient(c)
}

// newSMTPClient reads the greeting on an open connection.
func newSMTPClient(c net.Conn) (*smtpClient, error) {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	s := &smtpClient{conn: c, tp: textproto.NewConn(c)}
	if code, msg, err := s.reply(); err != nil || code != 220 {
		_ = c.Close()
		return nil, fmt.Errorf("greeting %d %q: %w", code, msg, err)
	}
	return s, nil
}

// reply reads one (possibly multi-line) reply.
func (s *smtpClient) reply() (int, string, error) {
	code, msg, err := s.tp.ReadResponse(0)
	var perr *textproto.Error
	if errors.As(err, &perr) {
		err = nil // a 4xx/5xx reply is an answer, not a failure
	}
	return code, msg, err
}

// cmd sends one command line and returns the reply as "code text".
func (s *smtpClient) cmd(format string, args ...any) (string, error) {
	if err := s.tp.PrintfLine(format, args...); err != nil {
		return "", err
	}
	code, msg, err := s.reply()
	return fmt.Sprintf("%d %s", code, msg), err
}

// data sends DATA and the message (dot-stuffed by textproto) and returns
// the final reply.
func (s *smtpClient) data(msg []byte) (string, error) {
	r, err := s.cmd("DATA")
	if err != nil || !strings.HasPrefix(r, "354") {
		return r, err
	}
	w := s.tp.DotWriter()
	if _, err := w.Write(msg); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	code, text, err := s.reply()
	return fmt.Sprintf("%d %s", code, text), err
}

// startTLS upgrades the connection, verifying the server against caFile.
func (s *smtpClient) startTLS(t *testing.T, caFile string) {
	t.Helper()
	if r, err := s.cmd("STARTTLS"); err != nil || !strings.HasPrefix(r, "220") {
		t.Fatalf("STARTTLS: %q %v", r, err)
	}
	tc := tls.Client(s.conn, clientTLS(t, caFile))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	s.conn, s.tp = tc, textproto.NewConn(tc)
}

func (s *smtpClient) close() { _ = s.conn.Close() }

// send runs one MX transaction; it returns the DATA reply, or the first
// reply that was not a success.
func (s *smtpClient) send(from, to string, msg []byte) (string, error) {
	for _, c := range []string{"MAIL FROM:<" + from + ">", "RCPT TO:<" + to + ">"} {
		r, err := s.cmd("%s", c)
		if err != nil || !strings.HasPrefix(r, "250") {
			return r, err
		}
	}
	return s.data(msg)
}

// mustSMTP dials an SMTP listener and greets it with EHLO.
func mustSMTP(t *testing.T, addr string) *smtpClient {
	t.Helper()
	s, err := dialSMTP(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	if r, err := s.cmd("EHLO client.test"); err != nil || !strings.HasPrefix(r, "250") {
		t.Fatalf("EHLO: %q %v", r, err)
	}
	return s
}

func clientTLS(t *testing.T, caFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate in " + caFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// pop3Client is a minimal POP3 client over STLS.
type pop3Client struct {
	conn net.Conn
	r    *bufio.Reader
}

// pop3Login connects to a POP3 (STLS) listener and logs in; the error
// carries the server's -ERR line.
func pop3Login(t *testing.T, addr, caFile, user, password string) (*pop3Client, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	p := &pop3Client{conn: c, r: bufio.NewReader(c)}
	if _, err := p.status(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if _, err := p.cmd("STLS"); err != nil {
		_ = c.Close()
		return nil, err
	}
	tc := tls.Client(c, clientTLS(t, caFile))
	if err := tc.Handshake(); err != nil {
		_ = c.Close()
		return nil, err
	}
	p.conn, p.r = tc, bufio.NewReader(tc)
	for _, line := range []string{"USER " + user, "PASS " + password} {
		if _, err := p.cmd(line); err != nil {
			_ = tc.Close()
			return nil, err
		}
	}
	return p, nil
}

func (p *pop3Client) status() (string, error) {
	line, err := p.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "+OK") {
		return "", errors.New(line)
	}
	return line, nil
}

func (p *pop3Client) cmd(line string) (string, error) {
	if _, err := io.WriteString(p.conn, line+"\r\n"); err != nil {
		return "", err
	}
	return p.status()
}

// count returns the number of messages (STAT).
func (p *pop3Client) count(t *testing.T) int {
	t.Helper()
	line, err := p.cmd("STAT")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.Fields(line)[1])
	if err != nil {
		t.Fatalf("STAT: %q", line)
	}
	return n
}

// retr returns message n, dot-unstuffed, with CRLF line endings.
func (p *pop3Client) retr(t *testing.T, n int) []byte {
	t.Helper()
	if _, err := p.cmd(fmt.Sprintf("RETR %d", n)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == ".\r\n" {
			return []byte(b.String())
		}
		b.WriteString(strings.TrimPrefix(line, ".")) // RFC 1939 §3 byte-stuffing
	}
}

// uidl returns the unique ids of the messages, in order (UIDL).
func (p *pop3Client) uidl(t *testing.T) []string {
	t.Helper()
	if _, err := p.cmd("UIDL"); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == ".\r\n" {
			return ids
		}
		f := strings.Fields(line)
		if len(f) != 2 || f[0] != strconv.Itoa(len(ids)+1) {
			t.Fatalf("UIDL line %q", line)
		}
		ids = append(ids, f[1])
	}
}

func (p *pop3Client) quit() {
	_, _ = p.cmd("QUIT")
	_ = p.conn.Close()
}

// mustPOP3 logs into a POP3 listener or fails the test.
func mustPOP3(t *testing.T, e *env, user, password string) *pop3Client {
	t.Helper()
	p, err := pop3Login(t, e.addr("pop3"), e.caFile, user, password)
	if err != nil {
		t.Fatalf("POP3 login as %s: %v", user, err)
	}
	t.Cleanup(func() { _ = p.conn.Close() })
	return p
}

// b64 decodes a base64 string printed by a Python client.
func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
