package e2e

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/kubemail/kubemail/mailserver/config"
)

// TestConfigReload: a mailbox added to the file can log in within seconds;
// an invalid file is refused with its field error logged, counted, and the
// mailboxes served before keep working.
func TestConfigReload(t *testing.T) {
	e := newEnv(t)
	p := e.start()
	if _, err := pop3Login(t, e.addr("pop3"), e.caFile, "new@example.test", demoPassword); err == nil {
		t.Fatal("a mailbox that is not configured logged in")
	}

	c := e.cfg
	c.Mailboxes = append(append([]config.Mailbox(nil), c.Mailboxes...),
		config.Mailbox{Address: "new@example.test", PasswordHash: c.Mailboxes[0].PasswordHash})
	e.write(c)
	// The watcher logs the reload once the new configuration is served,
	// which is after the new mailbox's store account was created: from
	// then on it logs in at once.
	p.waitLog("Configuration reloaded")
	mustPOP3(t, e, "new@example.test", demoPassword).quit()
	// It can receive mail too: its store account exists.
	s := mustSMTP(t, e.addr("smtp"))
	if r, _ := s.send("sender@remote.test", "new@example.test", []byte("Subject: welcome\r\n\r\nhi\r\n")); !strings.HasPrefix(r, "250") {
		t.Errorf("delivery to the new mailbox: %q", r)
	}

	good, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	y, err := good.YAML()
	if err != nil {
		t.Fatal(err)
	}
	e.writeRaw(bytes.Replace(y, []byte("address: new@example.test"), []byte("address: new@"), 1))
	p.waitLog(`mailboxes[1].address: \"new@\" is not a valid email address`)
	p.waitLog("Refusing configuration change")
	for _, user := range []string{demoUser, "new@example.test"} {
		pop := mustPOP3(t, e, user, demoPassword)
		pop.quit()
	}
	_, metrics := httpGet(e.addr("ops"), "/metrics")
	if !strings.Contains(metrics, `kubemail_config_reloads_total{result="failed"} 1`) ||
		!strings.Contains(metrics, `kubemail_config_reloads_total{result="ok"} 1`) {
		t.Errorf("reloads not counted:\n%s", grep(metrics, "kubemail_config_reloads_total"))
	}
	if !strings.Contains(metrics, `kubemail_config_info{hash="`+good.Hash()+`"} 1`) {
		t.Errorf("the served hash is not the last valid one's %s:\n%s", good.Hash(), grep(metrics, "kubemail_config_info"))
	}
}

// TestConnectionFlood: with maxConnectionsPerIP=3, the fourth concurrent
// connection from 127.0.0.1 is refused on any protocol, in its protocol's
// words, and a freed slot can be used again.
func TestConnectionFlood(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Limits.MaxConnectionsPerIP = 3 })
	e.start()
	var held []*smtpClient
	for range 3 {
		s, err := dialSMTP(e.addr("smtp"))
		if err != nil {
			t.Fatalf("one of the first three connections: %v", err)
		}
		t.Cleanup(s.close)
		held = append(held, s)
	}
	if line := readLine(dialRaw(t, e.addr("smtp"))); !strings.HasPrefix(line, "421 4.7.0 ") {
		t.Errorf("the fourth SMTP connection read %q, want 421 4.7.0", line)
	}
	if line := readLine(dialRaw(t, e.addr("pop3"))); !strings.HasPrefix(line, "-ERR [SYS/TEMP] ") {
		t.Errorf("the fourth connection, on POP3, read %q, want -ERR [SYS/TEMP]", line)
	}
	_, _ = held[0].cmd("QUIT")
	held[0].close()
	waitFor(t, "a freed slot to admit a connection", func() bool {
		s, err := dialSMTP(e.addr("smtp"))
		if err != nil {
			return false
		}
		s.close()
		return true
	})
	_, metrics := httpGet(e.addr("ops"), "/metrics")
	if !regexp.MustCompile(`kubemail_connections_refused_total\{listener="smtp",reason="per_ip_limit"\} [1-9]`).MatchString(metrics) {
		t.Errorf("refusals not counted:\n%s", grep(metrics, "kubemail_connections_refused_total"))
	}
}

// TestOpsEndpoint: health checks answer, and the metrics name the served
// configuration and count the delivered messages.
func TestOpsEndpoint(t *testing.T) {
	e := newEnv(t)
	p := e.start()
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, body := httpGet(e.addr("ops"), path); status != http.StatusOK {
			t.Errorf("GET %s: %d %q", path, status, body)
		}
	}
	for range 2 {
		s := mustSMTP(t, e.addr("smtp"))
		if r, _ := s.send("sender@remote.test", demoUser, []byte("Subject: counted\r\n\r\nhi\r\n")); !strings.HasPrefix(r, "250") {
			t.Fatalf("delivery: %q", r)
		}
		_, _ = s.cmd("QUIT")
	}
	mustPOP3(t, e, demoUser, demoPassword).quit()
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	status, metrics := httpGet(e.addr("ops"), "/metrics")
	for _, want := range []string{
		`kubemail_config_info{hash="` + cfg.Hash() + `"} 1`,
		`kubemail_messages_accepted_total{listener="smtp"} 2`,
		`kubemail_sessions_total{listener="smtp"} 2`,
		`kubemail_sessions_total{listener="pop3"} 1`,
		`kubemail_store_commit_duration_seconds_count 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("GET /metrics (%d) lacks %s", status, want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grep(metrics, "kubemail_"))
	}
	p.stop()
	if !strings.Contains(p.logs.String(), "Store closed") {
		t.Error("the store was not closed on SIGTERM")
	}
}

// grep returns the lines of s that contain substr.
func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
