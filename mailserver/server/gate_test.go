package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kubemail/kubemail/internal/netserve"
	"github.com/kubemail/kubemail/mailserver/config"
)

// gateFixture is a gate on 127.0.0.1 serving a toy server-speaks-first
// protocol: the greeting names the client address the gate resolved, then
// each line is echoed.
type gateFixture struct {
	g       *gate
	m       *metrics
	limiter *connLimiter
	addr    string
}

type gateSetup struct {
	proxy         bool
	trusted       []string
	maxPerIP      int
	style         style
	tlsConfig     *tls.Config
	headerTimeout time.Duration
}

func startGate(t *testing.T, s gateSetup) *gateFixture {
	t.Helper()
	c := baseConfig()
	c.ProxyProtocol.TrustedCIDRs = s.trusted
	c.Limits.MaxConnectionsPerIP = s.maxPerIP
	cfg := compile(t, c)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s.style == 0 {
		s.style = styleSMTP
	}
	f := &gateFixture{m: newMetrics(), addr: ln.Addr().String()}
	f.limiter = newConnLimiter(func() (int, int) { return 100, cfg.Limits.MaxConnectionsPerIP })
	f.g = newGate(context.Background(), gateOptions{
		name: "smtp", ln: ln, proxy: s.proxy, style: s.style, tlsConfig: s.tlsConfig,
		cfg: func() *config.Config { return cfg }, limiter: f.limiter, metrics: f.m,
		log: slog.New(slog.DiscardHandler), headerTimeout: s.headerTimeout,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := f.g.Accept()
			if err != nil {
				return
			}
			go echo(conn)
		}
	}()
	t.Cleanup(func() {
		_ = f.g.Close()
		<-done
		f.g.wait()
	})
	return f
}

func echo(c net.Conn) {
	defer c.Close()
	fmt.Fprintf(c, "220 %s\r\n", netserve.IPOf(c.RemoteAddr()))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		fmt.Fprintf(c, "ECHO %s", line)
	}
}

// client is one test connection with a line reader.
type client struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { _ = c.Close() })
	return &client{Conn: c, r: bufio.NewReader(c)}
}

func (c *client) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// line reads one line without its CRLF; "EOF" when the server closed.
func (c *client) line(t *testing.T) string {
	t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
			return "EOF"
		}
		t.Fatalf("reading a line: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

func v2Header(t *testing.T, src string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(mustAddrPort(src)),
		net.TCPAddrFromAddrPort(mustAddrPort("192.0.2.1:25")))
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGateProxyProtocol(t *testing.T) {
	localV2 := []byte(string(proxyproto.SIGV2) + "\x20\x00\x00\x00") // LOCAL, UNSPEC, no addresses
	tests := map[string]struct {
		trusted []string
		send    string   // sent right after connecting
		then    string   // sent after the greeting
		want    []string // lines read
	}{
		"a trusted peer's v1 header names the client": {
			trusted: []string{"127.0.0.1/32"},
			send:    "PROXY TCP4 203.0.113.7 192.0.2.1 40000 25\r\n", then: "HELLO\r\n",
			want: []string{"220 203.0.113.7", "ECHO HELLO"},
		},
		"a trusted peer's v2 header names the client": {
			trusted: []string{"127.0.0.0/8"},
			send:    string(v2Header(t, "[2001:db8::7]:40000")), then: "HELLO\r\n",
			want: []string{"220 2001:db8::7", "ECHO HELLO"},
		},
		"bytes pipelined after a trusted header reach the server": {
			trusted: []string{"127.0.0.1/32"},
			send:    "PROXY TCP4 203.0.113.7 192.0.2.1 40000 25\r\nEARLY\r\n",
			want:    []string{"220 203.0.113.7", "ECHO EARLY"},
		},
		"a trusted peer's LOCAL header keeps the socket address": {
			trusted: []string{"127.0.0.1/32"}, send: string(localV2), then: "HELLO\r\n",
			want: []string{"220 127.0.0.1", "ECHO HELLO"},
		},
		"a trusted peer without a header is closed unanswered": {
			trusted: []string{"127.0.0.1/32"}, send: "EHLO client.example\r\n",
			want: []string{"EOF"},
		},
		"a trusted peer with a malformed header is closed unanswered": {
			trusted: []string{"127.0.0.1/32"}, send: "PROXY TCP4 203.0.113.7\r\n",
			want: []string{"EOF"},
		},
		"an untrusted peer's v1 header is refused": {
			trusted: []string{"10.0.0.0/8"}, send: "PROXY TCP4 203.0.113.7 192.0.2.1 40000 25\r\n",
			want: []string{"220 127.0.0.1", "421 4.7.0 mx.example.test PROXY protocol header not accepted from your address", "EOF"},
		},
		"an untrusted peer's v2 header is refused": {
			trusted: []string{"10.0.0.0/8"}, send: string(v2Header(t, "203.0.113.7:40000")),
			want: []string{"220 127.0.0.1", "421 4.7.0 mx.example.test PROXY protocol header not accepted from your address", "EOF"},
		},
		"an untrusted peer without a header is served with its socket address": {
			trusted: []string{"10.0.0.0/8"}, then: "PROXIMA\r\n",
			want: []string{"220 127.0.0.1", "ECHO PROXIMA"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := startGate(t, gateSetup{proxy: true, trusted: tc.trusted})
			c := dial(t, f.addr)
			if tc.send != "" {
				c.send(t, tc.send)
			}
			var got []string
			for i, want := range tc.want {
				got = append(got, c.line(t))
				if i == 0 && tc.then != "" {
					c.send(t, tc.then)
				}
				if got[i] != want {
					t.Fatalf("lines %q, want %q", got, tc.want)
				}
			}
		})
	}
}

func TestGateClosesASilentTrustedPeerAfterTheHeaderTimeout(t *testing.T) {
	f := startGate(t, gateSetup{proxy: true, trusted: []string{"127.0.0.1/32"}, headerTimeout: 100 * time.Millisecond})
	c := dial(t, f.addr)
	if got := c.line(t); got != "EOF" {
		t.Fatalf("read %q, want the connection closed", got)
	}
	if n := testutil.ToFloat64(f.m.refused.WithLabelValues("smtp", refusedProxyHeader)); n != 1 {
		t.Errorf("refusals counted: %v, want 1", n)
	}
}

func TestGateConnectionLimits(t *testing.T) {
	selfSigned, err := selfSignedCertificate("localhost", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(selfSigned.Leaf)
	tests := map[string]struct {
		style     style
		tlsConfig *tls.Config
		want      string
	}{
		"SMTP clients over the limit read 421": {
			style: styleSMTP, want: "421 4.7.0 mx.example.test Too many connections, try again later"},
		"POP3 clients over the limit read -ERR [SYS/TEMP]": {
			style: stylePOP3, want: "-ERR [SYS/TEMP] Too many connections, try again later"},
		"implicit-TLS clients read the refusal inside TLS": {
			style: stylePOP3, tlsConfig: &tls.Config{Certificates: []tls.Certificate{*selfSigned}},
			want: "-ERR [SYS/TEMP] Too many connections, try again later"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := startGate(t, gateSetup{maxPerIP: 2, style: tc.style, tlsConfig: tc.tlsConfig})
			held := []*client{dial(t, f.addr), dial(t, f.addr)}
			for _, c := range held {
				if got := c.line(t); got != "220 127.0.0.1" {
					t.Fatalf("an admitted client read %q", got)
				}
			}
			if g := testutil.ToFloat64(f.m.connections.WithLabelValues("smtp")); g != 2 {
				t.Errorf("connections gauge %v, want 2", g)
			}
			var third *client
			if tc.tlsConfig != nil {
				tc, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = tc.Close() })
				third = &client{Conn: tc, r: bufio.NewReader(tc)}
			} else {
				third = dial(t, f.addr)
			}
			if got := third.line(t); got != tc.want {
				t.Fatalf("the third client read %q, want %q", got, tc.want)
			}
			if got := third.line(t); got != "EOF" {
				t.Fatalf("after the refusal the client read %q, want the connection closed", got)
			}

			// Closing an admitted connection frees its slot.
			_ = held[0].Close()
			waitFor(t, "the slot to be freed", func() bool { n, _ := f.limiter.open(netserve.IPOf(held[1].LocalAddr())); return n == 1 })
			if got := dial(t, f.addr).line(t); got != "220 127.0.0.1" {
				t.Fatalf("after a slot was freed the client read %q", got)
			}
			if n := testutil.ToFloat64(f.m.refused.WithLabelValues("smtp", refusedPerIP)); n != 1 {
				t.Errorf("refusals counted: %v, want 1", n)
			}
		})
	}
}

func TestGateCloseStopsAccepting(t *testing.T) {
	f := startGate(t, gateSetup{proxy: true, trusted: []string{"127.0.0.1/32"}})
	waiting := dial(t, f.addr) // held by the gate, waiting for its header
	waitFor(t, "the connection to be held", func() bool {
		f.g.mu.Lock()
		defer f.g.mu.Unlock()
		return len(f.g.held) == 1
	})
	if err := f.g.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if got := waiting.line(t); got != "EOF" {
		t.Fatalf("a connection held at Close read %q, want it closed", got)
	}
	if c, err := net.DialTimeout("tcp", f.addr, time.Second); err == nil {
		_ = c.Close()
		t.Fatal("the port still accepts connections after Close")
	}
}

func TestSignatureMatch(t *testing.T) {
	tests := map[string]struct {
		in   string
		want sigResult
	}{
		"nothing yet may still be a header":      {"", sigMaybe},
		"a v1 prefix may still be a header":      {"PRO", sigMaybe},
		"the v1 signature is a header":           {"PROXY TCP4", sigFound},
		"a v2 prefix may still be a header":      {"\r\n\r\n", sigMaybe},
		"the v2 signature is a header":           {string(proxyproto.SIGV2), sigFound},
		"a command is not a header":              {"EHLO x\r\n", sigNone},
		"a word sharing a prefix is not":         {"PROXIMA", sigNone},
		"an empty line diverging from v2 is not": {"\r\nQUIT", sigNone},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := signatureMatch([]byte(tc.in)); got != tc.want {
				t.Errorf("signatureMatch(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
