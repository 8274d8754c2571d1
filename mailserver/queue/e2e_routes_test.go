package queue

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
	"github.com/kubemail/kubemail/mailserver/store"
)

func TestSmarthostRouteWithSTARTTLSAndAUTH(t *testing.T) {
	dns := dnstest.Start(t)
	b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}})
	// The smarthost is a kubemail submission server whose account may
	// send as anyone, delivering onwards to b.test.
	relay := startNode(t, dns, nodeOptions{domain: "relay.test", mailboxes: []string{"smart"}, senderAll: true,
		outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries}})
	_, port, _ := net.SplitHostPort(relay.subAddr)
	var relayPort int
	_, _ = fmt.Sscan(port, &relayPort)
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("smart@relay.test\nwrong password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice"}, dkim: true,
		outbound: config.Outbound{RetrySchedule: fastRetries},
		relay: config.Relay{Routes: []config.RelayRoute{{Domain: "*", Smarthost: &config.Smarthost{
			Host: "mx.relay.test", Port: relayPort, TLS: config.SmarthostStartTLSRequired,
			CredentialsFile: creds, CAFile: sharedPKI(t).caFile}}}}})
	if err := a.submit("alice", nil, []string{"bob@b.test"}, plainMessage); err != nil {
		t.Fatal(err)
	}
	// Wrong credentials are a configuration problem: retried, not bounced.
	q := a.waitQueue("an AUTH failure", func(q []store.QueueEntry) bool {
		return len(q) == 1 && q[0].Recipients[0].Attempts >= 1 && !q[0].Recipients[0].InFlight
	})
	if e := q[0].Recipients[0].LastError; !strings.HasPrefix(e, "535 5.7.8") {
		t.Fatalf("last error %q, want the smarthost's 535", e)
	}
	// Rotated credentials are read at the next connection.
	if err := os.WriteFile(creds, []byte("smart@relay.test\n"+testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := string(b.waitInbox("bob@b.test", 1)[0])
	for _, want := range []string{"by mx.b.test with ESMTPS", "by mx.relay.test with ESMTPSA", "by mx.a.test with ESMTPSA",
		"dkim=pass header.d=a.test"} {
		if !strings.Contains(strings.Join(strings.Fields(got), " "), want) {
			t.Errorf("bob's message lacks %q:\n%s", want, got)
		}
	}
	a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
	relay.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
	if n := len(a.inbox("alice@a.test")); n != 0 {
		t.Fatalf("alice got %d reports", n)
	}
}

// stsServer serves an MTA-STS policy over HTTPS and returns a client that
// reaches it under any mta-sts.* name.
func stsServer(t *testing.T, policy string) *http.Client {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/mta-sts.txt" || !strings.HasPrefix(r.Host, "mta-sts.") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(policy))
	}))
	srv.TLS = sharedPKI(t).serverTLS()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: sharedPKI(t).pool},
	}}
}

func TestMTASTSAndREQUIRETLS(t *testing.T) {
	cases := map[string]struct {
		policy     string // "" publishes none
		untrusted  bool   // the sender does not trust b.test's certificate
		requireTLS bool
		delivered  bool
		lastError  string // a temporary failure
		status     string // a failure report's status
	}{
		"an enforced policy naming the MX delivers over verified TLS": {
			policy: "version: STSv1\nmode: enforce\nmx: mx.b.test\nmax_age: 86400\n", delivered: true},
		"a wildcard policy matches one label": {
			policy: "version: STSv1\r\nmode: enforce\r\nmx: *.b.test\r\nmax_age: 86400\r\n", delivered: true},
		"an enforced policy not naming the MX defers delivery": {
			policy: "version: STSv1\nmode: enforce\nmx: other.b.test\nmax_age: 86400\n", lastError: "451 4.7.5 no mail exchanger of b.test matches"},
		"an enforced policy with an untrusted certificate defers delivery": {
			policy: "version: STSv1\nmode: enforce\nmx: mx.b.test\nmax_age: 86400\n", untrusted: true,
			lastError: "451 4.4.2 STARTTLS failed: TLS handshake: tls: failed to verify certificate"},
		"without a policy an untrusted certificate still gets opportunistic TLS": {untrusted: true, delivered: true},
		"a testing policy not naming the MX only warns": {
			policy: "version: STSv1\nmode: testing\nmx: other.b.test\nmax_age: 86400\n", delivered: true},
		"REQUIRETLS is honoured under an enforced policy": {
			policy: "version: STSv1\nmode: enforce\nmx: mx.b.test\nmax_age: 86400\n", requireTLS: true, delivered: true},
		"REQUIRETLS without a policy bounces with 5.7.30": {requireTLS: true, status: "5.7.30"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dns := dnstest.Start(t)
			b := startNode(t, dns, nodeOptions{domain: "b.test", mailboxes: []string{"bob"}})
			var client *http.Client
			if tc.policy != "" {
				dns.Add(t, `_mta-sts.b.test. IN TXT "v=STSv1; id=20260301"`)
				client = stsServer(t, tc.policy)
			}
			a := startNode(t, dns, nodeOptions{domain: "a.test", mailboxes: []string{"alice"}, dkim: true, http: client, untrusted: tc.untrusted,
				outbound: config.Outbound{Port: b.mxPort(), RetrySchedule: fastRetries}})
			if err := a.submit("alice", &gosmtp.MailOptions{RequireTLS: tc.requireTLS}, []string{"bob@b.test"}, plainMessage); err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.delivered:
				got := string(b.waitInbox("bob@b.test", 1)[0])
				if !strings.Contains(got, "with ESMTPS") {
					t.Fatalf("delivered without TLS:\n%s", got)
				}
				a.waitQueue("empty", func(q []store.QueueEntry) bool { return len(q) == 0 })
			case tc.lastError != "":
				q := a.waitQueue("a deferral", func(q []store.QueueEntry) bool {
					return len(q) == 1 && q[0].Recipients[0].Attempts >= 1 && !q[0].Recipients[0].InFlight
				})
				if e := q[0].Recipients[0].LastError; !strings.HasPrefix(e, tc.lastError) {
					t.Fatalf("last error %q, want %q…", e, tc.lastError)
				}
				if n := len(b.inbox("bob@b.test")); n != 0 {
					t.Fatalf("delivered against the policy")
				}
			default:
				r := parseReport(t, a.waitInbox("alice@a.test", 1)[0])
				if r.fields["Status"] != tc.status {
					t.Fatalf("report fields %v, want status %s", r.fields, tc.status)
				}
			}
		})
	}
}

func TestAdminAPI(t *testing.T) {
	a, b, _ := twoServers(t, config.Outbound{})
	b.hook.setFail(true)
	if err := a.submit("alice", nil, []string{"bob@b.test", "carol@b.test"}, plainMessage); err != nil {
		t.Fatal(err)
	}
	a.waitQueue("a failed attempt", func(q []store.QueueEntry) bool {
		return len(q) == 1 && q[0].Recipients[0].Attempts >= 1 && !q[0].Recipients[0].InFlight
	})
	srv := httptest.NewServer(NewAdminHandler(AdminOptions{Store: a.store, Queue: a.queue}))
	t.Cleanup(srv.Close)
	c := &AdminClient{BaseURL: srv.URL}
	ctx := t.Context()
	list, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Sender != "alice@a.test" || list[0].Account != "alice@a.test" || len(list[0].Recipients) != 2 ||
		list[0].Recipients[0].Address != "bob@b.test" || list[0].Recipients[0].Attempts < 1 || list[0].Recipients[0].LastError == "" {
		t.Fatalf("List = %+v", list)
	}
	id := list[0].ID
	if _, err := c.Retry(ctx, "NOSUCHID"); err == nil || !strings.Contains(err.Error(), "no queued message NOSUCHID") {
		t.Fatalf("Retry of an unknown id: %v", err)
	}
	if _, err := c.Retry(ctx, ""); err != nil {
		t.Fatalf("Retry of everything: %v", err)
	}
	if err := c.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, id); err == nil || !strings.Contains(err.Error(), "no queued message") {
		t.Fatalf("second Delete: %v", err)
	}
	if list, err := c.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("List after Delete = %+v, %v", list, err)
	}
}
