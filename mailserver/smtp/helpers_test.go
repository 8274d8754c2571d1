package smtp

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubemail/kubemail/internal/testlog"
	"github.com/kubemail/kubemail/mailserver/mail"
)

// fixedNow is the clock of test servers.
var fixedNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Test fixture: the local domain, its users and credentials.
const (
	alice         = "alice@example.com"
	bob           = "bob@example.com"
	alicePassword = "correct horse battery staple"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost.
type testCert struct {
	cert    tls.Certificate
	pool    *x509.CertPool
	pemFile string
}

func newTestCert(t *testing.T) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	pemFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testCert{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool: pool, pemFile: pemFile}
}

// testServer is a running Server with its fakes.
type testServer struct {
	srv    *Server
	addr   string
	dir    *fakeDirectory
	auth   *fakeAuth
	dlv    *fakeDeliverer
	obs    *countingObserver
	logs   *testlog.Buffer
	cert   testCert
	client *tls.Config
}

// startServer runs a server for mode on 127.0.0.1 until the test ends.
func startServer(t *testing.T, mode Mode, tweaks ...func(*Options)) *testServer {
	t.Helper()
	return startServerWith(t, mode, nil, tweaks...)
}

// startServerWith is startServer with another Deliverer than ts.dlv (nil
// means ts.dlv).
func startServerWith(t *testing.T, mode Mode, dlv mail.Deliverer, tweaks ...func(*Options)) *testServer {
	t.Helper()
	ts := &testServer{
		dir: newFakeDirectory(), auth: &fakeAuth{}, dlv: &fakeDeliverer{},
		obs: &countingObserver{}, logs: &testlog.Buffer{}, cert: newTestCert(t),
	}
	ts.client = &tls.Config{RootCAs: ts.cert.pool, ServerName: "127.0.0.1"}
	opts := Options{
		Hostname:        "mx.test",
		Mode:            mode,
		TLSConfig:       &tls.Config{Certificates: []tls.Certificate{ts.cert.cert}},
		MaxMessageBytes: 64 << 10,
		MaxRecipients:   5,
		MaxLineLength:   1000,
		Logger:          slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observer:        ts.obs,
		Now:             func() time.Time { return fixedNow },
	}
	for _, tweak := range tweaks {
		tweak(&opts)
	}
	if dlv == nil {
		dlv = ts.dlv
	}
	srv, err := NewServer(opts, ts.dir, ts.auth, dlv)
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = srv
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		if t.Failed() {
			t.Logf("server logs:\n%s", ts.logs.String())
		}
	})
	return ts
}

// wire is a raw SMTP client that checks exact reply lines.
type wire struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

// hangGuard bounds every raw conversation so a broken server fails the test
// instead of hanging it; it is not a performance assertion.
const hangGuard = 20 * time.Second

func dialWire(t *testing.T, addr string) *wire {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newWire(t, c)
}

func dialWireTLS(t *testing.T, addr string, cfg *tls.Config) *wire {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return newWire(t, c)
}

func newWire(t *testing.T, c net.Conn) *wire {
	_ = c.SetDeadline(time.Now().Add(hangGuard))
	t.Cleanup(func() { _ = c.Close() })
	return &wire{t: t, c: c, r: bufio.NewReader(c)}
}

// write sends raw bytes.
func (w *wire) write(s string) {
	w.t.Helper()
	if _, err := io.WriteString(w.c, s); err != nil {
		w.t.Fatalf("write %q: %v", s, err)
	}
}

// line reads one reply line without its CRLF.
func (w *wire) line() string {
	w.t.Helper()
	l, err := w.r.ReadString('\n')
	if err != nil {
		w.t.Fatalf("reading reply line (got %q): %v", l, err)
	}
	if !strings.HasSuffix(l, "\r\n") {
		w.t.Fatalf("reply line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// expect reads one line per want and compares them exactly.
func (w *wire) expect(want ...string) {
	w.t.Helper()
	for _, wl := range want {
		if got := w.line(); got != wl {
			w.t.Fatalf("reply line:\n got %q\nwant %q", got, wl)
		}
	}
}

// cmd sends a command line and checks the reply lines.
func (w *wire) cmd(line string, want ...string) {
	w.t.Helper()
	w.write(line + "\r\n")
	w.expect(want...)
}

// reply reads one complete (possibly multi-line) reply.
func (w *wire) reply() []string {
	w.t.Helper()
	var lines []string
	for {
		l := w.line()
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return lines
		}
	}
}

// expectClosed checks that the server closed the connection.
func (w *wire) expectClosed() {
	w.t.Helper()
	if l, err := w.r.ReadString('\n'); err == nil {
		w.t.Fatalf("connection still open, got %q", l)
	}
}

// startTLS upgrades the connection after "STARTTLS".
func (w *wire) startTLS(cfg *tls.Config) *tls.Conn {
	w.t.Helper()
	w.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	return w.startTLSHandshake(cfg)
}

// startTLSHandshake runs the client handshake after the 220 reply.
func (w *wire) startTLSHandshake(cfg *tls.Config) *tls.Conn {
	w.t.Helper()
	if n := w.r.Buffered(); n > 0 {
		w.t.Fatalf("%d plaintext bytes after the 220 reply to STARTTLS", n)
	}
	tc := tls.Client(w.c, cfg)
	if err := tc.Handshake(); err != nil {
		w.t.Fatalf("TLS handshake: %v", err)
	}
	w.c, w.r = tc, bufio.NewReader(tc)
	return tc
}

// Replies go-smtp sends itself, with its exact texts.
const (
	greeting   = "220 mx.test ESMTP Service Ready"
	mailOK     = "250 2.0.0 Roger, accepting mail from <%s>"
	rcptOK     = "250 2.0.0 I'll make sure <%s> gets this"
	dataGo     = "354 Go ahead. End your data with <CR><LF>.<CR><LF>"
	noopOK     = "250 2.0.0 I have successfully done nothing"
	rsetOK     = "250 2.0.0 Session reset"
	authOK     = "235 2.0.0 Authentication succeeded"
	bdatGoOn   = "250 2.0.0 Continue"
	acceptedRe = `^250 2\.0\.0 Message accepted, id [A-Z2-7]{16}$`
)

// hello connects, reads the greeting and sends EHLO, discarding the
// capabilities.
func hello(t *testing.T, addr string) *wire {
	t.Helper()
	w := dialWire(t, addr)
	w.expect(greeting)
	w.write("EHLO client.test\r\n")
	w.reply()
	return w
}

// plainIR is an AUTH PLAIN initial response.
func plainIR(authzid, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authzid + "\x00" + user + "\x00" + pass))
}

// submissionLogin connects to a ModeSubmission server, upgrades with
// STARTTLS and logs in as alice.
func submissionLogin(t *testing.T, ts *testServer) *wire {
	t.Helper()
	w := hello(t, ts.addr)
	w.startTLS(ts.client)
	w.write("EHLO client.test\r\n")
	w.reply()
	w.cmd("AUTH PLAIN "+plainIR("", alice, alicePassword), authOK)
	return w
}
