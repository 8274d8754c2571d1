package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubemail/kubemail/internal/testpki"
	"github.com/kubemail/kubemail/mailserver/auth"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
	"github.com/kubemail/kubemail/mailserver/store/sqlite"
)

// fakeAuth knows a few users; "throttled" is always throttled and "broken"
// always fails with an internal error.
type fakeAuth struct {
	mu        sync.Mutex
	passwords map[string]string
	attempts  int
}

func newFakeAuth() *fakeAuth {
	return &fakeAuth{passwords: map[string]string{
		"alice@example.com": "secret",
		"bob@example.com":   "hunter2",
	}}
}

func (a *fakeAuth) Authenticate(_ context.Context, _ netip.Addr, username, password string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.attempts++
	switch username {
	case "throttled":
		return "", &auth.ThrottledError{Delay: time.Minute}
	case "broken":
		return "", fmt.Errorf("reading the password database: %w", io.ErrUnexpectedEOF)
	}
	if pw, ok := a.passwords[strings.ToLower(username)]; ok && pw == password {
		return strings.ToLower(username), nil
	}
	return "", mail.ErrInvalidCredentials
}

func (a *fakeAuth) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.attempts
}

// faultStore wraps a real store; hooks make chosen calls fail or panic.
type faultStore struct {
	Store
	mu          sync.Mutex
	listFolders func() error
	headers     func() error
}

func (f *faultStore) ListFolders(ctx context.Context, account string) ([]store.Folder, error) {
	f.mu.Lock()
	hook := f.listFolders
	f.mu.Unlock()
	if hook != nil {
		if err := hook(); err != nil {
			return nil, err
		}
	}
	return f.Store.ListFolders(ctx, account)
}

// Headers passes the store's store.HeaderReader through, so the server
// finds it as it does on a real store, after its hook.
func (f *faultStore) Headers(ctx context.Context, ref store.FolderRef, uids store.UIDSet, fn func(store.UID, []byte) error) error {
	f.mu.Lock()
	hook := f.headers
	f.mu.Unlock()
	if hook != nil {
		if err := hook(); err != nil {
			return err
		}
	}
	return f.Store.(store.HeaderReader).Headers(ctx, ref, uids, fn)
}

// FolderIndex passes the store's store.FolderIndexer through, as Headers
// does.
func (f *faultStore) FolderIndex(ctx context.Context, ref store.FolderRef) (store.FolderIndex, error) {
	return f.Store.(store.FolderIndexer).FolderIndex(ctx, ref)
}

func (f *faultStore) setHeaders(hook func() error) {
	f.mu.Lock()
	f.headers = hook
	f.mu.Unlock()
}

func (f *faultStore) setListFolders(hook func() error) {
	f.mu.Lock()
	f.listFolders = hook
	f.mu.Unlock()
}

// countingObserver counts what the server reports.
type countingObserver struct {
	NopObserver
	mu       sync.Mutex
	panics   int
	failures map[string]int // "COMMAND CODE"
	auth     map[AuthFailure]int
	refused  map[string]int
}

func newCountingObserver() *countingObserver {
	return &countingObserver{failures: map[string]int{}, auth: map[AuthFailure]int{}, refused: map[string]int{}}
}

func (o *countingObserver) Panicked(ConnInfo, any) {
	o.mu.Lock()
	o.panics++
	o.mu.Unlock()
}

func (o *countingObserver) CommandFailed(_ ConnInfo, command, code string) {
	o.mu.Lock()
	o.failures[command+" "+code]++
	o.mu.Unlock()
}

func (o *countingObserver) AuthFailed(_ ConnInfo, r AuthFailure) {
	o.mu.Lock()
	o.auth[r]++
	o.mu.Unlock()
}

func (o *countingObserver) SessionRefused(_ ConnInfo, reason string) {
	o.mu.Lock()
	o.refused[reason]++
	o.mu.Unlock()
}

func (o *countingObserver) count(f func(o *countingObserver) int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return f(o)
}

// testServer is a server on a fresh SQLite store with a STARTTLS listener
// (plain) and an implicit-TLS listener (tls), both on 127.0.0.1.
type testServer struct {
	srv   *Server
	store *sqlite.Store
	fault *faultStore
	auth  *fakeAuth
	obs   *countingObserver
	pki   *testpki.PKI
	plain string
	tls   string
	logs  *strings.Builder

	mu    sync.Mutex
	quota map[string]int64
	logMu sync.Mutex
}

func newTestServer(t testing.TB, tweak ...func(*Options)) *testServer {
	t.Helper()
	st, err := sqlite.Open(t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{store: st, auth: newFakeAuth(), obs: newCountingObserver(), pki: testpki.New(t),
		quota: map[string]int64{}, logs: &strings.Builder{}}
	ts.fault = &faultStore{Store: st}
	opts := Options{
		Store:         ts.fault,
		Authenticator: ts.auth,
		Quota: QuotaFunc(func(account string) int64 {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			return ts.quota[account]
		}),
		TLSConfig: ts.pki.ServerConfig,
		Logger:    slog.New(slog.NewTextHandler(lockedWriter{mu: &ts.logMu, w: ts.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Hostname:  "imap.example.com",
		Observer:  ts.obs,
	}
	for _, f := range tweak {
		f(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = srv
	for _, l := range []struct {
		addr *string
		tls  bool
	}{{&ts.plain, false}, {&ts.tls, true}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		*l.addr = ln.Addr().String()
		go func() {
			if l.tls {
				_ = srv.ServeTLS(ln)
			} else {
				_ = srv.Serve(ln)
			}
		}()
	}
	t.Cleanup(func() {
		_ = srv.Close()
		_ = st.Close()
	})
	return ts
}

func (ts *testServer) setQuota(account string, bytes int64) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.quota[account] = bytes
}

// deliver puts a message into an account's folder as SMTP would.
func (ts *testServer) deliver(t testing.TB, account, folder, body string) store.UID {
	t.Helper()
	if _, err := ts.store.EnsureAccount(context.Background(), account); err != nil {
		t.Fatal(err)
	}
	res, err := ts.store.Submit(context.Background(), store.Submission{
		Body:  []byte(body),
		Local: []store.DeliveryTarget{{Account: account, Folder: folder}},
	})
	if err != nil || res[0].Err != nil {
		t.Fatalf("delivering: %v %v", err, res)
	}
	return res[0].UID
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (ts *testServer) logText() string {
	ts.logMu.Lock()
	defer ts.logMu.Unlock()
	return ts.logs.String()
}

// wire is a raw IMAP client that asserts reply lines.
type wire struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	n    int
}

// dialPlain connects to the STARTTLS listener and reads the greeting.
func (ts *testServer) dialPlain(t testing.TB) *wire {
	t.Helper()
	c, err := net.Dial("tcp", ts.plain)
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { _ = c.Close() })
	w.expectPrefix("* OK")
	return w
}

// dialTLS connects to the implicit-TLS listener.
func (ts *testServer) dialTLS(t testing.TB) *wire {
	t.Helper()
	c, err := tls.Dial("tcp", ts.tls, ts.pki.ClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { _ = c.Close() })
	w.expectPrefix("* OK")
	return w
}

// login opens an implicit-TLS connection and logs in.
func (ts *testServer) login(t testing.TB, user, pass string) *wire {
	t.Helper()
	w := ts.dialTLS(t)
	w.ok("LOGIN " + quote(user) + " " + quote(pass))
	return w
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// startTLS upgrades a plain connection.
func (w *wire) startTLS(cfg *tls.Config) {
	w.t.Helper()
	w.ok("STARTTLS")
	tc := tls.Client(w.conn, cfg)
	if err := tc.Handshake(); err != nil {
		w.t.Fatalf("TLS handshake after STARTTLS: %v", err)
	}
	w.conn, w.r = tc, bufio.NewReader(tc)
}

func (w *wire) send(s string) {
	w.t.Helper()
	_ = w.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(w.conn, s); err != nil {
		w.t.Fatalf("writing %q: %v", s, err)
	}
}

// line reads one line (without CRLF), literals included inline.
func (w *wire) line() string {
	w.t.Helper()
	return w.lineWithin(10 * time.Second)
}

func (w *wire) lineWithin(d time.Duration) string {
	w.t.Helper()
	_ = w.conn.SetReadDeadline(time.Now().Add(d))
	l, err := w.r.ReadString('\n')
	if err != nil {
		w.t.Fatalf("reading a line: %v (got %q)", err, l)
	}
	l = strings.TrimRight(l, "\r\n")
	// Inline a literal that ends the line: "{n}" then n bytes.
	if i := strings.LastIndexByte(l, '{'); i >= 0 && strings.HasSuffix(l, "}") {
		var n int
		if _, err := fmt.Sscanf(l[i:], "{%d}", &n); err == nil {
			buf := make([]byte, n)
			if _, err := io.ReadFull(w.r, buf); err != nil {
				w.t.Fatalf("reading a literal: %v", err)
			}
			return l + string(buf) + w.lineWithin(d)
		}
	}
	return l
}

// cmd sends a command with a fresh tag and returns the untagged lines and
// the tagged completion line (without the tag).
func (w *wire) cmd(command string) (untagged []string, done string) {
	w.t.Helper()
	w.n++
	tag := fmt.Sprintf("t%d", w.n)
	w.send(tag + " " + command + "\r\n")
	for {
		l := w.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
}

// ok runs a command that must succeed and returns its untagged lines.
func (w *wire) ok(command string) []string {
	w.t.Helper()
	untagged, done := w.cmd(command)
	if !strings.HasPrefix(done, "OK") {
		w.t.Fatalf("%s: got %q, want OK (untagged %q)", command, done, untagged)
	}
	return untagged
}

// expect runs a command and checks that its completion starts with want.
func (w *wire) expect(command, want string) []string {
	w.t.Helper()
	untagged, done := w.cmd(command)
	if !strings.HasPrefix(done, want) {
		w.t.Fatalf("%s: got %q, want prefix %q (untagged %q)", command, done, want, untagged)
	}
	return untagged
}

func (w *wire) expectPrefix(prefix string) string {
	w.t.Helper()
	l := w.line()
	if !strings.HasPrefix(l, prefix) {
		w.t.Fatalf("got %q, want prefix %q", l, prefix)
	}
	return l
}

// has reports whether some line contains s.
func has(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}
