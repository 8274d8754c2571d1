package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/msgauth"
	"github.com/kubemail/kubemail/mailserver/queue"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
	"github.com/kubemail/kubemail/mailserver/store"
)

// mailConfig is a server for domain with one mailbox, its MX listener on a
// free port, finding other servers through dns.
func mailConfig(t *testing.T, domain, user, dns string) config.Config {
	c := config.Config{
		APIVersion: config.APIVersion, Kind: config.Kind, Hostname: "mx." + domain,
		Listeners: config.Listeners{SMTP: config.Listener{Address: "127.0.0.1:0"}},
		Storage:   config.Storage{Path: filepath.Join(t.TempDir(), "data")},
		Domains:   []config.Domain{{Name: domain}},
		Mailboxes: []config.Mailbox{{Address: user + "@" + domain, PasswordHash: testHash}},
		Outbound:  config.Outbound{Resolver: dns, RetrySchedule: []config.Duration{config.Dur(200 * time.Millisecond)}},
	}
	return c
}

func TestRunDeliversToOtherServersThroughTheQueue(t *testing.T) {
	dns := dnstest.Start(t,
		"b.test. IN MX 10 mx.b.test.", "mx.b.test. IN A 127.0.0.1",
		"a.test. IN MX 10 mx.a.test.", "mx.a.test. IN A 127.0.0.1",
		`a.test. IN TXT "v=spf1 ip4:127.0.0.1 -all"`, `_dmarc.a.test. IN TXT "v=DMARC1; p=reject"`)

	bPath := filepath.Join(t.TempDir(), "b.yaml")
	writeConfig(t, bPath, mailConfig(t, "b.test", "bob", dns.Addr()))
	b := startServer(t, bPath)
	_, bPort, _ := net.SplitHostPort(b.Addr("smtp").String())

	pemKey, key, err := msgauth.GenerateKey(msgauth.AlgorithmEd25519)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "a.test.pem")
	writeFile(t, keyFile, pemKey)
	txt, err := msgauth.TXTRecord(key)
	if err != nil {
		t.Fatal(err)
	}
	dns.Add(t, msgauth.ZoneRecord("a.test", "k1", txt))
	ac := mailConfig(t, "a.test", "alice", dns.Addr())
	ac.Listeners.Submission = config.Listener{Address: "127.0.0.1:0"}
	ac.Listeners.Admin = config.Listener{Address: "127.0.0.1:0"}
	ac.Domains[0].DKIM = &config.DKIM{Selector: "k1", KeyFile: keyFile}
	ac.Outbound.Port, _ = strconv.Atoi(bPort)
	aPath := filepath.Join(t.TempDir(), "a.yaml")
	writeConfig(t, aPath, ac)
	a := startServer(t, aPath)

	c, err := gosmtp.DialStartTLS(a.Addr("submission").String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test server's self-signed certificate
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "alice@a.test", testPassword)); err != nil {
		t.Fatal(err)
	}
	msg := "From: alice@a.test\r\nTo: bob@b.test\r\nSubject: hi\r\n\r\nHello Bob.\r\n"
	if err := c.SendMail("alice@a.test", []string{"bob@b.test"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	_ = c.Quit()

	bob := store.FolderRef{Account: "bob@b.test", Folder: store.Inbox}
	waitFor(t, "bob to get the message", func() bool {
		st, err := b.store.FolderStatus(context.Background(), bob)
		return err == nil && st.Messages == 1
	})
	body, err := b.store.Body(context.Background(), bob, 1)
	if err != nil {
		t.Fatal(err)
	}
	unfolded := strings.Join(strings.Fields(string(body)), " ")
	for _, want := range []string{"Authentication-Results: mx.b.test; spf=pass", "dkim=pass header.d=a.test header.s=k1",
		"dmarc=pass header.from=a.test", "Hello Bob."} {
		if !strings.Contains(unfolded, want) {
			t.Errorf("bob's message lacks %q:\n%s", want, body)
		}
	}
	waitFor(t, "the delivery to be counted", func() bool {
		return testutil.ToFloat64(a.metrics.outbound.WithLabelValues("delivered")) == 1
	})

	// The admin endpoint answers on its loopback listener; the message
	// leaves the queue once its delivery is settled (just after it is counted).
	var list []queue.MessageInfo
	waitFor(t, "the queue to be empty", func() bool {
		resp, err := http.Get("http://" + a.Addr("admin").String() + "/v1/queue")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		list = nil
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /v1/queue: %d %v", resp.StatusCode, err)
		}
		return len(list) == 0
	})
	if b.Addr("admin") != nil {
		t.Fatal("an admin endpoint that was not configured is listening")
	}
}

func TestRunRefusesRelayFromOutsideTheAllowedNetworks(t *testing.T) {
	dns := dnstest.Start(t)
	c := mailConfig(t, "a.test", "alice", dns.Addr())
	c.Relay.AllowedNetworks = []string{"10.0.0.0/8"}
	path := filepath.Join(t.TempDir(), "a.yaml")
	writeConfig(t, path, c)
	s := startServer(t, path)
	w := dial(t, s.Addr("smtp").String())
	defer w.Close()
	_ = w.line(t)
	for _, step := range []struct{ send, want string }{
		{"EHLO client.test", "250"}, {"MAIL FROM:<x@remote.test>", "250"},
		{"RCPT TO:<victim@elsewhere.test>", "554 5.7.1"},
	} {
		w.send(t, step.send+"\r\n")
		var got string
		for got = w.line(t); len(got) > 3 && got[3] == '-'; got = w.line(t) {
		}
		if !strings.HasPrefix(got, step.want) {
			t.Fatalf("%s: %q, want %s…", step.send, got, step.want)
		}
	}
}
