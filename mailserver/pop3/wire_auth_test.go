package pop3

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

var (
	capaBeforeTLS = []string{"+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE",
		"PIPELINING", "EXPIRE NEVER", "STLS", "IMPLEMENTATION kubemail", "."}
	capaAfterTLS = []string{"+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE",
		"PIPELINING", "EXPIRE NEVER", "USER", "SASL PLAIN", "IMPLEMENTATION kubemail", "."}
)

const tlsRequired = "-ERR [AUTH] TLS required before authentication, use STLS"

// waitEnded waits for the next session to end and returns its reason.
func (ts *testServer) waitEnded(t *testing.T) EndReason {
	t.Helper()
	select {
	case r := <-ts.obs.endedSignal:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no session ended")
		return ""
	}
}

func TestCapaDependsOnTLS(t *testing.T) {
	ts := startServer(t)

	c := ts.dial(t)
	c.cmd("CAPA", capaBeforeTLS...)
	c.startTLS()
	c.cmd("CAPA", capaAfterTLS...)
	c.login()
	c.cmd("CAPA", capaAfterTLS...)

	ts.dialTLS(t).cmd("CAPA", capaAfterTLS...)
}

func TestCredentialsRefusedBeforeTLS(t *testing.T) {
	ts := startServer(t)
	c := ts.dial(t)
	c.cmd("USER alice", tlsRequired)
	c.cmd("PASS secret", tlsRequired)
	c.cmd("AUTH", tlsRequired)
	c.cmd("AUTH PLAIN "+plain("", "alice", "secret"), tlsRequired)
	c.cmd("QUIT", "+OK pop.example.test POP3 server signing off")
	c.expectClosed()
	ts.waitEnded(t)

	if logins := ts.backend.loginNames(); len(logins) != 0 {
		t.Errorf("backend saw logins %q before TLS", logins)
	}
	if logs := ts.logText(); strings.Contains(logs, "secret") {
		t.Errorf("password in logs:\n%s", logs)
	}
}

func TestInsecureAuthWhenAllowed(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.TLSConfig, o.AllowInsecureAuth = nil, true })
	c := ts.dial(t)
	c.cmd("CAPA", "+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE",
		"PIPELINING", "EXPIRE NEVER", "USER", "SASL PLAIN", "IMPLEMENTATION kubemail", ".")
	c.cmd("STLS", "-ERR TLS not available")
	c.login()
}

// TestSTLSPipelinedCommandsDiscarded guards against STARTTLS command
// injection (CVE-2011-0411): commands sent in clear text after STLS, in the
// same packet, must not run inside the TLS session.
func TestSTLSPipelinedCommandsDiscarded(t *testing.T) {
	ts := startServer(t)
	c := ts.dial(t)
	if _, err := io.WriteString(c.conn, "STLS\r\nUSER alice\r\n"); err != nil {
		t.Fatal(err)
	}
	c.expect("+OK Begin TLS negotiation")
	c.handshake()
	// Had "USER alice" run after the handshake, PASS would log in.
	c.cmd("PASS secret", "-ERR PASS must follow USER")
	c.cmd("CAPA", capaAfterTLS...)
	if logins := ts.backend.loginNames(); len(logins) != 0 {
		t.Errorf("backend saw logins %q", logins)
	}
	if !strings.Contains(ts.logText(), "Discarded data pipelined after STLS") {
		t.Error("the discarded bytes were not logged")
	}
}

func TestSTLSOnlyOnceAndOnlyInAuthorization(t *testing.T) {
	ts := startServer(t)
	c := ts.dial(t)
	c.cmd("STLS extra", "-ERR syntax error")
	c.startTLS()
	c.cmd("STLS", "-ERR command not permitted when TLS active")
	c.login()
	c.cmd("STLS", "-ERR command not valid in this state")

	ts.dialTLS(t).cmd("STLS", "-ERR command not permitted when TLS active")
}

func TestUserPass(t *testing.T) {
	ts := startServer(t)
	c := ts.dial(t)
	c.startTLS()
	c.cmd("PASS secret", "-ERR PASS must follow USER")
	c.cmd("USER alice", "+OK send PASS")
	c.cmd("CAPA", capaAfterTLS...)
	c.cmd("PASS secret", "-ERR PASS must follow USER")
	c.cmd("USER", "-ERR syntax error")
	c.cmd("USER alice", "+OK send PASS")
	c.cmd("PASS wrong", "-ERR [AUTH] authentication failed")
	c.cmd("USER nobody", "+OK send PASS")
	c.cmd("PASS secret", "-ERR [AUTH] authentication failed")
	c.login()
	c.cmd("USER alice", "-ERR command not valid in this state")

	info := ts.backend.lastConnInfo()
	if info.TLS == nil || info.RemoteAddr.String() != c.conn.LocalAddr().String() || info.ID == "" {
		t.Errorf("Backend.Login got ConnInfo %+v, want the TLS state and the client's address %s", info, c.conn.LocalAddr())
	}
	if got := ts.obs.authFailures(); len(got) != 2 || got[0] != CodeAuth || got[1] != CodeAuth {
		t.Errorf("Observer.AuthFailed codes = %q, want two AUTH", got)
	}
	if logs := ts.logText(); strings.Contains(logs, "secret") || strings.Contains(logs, "wrong") {
		t.Errorf("password in logs:\n%s", logs)
	}
}

func plain(authzid, authcid, passwd string) string {
	return base64.StdEncoding.EncodeToString([]byte(authzid + "\x00" + authcid + "\x00" + passwd))
}

func TestAuthPlain(t *testing.T) {
	huge := strings.Repeat("A", 100_000)
	loggedIn := "+OK maildrop has 3 messages (138 octets)"
	tests := map[string]struct {
		lines []string // sent in turn; each but the last answered by "+ "
		want  string
	}{
		"AUTH without a mechanism lists PLAIN": {lines: []string{"AUTH"}, want: "+OK"},
		"initial response logs in":             {lines: []string{"AUTH PLAIN " + plain("", "alice", "secret")}, want: loggedIn},
		"an authzid equal to the authcid is accepted": {
			lines: []string{"AUTH plain " + plain("alice", "alice", "secret")}, want: loggedIn},
		"continuation logs in":         {lines: []string{"AUTH PLAIN", plain("", "alice", "secret")}, want: loggedIn},
		"wrong password":               {lines: []string{"AUTH PLAIN " + plain("", "alice", "nope")}, want: "-ERR [AUTH] authentication failed"},
		"another authzid is refused":   {lines: []string{"AUTH PLAIN " + plain("bob", "alice", "secret")}, want: "-ERR [AUTH] authorization identity not permitted"},
		"garbage initial response":     {lines: []string{"AUTH PLAIN !!!not-base64"}, want: "-ERR invalid base64 encoding"},
		"garbage continuation":         {lines: []string{"AUTH PLAIN", "%%%"}, want: "-ERR invalid base64 encoding"},
		"missing password":             {lines: []string{"AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice"))}, want: "-ERR malformed PLAIN response"},
		"zero-length initial response": {lines: []string{"AUTH PLAIN ="}, want: "-ERR malformed PLAIN response"},
		"unsupported mechanism":        {lines: []string{"AUTH CRAM-MD5"}, want: "-ERR unsupported authentication mechanism"},
		"too many arguments":           {lines: []string{"AUTH PLAIN a b"}, want: "-ERR syntax error"},
		"cancelled with a star":        {lines: []string{"AUTH PLAIN", "*"}, want: "-ERR authentication cancelled"},
		"huge initial response":        {lines: []string{"AUTH PLAIN " + huge}, want: "-ERR line too long"},
		"huge continuation":            {lines: []string{"AUTH PLAIN", huge}, want: "-ERR line too long"},
	}
	ts := startServer(t)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := ts.dialTLS(t)
			for _, l := range tc.lines[:len(tc.lines)-1] {
				c.cmd(l, "+ ")
			}
			c.cmd(tc.lines[len(tc.lines)-1], tc.want)
			if name == "AUTH without a mechanism lists PLAIN" {
				c.expect("PLAIN", ".")
			}
			// The session is still usable: in AUTHORIZATION or TRANSACTION.
			c.cmd("CAPA", capaAfterTLS...)
			c.cmd("QUIT", "+OK pop.example.test POP3 server signing off")
		})
	}
	if logs := ts.logText(); strings.Contains(logs, "secret") || strings.Contains(logs, plain("", "alice", "secret")) {
		t.Errorf("credentials in logs:\n%s", logs)
	}
}

func TestBackendErrorsMappedToResponseCodes(t *testing.T) {
	tests := map[string]struct {
		err  error
		want string
	}{
		"invalid credentials, wrapped": {fmt.Errorf("checking hash: %w", ErrInvalidCredentials), "-ERR [AUTH] authentication failed"},
		"in use":                       {ErrInUse, "-ERR [IN-USE] maildrop already locked by another session"},
		"permanent":                    {PermanentError(errors.New("db: account row 17 suspended")), "-ERR [SYS/PERM] account unavailable"},
		"temporary":                    {TemporaryError(errors.New("db: pool exhausted")), "-ERR [SYS/TEMP] temporary failure, try again later"},
		"unknown errors are temporary": {errors.New("dial 10.1.2.3:5432: connection refused"), "-ERR [SYS/TEMP] temporary failure, try again later"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t)
			ts.backend.failLogins(tc.err)
			c := ts.dialTLS(t)
			c.cmd("USER alice", "+OK send PASS")
			c.cmd("PASS secret", tc.want)
			if err := errors.Unwrap(tc.err); err != nil && !strings.Contains(ts.logText(), err.Error()) {
				t.Errorf("the cause %q was not logged", err)
			}
		})
	}
}

func TestSecondSessionGetsInUse(t *testing.T) {
	ts := startServer(t)
	first := ts.dialTLS(t)
	first.login()

	second := ts.dialTLS(t)
	second.cmd("USER alice", "+OK send PASS")
	second.cmd("PASS secret", "-ERR [IN-USE] maildrop already locked by another session")
	// Another maildrop is not affected.
	other := ts.dialTLS(t)
	other.cmd("USER bob", "+OK send PASS")
	other.cmd("PASS hunter2", "+OK maildrop has 0 messages (0 octets)")

	first.cmd("QUIT", "+OK pop.example.test POP3 server signing off")
	ts.waitEnded(t)
	second.login()

	// The lock is released however the session ends: here the client
	// vanishes without QUIT.
	_ = second.conn.Close()
	ts.waitEnded(t)
	third := ts.dialTLS(t)
	third.login()
	if got := ts.obs.authFailures(); len(got) != 1 || got[0] != CodeInUse {
		t.Errorf("Observer.AuthFailed codes = %q, want one IN-USE", got)
	}
}

func TestPanicInSessionIsRecovered(t *testing.T) {
	ts := startServer(t)
	ts.backend.panicOn("boom")
	c := ts.dialTLS(t)
	c.cmd("USER boom", "+OK send PASS")
	c.send("PASS x")
	c.expectClosed()
	if r := ts.waitEnded(t); r != EndPanic {
		t.Errorf("session ended with %q, want %q", r, EndPanic)
	}
	if panics := ts.obs.panicCount(); panics != 1 {
		t.Errorf("Observer.Panicked called %d times, want 1", panics)
	}
	if !strings.Contains(ts.logText(), "POP3 session panicked") {
		t.Error("the panic was not logged")
	}
	ts.dialTLS(t).login()
}

// panicOnClose wraps a Backend whose maildrops panic after closing.
type panicOnClose struct{ Backend }

func (b panicOnClose) Login(ctx context.Context, c ConnInfo, user, pass string) (Maildrop, error) {
	d, err := b.Backend.Login(ctx, c, user, pass)
	if err != nil {
		return nil, err
	}
	return panicCloseDrop{d}, nil
}

type panicCloseDrop struct{ Maildrop }

func (d panicCloseDrop) Close() error {
	_ = d.Maildrop.Close()
	panic("fake Close panic")
}

func TestPanicInMaildropCloseReleasesLock(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Backend = panicOnClose{o.Backend} })
	c := ts.dialTLS(t)
	c.login()
	c.cmd("QUIT", signOff)
	c.expectClosed()
	if r := ts.waitEnded(t); r != EndPanic {
		t.Errorf("session ended with %q, want %q", r, EndPanic)
	}
	if n := ts.obs.panicCount(); n != 1 {
		t.Errorf("Observer.Panicked called %d times, want 1", n)
	}
	ts.dialTLS(t).login()
}
