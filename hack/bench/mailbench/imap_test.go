package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// startMemIMAP serves an in-memory IMAP server on loopback with one user whose INBOX holds n
// benchmark messages of size bytes; with tlsConf it offers STARTTLS and refuses LOGIN without it.
func startMemIMAP(t *testing.T, user, pass string, n, size int, tlsConf *tls.Config) string {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, pass)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		InsecureAuth: tlsConf == nil,
		TLSConfig:    tlsConf,
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	c, _, err := dialIMAP(context.Background(), ln.Addr().String(), user, pass, 5*time.Second, tlsConf != nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range n {
		msg := buildMessage(messageSpec{seq: i, from: "a@x.test", to: user, size: size, run: "t"})
		cmd := c.Append("INBOX", int64(len(msg)), nil)
		if _, err := cmd.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	return ln.Addr().String()
}

func TestIMAPPass(t *testing.T) {
	const n, size = 250, 2048
	plain := startMemIMAP(t, "read@bench.test", "pw", n, size, nil)
	withTLS := startMemIMAP(t, "read@bench.test", "pw", n, size, testServerTLS(t))
	tests := map[string]struct {
		addr       string
		user, pass string
		want       int
		startTLS   bool
		wantTLS    bool
		wantErr    string
	}{
		"a mailbox of the expected size is read whole":      {addr: plain, user: "read@bench.test", pass: "pw", want: n, startTLS: true},
		"a server offering STARTTLS is read over TLS":       {addr: withTLS, user: "read@bench.test", pass: "pw", want: n, startTLS: true, wantTLS: true},
		"without -starttls a TLS-only server refuses LOGIN": {addr: withTLS, user: "read@bench.test", pass: "pw", want: n, wantErr: "LOGIN"},
		"a mailbox of another size is reported":             {addr: plain, user: "read@bench.test", pass: "pw", want: n + 1, wantErr: "messages, want"},
		"a wrong password is reported":                      {addr: plain, user: "read@bench.test", pass: "nope", want: n, wantErr: "LOGIN"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := imapPass(context.Background(), tc.addr, tc.user, tc.pass, tc.want, connOptions{timeout: 5 * time.Second, startTLS: tc.startTLS})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("imapPass = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.tls != tc.wantTLS {
				t.Errorf("TLS used = %v, want %v", p.tls, tc.wantTLS)
			}
			if p.searchHits != needlesBelow(n) {
				t.Errorf("search hits = %d, want %d", p.searchHits, needlesBelow(n))
			}
			if p.bodyBytes != n*size {
				t.Errorf("body bytes = %d, want %d", p.bodyBytes, n*size)
			}
			if p.selectTime <= 0 || p.envelopeTime <= 0 || p.searchTime <= 0 || p.bodyTime <= 0 {
				t.Errorf("a timing is missing: %+v", p)
			}
		})
	}
}

func TestIdleSessions(t *testing.T) {
	tests := map[string]*tls.Config{
		"plain sessions idle and close": nil,
		"TLS sessions idle and close":   testServerTLS(t),
	}
	for name, tlsConf := range tests {
		t.Run(name, func(t *testing.T) {
			addr := startMemIMAP(t, "read@bench.test", "pw", 3, 1024, tlsConf)
			var sessions []*idleSession
			for range 5 {
				s, err := openIdle(context.Background(), addr, "read@bench.test", "pw", 5*time.Second, tlsConf != nil)
				if err != nil {
					t.Fatal(err)
				}
				sessions = append(sessions, s)
			}
			for i, s := range sessions {
				if err := s.close(); err != nil {
					t.Errorf("closing idle session %d: %v", i, err)
				}
			}
		})
	}
}

// testServerTLS is a server TLS configuration with a fresh self-signed certificate for 127.0.0.1.
func testServerTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}
