package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers"
	"github.com/kubemail/kubemail/internal/devenv"
	"github.com/kubemail/kubemail/internal/devrun"
	"github.com/kubemail/kubemail/internal/testlog"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
)

// liveChange is how soon a change of a Mailbox must take effect on the
// running server (issue 6: "within 5 s").
const liveChange = 5 * time.Second

// devSession is a running `kubemail dev`.
type devSession struct {
	t          *testing.T
	state      string
	kubeconfig string
	kubectlBin string
	cmd        *exec.Cmd
	stdout     *testlog.Buffer
	stderr     *testlog.Buffer
	done       chan struct{} // closed when the process exited
	err        error         // the result of Wait, set before done is closed
	client     client.Client
	endpoints  map[string]string // protocol → address of default/mx1
	tls        *tls.Config       // trusts mx1's self-signed certificate
}

// startDev runs the built binary's `kubemail dev` with the samples and
// waits until default/mx1 serves.
func startDev(t *testing.T) *devSession {
	t.Helper()
	assets := devenv.AssetsDir()
	if err := devenv.CheckAssets(assets); err != nil {
		t.Fatal(err)
	}
	d := &devSession{
		t: t, state: t.TempDir(), kubectlBin: filepath.Join(assets, "kubectl"),
		stdout: &testlog.Buffer{}, stderr: &testlog.Buffer{}, done: make(chan struct{}),
	}
	d.kubeconfig = filepath.Join(d.state, "kubeconfig")
	// The servers resolve through a DNS server of the test's, on 127.0.0.1.
	d.cmd = exec.Command(binary, "dev", "--state-dir", d.state, "--assets-dir", assets,
		"--crd-dir", "../../config/crd/bases", "--samples", "../../config/samples",
		"--resolver", dnstest.Start(t).Addr())
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-d.done:
		case <-time.After(2 * time.Minute):
			_ = d.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("kubemail dev stdout:\n%s\nstderr (tail):\n%s", d.stdout, tail(d.stderr.String(), 60))
			if log, err := os.ReadFile(filepath.Join(d.state, "pods", "default", "mx1-0", "server.log")); err == nil {
				t.Logf("server log (tail):\n%s", tail(string(log), 40))
			}
		}
	})

	deadline := time.Now().Add(4 * time.Minute)
	for {
		if e, err := devrun.ReadEndpoints(d.state); err == nil && e["default/mx1"] != nil {
			d.endpoints = e["default/mx1"]
			break
		}
		select {
		case <-d.done:
			t.Fatalf("kubemail dev exited: %v\n%s", d.err, tail(d.stderr.String(), 40))
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("default/mx1 did not start serving\n%s", tail(d.stderr.String(), 40))
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", d.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := controllers.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if d.client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	cert := d.secret("mx1-selfsigned-tls")[corev1.TLSCertKey]
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cert) {
		t.Fatal("no certificate in Secret mx1-selfsigned-tls")
	}
	d.tls = &tls.Config{RootCAs: pool, ServerName: "mx1.example.com", MinVersion: tls.VersionTLS12}
	return d
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (d *devSession) kubectl(args ...string) string {
	d.t.Helper()
	out, err := exec.Command(d.kubectlBin, append([]string{"--kubeconfig", d.kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		d.t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// secret reads a Secret of namespace default, waiting for it to exist.
func (d *devSession) secret(name string) map[string][]byte {
	d.t.Helper()
	sec := &corev1.Secret{}
	waitFor(d.t, "Secret "+name, func() bool {
		return d.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, sec) == nil
	})
	return sec.Data
}

// imapsLogin logs in over IMAPS, verifying the server's certificate; the
// error carries the server's reply.
func (d *devSession) imapsLogin(user, password string) (*imapConn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", d.endpoints["imaps"], d.tls)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	ic := &imapConn{conn: c, r: bufio.NewReader(c)}
	if line, err := ic.r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
		_ = c.Close()
		return nil, fmt.Errorf("greeting %q: %w", line, err)
	}
	if _, err := ic.cmd(fmt.Sprintf("LOGIN %q %q", user, password)); err != nil {
		_ = c.Close()
		return nil, err
	}
	return ic, nil
}

// imapConn is a minimal IMAP client: one command at a time.
type imapConn struct {
	conn net.Conn
	r    *bufio.Reader
	tag  int
}

// cmd sends a command and returns everything up to its tagged reply,
// which must be OK.
func (c *imapConn) cmd(line string) (string, error) {
	c.tag++
	tag := fmt.Sprintf("t%d", c.tag)
	if _, err := fmt.Fprintf(c.conn, "%s %s\r\n", tag, line); err != nil {
		return "", err
	}
	var b strings.Builder
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return b.String(), err
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				return b.String(), errors.New(strings.TrimSpace(l))
			}
			return b.String(), nil
		}
		b.WriteString(l)
	}
}

func (c *imapConn) close() { _ = c.conn.Close() }

// loginWorks reports whether an IMAPS login succeeds, logging out after.
func (d *devSession) loginWorks(user, password string) bool {
	c, err := d.imapsLogin(user, password)
	if err != nil {
		return false
	}
	_, _ = c.cmd("LOGOUT")
	c.close()
	return true
}

// within waits up to limit for cond and reports how long it took.
func within(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("%s: %v", what, took.Round(time.Millisecond))
	return took
}

// TestDevRunsTheSamples is issue 6's acceptance test: `kubemail dev`
// brings up the control plane, the operator and a server process; the
// samples become Ready; a real client logs in over IMAPS with the password
// the operator generated, sends mail over submission and reads it; Mailbox
// changes reach the running server within 5 s; Ctrl-C stops everything.
func TestDevRunsTheSamples(t *testing.T) {
	began := time.Now()
	d := startDev(t)
	ctx := context.Background()
	t.Logf("kubemail dev serves default/mx1 after %v", time.Since(began).Round(time.Millisecond))

	for _, want := range []string{"kubeconfig:  " + d.kubeconfig, "MailServer default/mx1 is serving",
		"imaps        " + d.endpoints["imaps"], "applied:     mailalias/postmaster, mailbox/alice"} {
		if !strings.Contains(d.stdout.String(), want) {
			t.Errorf("kubemail dev did not print %q:\n%s", want, d.stdout)
		}
	}
	for _, proto := range []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"} {
		if !strings.HasPrefix(d.endpoints[proto], "127.0.0.1:") {
			t.Errorf("endpoints.json: %s is %q", proto, d.endpoints[proto])
		}
	}

	// The samples are Ready, as kubectl shows them.
	waitFor(t, "example-com to be Ready", func() bool {
		out := d.kubectl("get", "maildomains", "--no-headers")
		f := strings.Fields(out)
		return len(f) >= 7 && f[0] == "example-com" && f[3] == "True"
	})
	domains := d.kubectl("get", "maildomains")
	if header := strings.Fields(strings.SplitN(domains, "\n", 2)[0]); strings.Join(header, " ") != "NAME DOMAIN SERVER READY MAILBOXES DNS DKIM AGE" {
		t.Errorf("kubectl get maildomains header is %v", header)
	}
	if f := strings.Fields(strings.SplitN(domains, "\n", 3)[1]); strings.Join(f[:7], " ") != "example-com example.com mx1 True 2 ExternalDNSNotInstalled True" {
		t.Errorf("kubectl get maildomains:\n%s", domains)
	}
	for _, kind := range []string{"mailservers", "mailboxes", "mailaliases", "relaypolicies"} {
		d.kubectl("wait", "--for=condition=Ready", "--timeout=60s", kind, "--all")
	}
	t.Logf("the samples are Ready after %v", time.Since(began).Round(time.Millisecond))

	// alice's generated password: log in over IMAPS, send over submission,
	// read it back.
	creds := d.secret("alice-credentials")
	alice, alicePassword := string(creds["username"]), string(creds["password"])
	if alice != "alice@example.com" || len(alicePassword) < 16 {
		t.Fatalf("alice's credentials: %q / %d characters", alice, len(alicePassword))
	}
	s := mustSMTP(t, d.endpoints["submission"])
	if r, err := s.cmd("STARTTLS"); err != nil || !strings.HasPrefix(r, "220") {
		t.Fatalf("STARTTLS: %q %v", r, err)
	}
	tc := tls.Client(s.conn, d.tls)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	s2 := &smtpClient{conn: tc, tp: textproto.NewConn(tc)}
	if r, err := s2.cmd("EHLO client.test"); err != nil || !strings.HasPrefix(r, "250") {
		t.Fatalf("EHLO: %q %v", r, err)
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + alicePassword))
	if r, err := s2.cmd("AUTH PLAIN %s", plain); err != nil || !strings.HasPrefix(r, "235") {
		t.Fatalf("AUTH: %q %v", r, err)
	}
	msg := []byte("From: alice@example.com\r\nTo: postmaster@example.com\r\nSubject: hello from kubemail dev\r\n\r\nIt works.\r\n")
	if r, err := s2.send(alice, "postmaster@example.com", msg); err != nil || !strings.HasPrefix(r, "250") {
		t.Fatalf("sending: %q %v", r, err)
	}
	s2.close()
	ic, err := d.imapsLogin(alice, alicePassword)
	if err != nil {
		t.Fatalf("IMAPS login with the generated password: %v", err)
	}
	waitFor(t, "the message in alice's INBOX", func() bool {
		out, err := ic.cmd("SELECT INBOX")
		return err == nil && strings.Contains(out, "* 1 EXISTS")
	})
	body, err := ic.cmd("UID FETCH 1 BODY.PEEK[]")
	if err != nil || !strings.Contains(body, "Subject: hello from kubemail dev") || !strings.Contains(body, "It works.") {
		t.Fatalf("reading the message: %v\n%s", err, body)
	}
	ic.close()

	// A new Mailbox logs in within 5 s.
	start := time.Now()
	carol := &mailv1.Mailbox{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "carol"},
		Spec: mailv1.MailboxSpec{Address: "carol@example.com"}}
	if err := d.client.Create(ctx, carol); err != nil {
		t.Fatal(err)
	}
	var carolPassword string
	within(t, "a new Mailbox logs in", liveChange, func() bool {
		// Log in once the Mailbox says it is served, as a user waiting with
		// kubectl wait would: attempts before then fail, and the server
		// slows down repeated failures, which this figure is not about.
		m := &mailv1.Mailbox{}
		if d.client.Get(ctx, client.ObjectKeyFromObject(carol), m) != nil {
			return false
		}
		if c := meta.FindStatusCondition(m.Status.Conditions, mailv1.ConditionReady); c == nil ||
			c.Status != metav1.ConditionTrue || c.ObservedGeneration != m.Generation {
			return false
		}
		if carolPassword == "" {
			sec := &corev1.Secret{}
			if d.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "carol-credentials"}, sec) != nil {
				return false
			}
			carolPassword = string(sec.Data["password"])
		}
		return d.loginWorks("carol@example.com", carolPassword)
	})
	t.Logf("apply → first login: %v", time.Since(start).Round(time.Millisecond))

	// bob's password changes in his Secret: the new one works and the old
	// one fails within 5 s.
	if !d.loginWorks("bob@example.com", "change-me-bob") {
		t.Fatal("bob cannot log in with the sample's password")
	}
	bobSecret := &corev1.Secret{}
	if err := d.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "bob-password"}, bobSecret); err != nil {
		t.Fatal(err)
	}
	bobSecret.Data = map[string][]byte{"password": []byte("a-new-password-for-bob")}
	if err := d.client.Update(ctx, bobSecret); err != nil {
		t.Fatal(err)
	}
	within(t, "a changed password works and the old one fails", liveChange, func() bool {
		return d.loginWorks("bob@example.com", "a-new-password-for-bob") && !d.loginWorks("bob@example.com", "change-me-bob")
	})

	// A deleted Mailbox can no longer log in.
	if err := d.client.Delete(ctx, carol); err != nil {
		t.Fatal(err)
	}
	within(t, "a deleted Mailbox can no longer log in", liveChange, func() bool {
		return !d.loginWorks("carol@example.com", carolPassword)
	})

	// alice's Mailbox shows what her INBOX uses: the server measures every
	// 30 s, so this waits at most about that long after the message came.
	aliceBox := &mailv1.Mailbox{}
	within(t, "alice's status.used to show her message", 75*time.Second, func() bool {
		if d.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "alice"}, aliceBox) != nil || aliceBox.Status.Used == nil {
			time.Sleep(200 * time.Millisecond)
			return false
		}
		return aliceBox.Status.Used.Value() > 0
	})
	if out := d.kubectl("get", "mailbox", "alice"); !strings.Contains(out, "USED") || !strings.Contains(out, " "+aliceBox.Status.Used.String()+" ") {
		t.Errorf("kubectl get mailbox alice does not show USED %s:\n%s", aliceBox.Status.Used, out)
	}

	// Ctrl-C stops the servers, the operator and the control plane.
	stopping := time.Now()
	defer func() { t.Logf("kubemail dev stopped in %v", time.Since(stopping).Round(time.Millisecond)) }()
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
		if d.err != nil {
			t.Fatalf("kubemail dev exited with %v", d.err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("kubemail dev did not stop after the interrupt")
	}
	for proto, addr := range d.endpoints {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			t.Errorf("%s at %s still accepts connections after kubemail dev stopped", proto, addr)
		}
	}
	if out, err := exec.Command(d.kubectlBin, "--kubeconfig", d.kubeconfig, "--request-timeout=2s", "get", "ns").CombinedOutput(); err == nil {
		t.Errorf("the API server still answers after kubemail dev stopped:\n%s", out)
	}
}
