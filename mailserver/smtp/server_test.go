package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/mail"
)

func TestNewServerValidatesOptions(t *testing.T) {
	cfg := &tls.Config{}
	valid := func() Options { return Options{Hostname: "mx.test", Mode: ModeSubmission, TLSConfig: cfg} }
	tests := map[string]struct {
		opts    func() Options
		noAuth  bool
		noDir   bool
		wantErr bool
	}{
		"a complete submission server is valid": {opts: valid},
		"an MX server needs no Authenticator and no TLS": {
			opts: func() Options { return Options{Hostname: "mx.test", Mode: ModeMX} }, noAuth: true,
		},
		"the hostname is required":      {opts: func() Options { o := valid(); o.Hostname = ""; return o }, wantErr: true},
		"the hostname must be a domain": {opts: func() Options { o := valid(); o.Hostname = "mx test"; return o }, wantErr: true},
		"the mode is required":          {opts: func() Options { o := valid(); o.Mode = 0; return o }, wantErr: true},
		"submission needs TLS":          {opts: func() Options { o := valid(); o.TLSConfig = nil; return o }, wantErr: true},
		"submissions needs TLS": {
			opts: func() Options { o := valid(); o.Mode, o.TLSConfig = ModeSubmissions, nil; return o }, wantErr: true,
		},
		"submission needs an Authenticator": {opts: valid, noAuth: true, wantErr: true},
		"a Directory is required":           {opts: valid, noDir: true, wantErr: true},
		"limits must not be negative": {
			opts: func() Options { o := valid(); o.MaxRecipients = -1; return o }, wantErr: true,
		},
		"a line limit must hold CRLF and a character": {
			opts: func() Options { o := valid(); o.MaxLineLength = 2; return o }, wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var dir mail.Directory = newFakeDirectory()
			if tc.noDir {
				dir = nil
			}
			var auth mail.Authenticator = &fakeAuth{}
			if tc.noAuth {
				auth = nil
			}
			_, err := NewServer(tc.opts(), dir, auth, &fakeDeliverer{})
			if (err != nil) != tc.wantErr {
				t.Errorf("NewServer error = %v, want error: %v", err, tc.wantErr)
			}
		})
	}
}

func TestShutdownFinishesTheMessageInFlight(t *testing.T) {
	ts := startServer(t, ModeMX)
	gate := ts.dlv.hold()
	w := hello(t, ts.addr)
	openData(w)
	w.write("Subject: in flight\r\n\r\nbody\r\n.\r\n")
	<-ts.dlv.started

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		shutdown <- ts.srv.Shutdown(ctx)
	}()
	waitListenerClosed(t, ts.addr)

	close(gate)
	if reply := w.line(); !regexp.MustCompile(acceptedRe).MatchString(reply) {
		t.Fatalf("message in flight during shutdown: reply %q", reply)
	}
	w.cmd("QUIT", "221 2.0.0 Bye")
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := len(ts.dlv.deliveries()); n != 1 {
		t.Errorf("%d deliveries, want the message in flight", n)
	}
}

func TestShutdownClosesIdleConnectionsAtItsDeadline(t *testing.T) {
	ts := startServer(t, ModeMX)
	w := hello(t, ts.addr)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with an ended context = %v, want context.Canceled", err)
	}
	w.expectClosed()
	waitFor(t, "the connection to be reported closed", func() bool { return ts.obs.get("closed") == 1 })
	if ts.obs.get("opened") != 1 {
		t.Errorf("connections opened %d, want 1", ts.obs.get("opened"))
	}
}

func TestCloseEndsEverything(t *testing.T) {
	ts := startServer(t, ModeSubmissions)
	w := dialWireTLS(t, ts.addr, ts.client)
	w.expect(greeting)
	if err := ts.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	w.expectClosed()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := ts.srv.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
	}
}

func TestServeRefusesATLSListener(t *testing.T) {
	ts := startServer(t, ModeSubmissions)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := tls.NewListener(inner, &tls.Config{Certificates: []tls.Certificate{ts.cert.cert}})
	defer l.Close()
	served := make(chan error, 1)
	go func() { served <- ts.srv.Serve(l) }()
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := <-served; !errors.Is(err, errTLSListener) {
		t.Fatalf("Serve on a TLS listener = %v, want errTLSListener", err)
	}
}

// waitListenerClosed waits until addr refuses connections.
func waitListenerClosed(t *testing.T, addr string) {
	t.Helper()
	waitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
}

// waitFor polls cond until it holds; the bound only keeps a broken server
// from hanging the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
