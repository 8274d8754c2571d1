package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kubemail/kubemail/internal/testlog"
	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
)

// listeningConfig is baseConfig with every listener on a free port and the
// store in a temporary directory.
func listeningConfig(t *testing.T) config.Config {
	c := baseConfig()
	any := config.Listener{Address: "127.0.0.1:0"}
	c.Listeners = config.Listeners{SMTP: any, Submission: any, Submissions: any, POP3: any, POP3S: any, Ops: any}
	c.Storage.Path = filepath.Join(t.TempDir(), "data")
	// The MX listener's SPF/DKIM/DMARC checks and the queue look names up:
	// in tests only in a DNS server on 127.0.0.1, never the system's.
	c.Outbound.Resolver = dnstest.Start(t).Addr()
	return c
}

// writeConfig writes c as YAML to path (atomically, as editors do).
func writeConfig(t *testing.T, path string, c config.Config) {
	t.Helper()
	y, err := compile(t, c).YAML()
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, path, y)
}

func writeRaw(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// running is a Server started by startServer.
type running struct {
	*Server
	logs *testlog.Buffer
	stop func() error // cancels Run and returns its result
}

func startServer(t *testing.T, path string) *running {
	t.Helper()
	logs := &testlog.Buffer{}
	s, err := New(Options{
		ConfigPath: path, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		ShutdownTimeout: 5 * time.Second, ConfigDebounce: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run ended before it was ready: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("the server did not become ready")
	}
	var once sync.Once
	var result error
	r := &running{Server: s, logs: logs, stop: func() error {
		once.Do(func() { cancel(); result = <-done })
		return result
	}}
	t.Cleanup(func() { _ = r.stop() })
	return r
}

func TestNewRefusesAnInvalidConfiguration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.yaml")
	c := listeningConfig(t)
	y, err := compile(t, c).YAML()
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, path, bytes.Replace(y, []byte("alice@example.test"), []byte("alice@"), 1))
	_, err = New(Options{ConfigPath: path})
	if err == nil || !strings.Contains(err.Error(), `"alice@" is not a valid email address`) {
		t.Fatalf("New: %v, want the field errors", err)
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a configuration path succeeded")
	}
}

func TestRunServesEveryListenerAndShutsDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.yaml")
	writeConfig(t, path, listeningConfig(t))
	s := startServer(t, path)
	for _, name := range []string{"smtp", "submission", "submissions", "pop3", "pop3s", "ops"} {
		if s.Addr(name) == nil {
			t.Errorf("listener %s has no address", name)
		}
		if !strings.Contains(s.logs.String(), "listener="+name+" address="+s.Addr(name).String()) {
			t.Errorf("the address of %s was not logged", name)
		}
	}
	if s.Addr("imap") != nil {
		t.Error("a disabled listener has an address")
	}

	greeting := func(name, want string) {
		t.Helper()
		c := dial(t, s.Addr(name).String())
		defer c.Close()
		if got := c.line(t); !strings.HasPrefix(got, want) {
			t.Errorf("%s greets %q, want %q…", name, got, want)
		}
	}
	greeting("smtp", "220 mx.example.test")
	greeting("pop3", "+OK")
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		resp, err := http.Get("http://" + s.Addr("ops").String() + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}

	// An idle POP3 session is ended by shutdown, and Run returns nil for a
	// shutdown asked for through its context.
	idle := dial(t, s.Addr("pop3").String())
	_ = idle.line(t)
	if err := s.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr("smtp").String(), time.Second); err == nil {
		t.Error("the SMTP port still accepts connections after shutdown")
	}
	if got := idle.line(t); !strings.HasPrefix(got, "-ERR [SYS/TEMP]") {
		t.Errorf("the idle POP3 session read %q at shutdown", got)
	}
	if !strings.Contains(s.logs.String(), "Store closed") {
		t.Error("the store was not closed")
	}
}

func TestRunFailsWhenAnAddressIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	c := listeningConfig(t)
	c.Listeners.POP3.Address = taken.Addr().String()
	path := filepath.Join(t.TempDir(), "server.yaml")
	writeConfig(t, path, c)
	s, err := New(Options{ConfigPath: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listening for pop3") {
		t.Fatalf("Run: %v, want a listen error for pop3", err)
	}
}

func TestReloadCreatesAccountsBeforeServingTheirMailboxes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.yaml")
	c := listeningConfig(t)
	writeConfig(t, path, c)
	s := startServer(t, path)

	c.Mailboxes = append(c.Mailboxes, config.Mailbox{Address: "dave@example.test", PasswordHash: testHash})
	c.Limits.MaxMessageBytes = 1 << 20 // needs a restart
	writeConfig(t, path, c)
	waitFor(t, "the new mailbox to be served", func() bool {
		if _, ok := s.serving.Current().LookupMailbox("dave@example.test"); !ok {
			return false
		}
		// Served: its account must exist already.
		if _, err := s.store.Usage(context.Background(), "dave@example.test"); err != nil {
			t.Fatalf("dave is served but has no account: %v", err)
		}
		return true
	})
	if got := testutil.ToFloat64(s.metrics.configInfo.WithLabelValues(s.serving.Current().Hash())); got != 1 {
		t.Errorf("kubemail_config_info for the new hash is %v, want 1", got)
	}
	waitFor(t, "the restart warning", func() bool {
		return strings.Contains(s.logs.String(), "fields=limits.maxMessageBytes")
	})

	// An invalid file is refused, counted, and the old configuration stays.
	hash := s.serving.Current().Hash()
	writeRaw(t, path, []byte("apiVersion: server.kubemail.io/v1alpha1\nkind: ServerConfig\n"))
	waitFor(t, "the refusal to be counted", func() bool {
		return testutil.ToFloat64(s.metrics.reloads.WithLabelValues("failed")) == 1
	})
	if s.serving.Current().Hash() != hash {
		t.Error("an invalid file replaced the served configuration")
	}
	if !strings.Contains(s.logs.String(), "hostname: required") {
		t.Errorf("the field error was not logged:\n%s", s.logs.String())
	}
	if _, err := s.store.Usage(context.Background(), mail.Fold("alice@example.test")); err != nil {
		t.Error(err)
	}
}

func TestRestartNeeded(t *testing.T) {
	base := baseConfig()
	tests := map[string]struct {
		mutate func(c *config.Config)
		want   string
	}{
		"mailboxes change at once":         {func(c *config.Config) { c.Mailboxes = c.Mailboxes[:1] }, ""},
		"connection limits change at once": {func(c *config.Config) { c.Limits.MaxConnectionsPerIP = 5 }, ""},
		"trusted networks change at once":  {func(c *config.Config) { c.ProxyProtocol.TrustedCIDRs = []string{"10.0.0.0/8"} }, ""},
		"a listener address needs a restart": {func(c *config.Config) { c.Listeners.SMTP.Address = "127.0.0.1:2526" },
			"listeners.smtp"},
		"the hostname and the size limit need a restart": {func(c *config.Config) {
			c.Hostname = "mx9.example.test"
			c.Limits.MaxMessageBytes = 1000
		}, "hostname,limits.maxMessageBytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := baseConfig()
			tc.mutate(&c)
			if got := strings.Join(restartNeeded(compile(t, base), compile(t, c)), ","); got != tc.want {
				t.Errorf("restartNeeded = %q, want %q", got, tc.want)
			}
		})
	}
}
