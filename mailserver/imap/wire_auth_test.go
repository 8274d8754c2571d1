package imap

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestCapabilitiesFollowTLSAndLogin(t *testing.T) {
	ts := newTestServer(t)
	w := ts.dialPlain(t)
	caps := strings.Join(w.ok("CAPABILITY"), " ")
	for _, want := range []string{"IMAP4rev2", "IMAP4rev1", "STARTTLS", "LOGINDISABLED"} {
		if !strings.Contains(caps, want) {
			t.Errorf("before TLS: %q lacks %s", caps, want)
		}
	}
	if strings.Contains(caps, "AUTH=PLAIN") {
		t.Errorf("before TLS: %q offers AUTH=PLAIN", caps)
	}
	w.startTLS(ts.pki.ClientConfig)
	caps = strings.Join(w.ok("CAPABILITY"), " ")
	if !strings.Contains(caps, "AUTH=PLAIN") || strings.Contains(caps, "LOGINDISABLED") || strings.Contains(caps, "STARTTLS") {
		t.Errorf("after STARTTLS: %q", caps)
	}
	w.ok(`LOGIN alice@example.com secret`)
	caps = strings.Join(w.ok("CAPABILITY"), " ")
	for _, want := range []string{"IDLE", "NAMESPACE", "MOVE", "UIDPLUS", "SPECIAL-USE", "LIST-STATUS",
		"LITERAL+", "ESEARCH", "SEARCHRES", "ENABLE", "UNSELECT", "UTF8=ACCEPT", "APPENDLIMIT=52428800"} {
		if !strings.Contains(caps, want) {
			t.Errorf("after login: %q lacks %s", caps, want)
		}
	}
}

func TestLoginBeforeTLSIsRefused(t *testing.T) {
	ts := newTestServer(t)
	w := ts.dialPlain(t)
	w.expect(`LOGIN alice@example.com secret`, "NO [PRIVACYREQUIRED]")
	w.expect(`AUTHENTICATE PLAIN `+base64.StdEncoding.EncodeToString([]byte("\x00alice@example.com\x00secret")),
		"NO [PRIVACYREQUIRED]")
	if n := ts.auth.count(); n != 0 {
		t.Errorf("the authenticator saw %d attempts before TLS", n)
	}
}

// TestSTARTTLSInjectionIsDiscarded guards against CVE-2011-0411-style
// command injection: bytes pipelined after STARTTLS must never be read as
// commands, neither in clear text nor inside the TLS session.
func TestSTARTTLSInjectionIsDiscarded(t *testing.T) {
	ts := newTestServer(t)
	w := ts.dialPlain(t)
	w.send("a STARTTLS\r\nb LOGIN alice@example.com secret\r\n")
	w.expectPrefix("a OK")
	tc := tls.Client(w.conn, ts.pki.ClientConfig)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err == nil {
		// If the handshake survived, the injected command must not have run.
		r := bufio.NewReader(tc)
		_, _ = io.WriteString(tc, "c CAPABILITY\r\n")
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				break
			}
			if strings.HasPrefix(l, "b ") {
				t.Fatalf("the injected command was answered: %q", l)
			}
			if strings.HasPrefix(l, "c ") {
				break
			}
		}
	}
	if n := ts.auth.count(); n != 0 {
		t.Errorf("the injected LOGIN reached the authenticator (%d attempts)", n)
	}
}

func TestLoginFailures(t *testing.T) {
	tests := map[string]struct {
		user, pass string
		want       string
		reason     AuthFailure
	}{
		"a wrong password is AUTHENTICATIONFAILED": {"alice@example.com", "wrong", "NO [AUTHENTICATIONFAILED]", AuthInvalid},
		"an unknown user looks the same":           {"nobody@example.com", "secret", "NO [AUTHENTICATIONFAILED]", AuthInvalid},
		"a throttled client is told to come back":  {"throttled", "x", "NO [UNAVAILABLE]", AuthThrottled},
		"an authenticator failure is temporary":    {"broken", "x", "NO [UNAVAILABLE]", AuthError},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t)
			w := ts.dialTLS(t)
			_, done := w.cmd("LOGIN " + quote(tc.user) + " " + quote(tc.pass))
			if !strings.HasPrefix(done, tc.want) {
				t.Fatalf("got %q, want %q", done, tc.want)
			}
			if strings.Contains(done, "EOF") || strings.Contains(done, "database") {
				t.Errorf("internal text reached the client: %q", done)
			}
			if n := ts.obs.count(func(o *countingObserver) int { return o.auth[tc.reason] }); n != 1 {
				t.Errorf("observer saw %d %s failures", n, tc.reason)
			}
			if strings.Contains(ts.logText(), tc.pass) && tc.pass != "x" {
				t.Errorf("the password appears in the log")
			}
		})
	}
}

func TestAuthenticatePlainAfterTLS(t *testing.T) {
	ts := newTestServer(t)
	w := ts.dialTLS(t)
	resp := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.com\x00secret"))
	w.ok("AUTHENTICATE PLAIN " + resp)
	w.ok("SELECT INBOX")
}

func TestSessionLimits(t *testing.T) {
	t.Run("an account at its session limit cannot log in again", func(t *testing.T) {
		ts := newTestServer(t, func(o *Options) { o.MaxConnsPerUser = 2 })
		ts.login(t, "alice@example.com", "secret")
		second := ts.login(t, "alice@example.com", "secret")
		third := ts.dialTLS(t)
		third.expect(`LOGIN alice@example.com secret`, "NO [LIMIT]")
		ts.login(t, "bob@example.com", "hunter2") // other accounts are not affected
		second.ok("LOGOUT")
		waitFor(t, func() bool {
			_, done := third.cmd(`LOGIN alice@example.com secret`)
			return strings.HasPrefix(done, "OK")
		})
	})
	t.Run("an address at its connection limit is told BYE", func(t *testing.T) {
		ts := newTestServer(t, func(o *Options) { o.MaxConnsPerIP = 1 })
		ts.dialPlain(t)
		c, err := net.Dial("tcp", ts.plain)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, _ := bufio.NewReader(c).ReadString('\n')
		if !strings.HasPrefix(l, "* BYE") {
			t.Fatalf("greeting %q, want BYE", l)
		}
	})
}

func TestCommandsInTheWrongState(t *testing.T) {
	ts := newTestServer(t)
	w := ts.dialTLS(t)
	w.expect("SELECT INBOX", "BAD")
	w.expect("LIST \"\" *", "BAD")
	w.ok(`LOGIN alice@example.com secret`)
	w.expect("FETCH 1 FLAGS", "BAD")
	w.expect("STORE 1 +FLAGS (\\Seen)", "BAD")
	w.expect(`LOGIN alice@example.com secret`, "BAD")
	w.ok("SELECT INBOX")
	w.ok("FETCH 1:* FLAGS")
}

func TestUnknownCommandBeforeLoginEndsTheConnection(t *testing.T) {
	ts := newTestServer(t)
	w := ts.dialPlain(t)
	w.send("a GET / HTTP/1.1\r\n")
	l := w.line()
	if !strings.HasPrefix(l, "* BYE") && !strings.HasPrefix(l, "a BAD") {
		t.Fatalf("got %q", l)
	}
}

func TestImplicitTLSHandshakeIsBounded(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.HandshakeTimeout = 200 * time.Millisecond })
	silent, err := net.Dial("tcp", ts.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(silent); err != nil {
		t.Fatalf("a client that never starts TLS was not disconnected: %v", err)
	}
	garbage, err := net.Dial("tcp", ts.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	_, _ = io.WriteString(garbage, "a LOGIN alice@example.com secret\r\n")
	_ = garbage.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.ReadAll(garbage)
	waitFor(t, func() bool {
		return ts.obs.count(func(o *countingObserver) int { return o.refused["tls_handshake_failed"] }) == 2
	})
	if n := ts.auth.count(); n != 0 {
		t.Errorf("the authenticator saw %d attempts", n)
	}
}

// waitFor retries cond until it holds, failing after a generous bound.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached")
}
