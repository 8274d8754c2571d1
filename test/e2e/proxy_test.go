package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
)

// proxyHeader is what a load balancer in front of the MX listener sends.
const proxyHeader = "PROXY TCP4 203.0.113.7 127.0.0.1 40000 25\r\n"

// TestProxyProtocol: with the MX listener in PROXY mode and 127.0.0.1
// trusted, the client address of the header is the one in the Received
// header; a trusted peer must send a header; once 127.0.0.1 is no longer
// trusted (a reload), its header is refused and its socket address used.
func TestProxyProtocol(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Listeners.SMTP.ProxyProtocol = true
		c.ProxyProtocol.TrustedCIDRs = []string{"127.0.0.1/32"}
	})
	p := e.start()
	msg := []byte("Subject: through the balancer\r\n\r\nhello\r\n")

	conn := dialRaw(t, e.addr("smtp"))
	if _, err := io.WriteString(conn, proxyHeader); err != nil {
		t.Fatal(err)
	}
	s, err := newSMTPClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.cmd("EHLO balanced.test"); !strings.HasPrefix(r, "250") {
		t.Fatalf("EHLO: %q", r)
	}
	if r, _ := s.send("sender@remote.test", demoUser, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("delivery through the PROXY header: %q", r)
	}
	s.close()
	pop := mustPOP3(t, e, demoUser, demoPassword)
	got := pop.retr(t, 1)
	pop.quit()
	received := got[:len(got)-len(stripReceived(t, got))]
	if !bytes.Contains(received, []byte("[203.0.113.7]")) || bytes.Contains(received, []byte("127.0.0.1")) {
		t.Errorf("the Received header does not name the client of the PROXY header:\n%s", received)
	}

	// A trusted peer without a header is closed without a greeting.
	bare := dialRaw(t, e.addr("smtp"))
	_, _ = io.WriteString(bare, "EHLO direct.test\r\n")
	if line := readLine(bare); line != "" {
		t.Errorf("a trusted peer without a header read %q, want the connection closed", line)
	}

	// No longer trusted: the header is refused, the socket address used.
	c := e.cfg
	c.ProxyProtocol.TrustedCIDRs = []string{"10.0.0.0/8"}
	e.write(c)
	p.waitLog("Configuration reloaded")

	refused := dialRaw(t, e.addr("smtp"))
	_, _ = io.WriteString(refused, proxyHeader)
	r := bufio.NewReader(refused)
	lines := []string{readLineFrom(r), readLineFrom(r), readLineFrom(r)}
	if !strings.HasPrefix(lines[0], "220 ") || !strings.HasPrefix(lines[1], "421 4.7.0") ||
		!strings.Contains(lines[1], "PROXY protocol header not accepted") || lines[2] != "" {
		t.Errorf("an untrusted header got %q, want the greeting, a 421 4.7.0 refusal and the end", lines)
	}
	direct := mustSMTP(t, e.addr("smtp"))
	if r, _ := direct.send("sender@remote.test", demoUser, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("a direct delivery from an untrusted address: %q", r)
	}
	pop = mustPOP3(t, e, demoUser, demoPassword)
	got = pop.retr(t, 2)
	pop.quit()
	if received := got[:len(got)-len(stripReceived(t, got))]; !bytes.Contains(received, []byte("[127.0.0.1]")) {
		t.Errorf("a direct client is not named by its socket address:\n%s", received)
	}
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readLine reads one line without CRLF; "" when the connection ended.
func readLine(c net.Conn) string { return readLineFrom(bufio.NewReader(c)) }

func readLineFrom(r *bufio.Reader) string {
	line, err := r.ReadString('\n')
	if err != nil {
		return ""
	}
	return strings.TrimRight(line, "\r\n")
}
