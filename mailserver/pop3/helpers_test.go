package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubemail/kubemail/internal/testpki"
)

// fakeMessage is a message in the fake store.
type fakeMessage struct {
	uid  string
	body string
}

// fakeBackend is an in-memory Backend: users with passwords and maildrops,
// recording logins and commits.
type fakeBackend struct {
	mu        sync.Mutex
	passwords map[string]string
	mail      map[string][]fakeMessage
	loginErr  error // returned by every Login when set
	logins    []string
	commits   map[string][][]string // user → every Commit's UIDs
	open      int                   // maildrops not yet closed
	panicUser string                // Login panics for this user
	lastConn  ConnInfo              // of the last Login
	slowUser  string                // Login blocks until ctx ends for this user
	slowLogin chan struct{}         // receives when a slow Login starts
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{
		passwords: map[string]string{"alice": "secret", "bob": "hunter2"},
		mail: map[string][]fakeMessage{
			"alice": {
				{uid: "uid-1", body: "From: a@example.com\r\nSubject: one\r\n\r\nHello\r\n.dot line\r\n..two dots\r\n.\r\nend\r\n"},
				{uid: "uid-2", body: "Subject: two\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"},
				{uid: "uid-3", body: "Subject: three\r\n\r\nbye\r\n"},
			},
		},
		commits:   map[string][][]string{},
		slowLogin: make(chan struct{}, 1),
	}
}

func (b *fakeBackend) Login(ctx context.Context, c ConnInfo, username, password string) (Maildrop, error) {
	b.mu.Lock()
	slow := b.slowUser != "" && username == b.slowUser
	b.mu.Unlock()
	if slow {
		b.slowLogin <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.logins = append(b.logins, username)
	b.lastConn = c
	if b.panicUser != "" && username == b.panicUser {
		panic("fake backend panic")
	}
	if b.loginErr != nil {
		return nil, b.loginErr
	}
	if pw, ok := b.passwords[username]; !ok || pw != password {
		return nil, ErrInvalidCredentials
	}
	b.open++
	return &fakeDrop{b: b, user: username, msgs: slices.Clone(b.mail[username])}, nil
}

// setMail replaces a user's messages and password.
func (b *fakeBackend) setMail(user, password string, msgs ...fakeMessage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.passwords[user] = password
	b.mail[user] = msgs
}

// failLogins makes every Login return err.
func (b *fakeBackend) failLogins(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.loginErr = err
}

// slowOn makes Login block until its context ends for user.
func (b *fakeBackend) slowOn(user string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.slowUser = user
}

func (b *fakeBackend) lastConnInfo() ConnInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastConn
}

// panicOn makes Login panic for user.
func (b *fakeBackend) panicOn(user string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.panicUser = user
}

// messages returns a user's current messages.
func (b *fakeBackend) messages(user string) []fakeMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.mail[user])
}

func (b *fakeBackend) loginNames() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.logins)
}

func (b *fakeBackend) committed(user string) [][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.commits[user])
}

func (b *fakeBackend) openDrops() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}

type fakeDrop struct {
	b    *fakeBackend
	user string
	msgs []fakeMessage
}

func (d *fakeDrop) Name() string { return d.user }

func (d *fakeDrop) List(context.Context) ([]MessageInfo, error) {
	infos := make([]MessageInfo, len(d.msgs))
	for i, m := range d.msgs {
		infos[i] = MessageInfo{UID: m.uid, Size: int64(len(m.body))}
	}
	return infos, nil
}

func (d *fakeDrop) Open(_ context.Context, index int) (io.ReadCloser, error) {
	if index < 0 || index >= len(d.msgs) {
		return nil, errors.New("fake: no such index")
	}
	return io.NopCloser(strings.NewReader(d.msgs[index].body)), nil
}

func (d *fakeDrop) Commit(_ context.Context, uids []string) error {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	d.b.commits[d.user] = append(d.b.commits[d.user], slices.Clone(uids))
	d.b.mail[d.user] = slices.DeleteFunc(slices.Clone(d.b.mail[d.user]), func(m fakeMessage) bool {
		return slices.Contains(uids, m.uid)
	})
	return nil
}

func (d *fakeDrop) Close() error {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	d.b.open--
	return nil
}

// recordingObserver counts Observer events.
type recordingObserver struct {
	mu          sync.Mutex
	authFailed  []ResponseCode
	failed      []string
	panics      int
	ended       []EndReason
	endedSignal chan EndReason
}

func newRecordingObserver() *recordingObserver {
	return &recordingObserver{endedSignal: make(chan EndReason, 100)}
}

func (o *recordingObserver) SessionStarted(ConnInfo) {}

func (o *recordingObserver) authFailures() []ResponseCode {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.authFailed)
}

func (o *recordingObserver) failures() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.failed)
}

func (o *recordingObserver) panicCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.panics
}

func (o *recordingObserver) SessionEnded(_ ConnInfo, r EndReason) {
	o.mu.Lock()
	o.ended = append(o.ended, r)
	o.mu.Unlock()
	o.endedSignal <- r
}

func (o *recordingObserver) AuthFailed(_ ConnInfo, code ResponseCode) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.authFailed = append(o.authFailed, code)
}

func (o *recordingObserver) CommandFailed(_ ConnInfo, cmd string, code ResponseCode) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed = append(o.failed, cmd+" "+string(code))
}

func (o *recordingObserver) Panicked(ConnInfo, any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.panics++
}

// testServer is a Server on 127.0.0.1 with a plain (STLS) and an
// implicit-TLS listener.
type testServer struct {
	srv      *Server
	backend  *fakeBackend
	pki      *testpki.PKI
	obs      *recordingObserver
	plain    string // address of the STLS listener
	implicit string // address of the implicit-TLS listener
	logs     *bytes.Buffer
	logsMu   *sync.Mutex
}

func startServer(t *testing.T, opts ...func(*Options)) *testServer {
	t.Helper()
	ts := &testServer{backend: newFakeBackend(), pki: testpki.New(t), obs: newRecordingObserver(),
		logs: &bytes.Buffer{}, logsMu: &sync.Mutex{}}
	o := Options{
		Backend:   ts.backend,
		TLSConfig: ts.pki.ServerConfig,
		Logger:    slog.New(slog.NewTextHandler(lockedWriter{ts.logs, ts.logsMu}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Hostname:  "pop.example.test",
		Observer:  ts.obs,
	}
	for _, f := range opts {
		f(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = srv
	var wg sync.WaitGroup
	for _, implicit := range []bool{false, true} {
		if implicit && o.TLSConfig == nil {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		serve := srv.Serve
		if implicit {
			serve, ts.implicit = srv.ServeTLS, l.Addr().String()
		} else {
			ts.plain = l.Addr().String()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serve(l); !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		}()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		wg.Wait()
		if n := ts.backend.openDrops(); n != 0 {
			t.Errorf("%d maildrops left open after shutdown", n)
		}
	})
	return ts
}

func (ts *testServer) logText() string {
	ts.logsMu.Lock()
	defer ts.logsMu.Unlock()
	return ts.logs.String()
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// wireClient speaks raw POP3 lines to the server.
type wireClient struct {
	t    *testing.T
	ts   *testServer
	conn net.Conn
	r    *bufio.Reader
}

// dial connects to the plain listener and checks the greeting.
func (ts *testServer) dial(t *testing.T) *wireClient {
	t.Helper()
	conn, err := net.Dial("tcp", ts.plain)
	if err != nil {
		t.Fatal(err)
	}
	return ts.wrap(t, conn)
}

// dialTLS connects to the implicit-TLS listener and checks the greeting.
func (ts *testServer) dialTLS(t *testing.T) *wireClient {
	t.Helper()
	conn, err := tls.Dial("tcp", ts.implicit, ts.pki.ClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	return ts.wrap(t, conn)
}

func (ts *testServer) wrap(t *testing.T, conn net.Conn) *wireClient {
	t.Helper()
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := &wireClient{t: t, ts: ts, conn: conn, r: bufio.NewReader(conn)}
	c.expect("+OK pop.example.test POP3 server ready")
	return c
}

func (c *wireClient) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatalf("sending %q: %v", line, err)
	}
}

func (c *wireClient) readLine() string {
	c.t.Helper()
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading response (got %q so far): %v", line, err)
	}
	if !strings.HasSuffix(line, "\r\n") {
		c.t.Fatalf("response line %q does not end with CRLF", line)
	}
	return strings.TrimSuffix(line, "\r\n")
}

// expect reads the next lines and compares them with want.
func (c *wireClient) expect(want ...string) {
	c.t.Helper()
	for _, w := range want {
		if got := c.readLine(); got != w {
			c.t.Fatalf("got response %q, want %q", got, w)
		}
	}
}

// cmd sends line and expects the response lines want.
func (c *wireClient) cmd(line string, want ...string) {
	c.t.Helper()
	c.send(line)
	c.expect(want...)
}

// expectClosed checks the server closed the connection.
func (c *wireClient) expectClosed() {
	c.t.Helper()
	if line, err := c.r.ReadString('\n'); err == nil {
		c.t.Fatalf("got %q, want the connection closed", line)
	}
}

// startTLS upgrades the connection with STLS.
func (c *wireClient) startTLS() {
	c.t.Helper()
	c.cmd("STLS", "+OK Begin TLS negotiation")
	c.handshake()
}

func (c *wireClient) handshake() {
	c.t.Helper()
	tc := tls.Client(c.conn, c.ts.pki.ClientConfig)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

// login authenticates as alice with USER/PASS.
func (c *wireClient) login() {
	c.t.Helper()
	c.cmd("USER alice", "+OK send PASS")
	c.cmd("PASS secret", "+OK maildrop has 3 messages (138 octets)")
}
