package queue

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/kubemail/kubemail/internal/testlog"
	"github.com/kubemail/kubemail/mailserver/auth"
	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/delivery"
	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/msgauth"
	"github.com/kubemail/kubemail/mailserver/resolver"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
	"github.com/kubemail/kubemail/mailserver/smtp"
	"github.com/kubemail/kubemail/mailserver/store"
	"github.com/kubemail/kubemail/mailserver/store/sqlite"
)

// The harness wires the packages the way the server does (what
// mailserver/server does for `kubemail server`): store, configuration,
// Intake as the SMTP Deliverer and Relayer, msgauth.Checker on MX, the
// queue workers. Every server listens on 127.0.0.1 and finds the others
// through one fake DNS server.

// testPassword is every test mailbox's password.
const testPassword = "correct horse battery staple"

var (
	hashOnce sync.Once
	hashVal  string
)

func passwordHash(t *testing.T) string {
	t.Helper()
	hashOnce.Do(func() {
		h, err := auth.Hash(testPassword)
		if err != nil {
			panic(err)
		}
		hashVal = h
	})
	return hashVal
}

// hangGuard bounds every wait for an asynchronous outcome, so a broken
// queue fails a test instead of hanging it; it is not a performance
// assertion.
const hangGuard = 30 * time.Second

// nodeOptions describe one test mail server.
type nodeOptions struct {
	domain    string   // its mail domain, e.g. "a.test"
	mailboxes []string // local parts
	dkim      bool     // sign with a new RSA key, published in the DNS
	outbound  config.Outbound
	relay     config.Relay
	dir       string       // store directory; "" for a new one
	mxAddr    string       // "" for 127.0.0.1:0
	senderAll bool         // submission clients may use any sender (a smarthost)
	dmarc     string       // the domain's DMARC record, "" for p=reject
	http      *http.Client // fetches MTA-STS policies
	untrusted bool         // the queue trusts no certificate
	clock     Clock        // nil: the system's
	mutate    func(*config.Config)
	tune      func(*Options)                  // changes the queue's options
	listenMX  func(net.Listener) net.Listener // wraps the MX listener
}

// node is one running test mail server.
type node struct {
	t       *testing.T
	opts    nodeOptions
	dns     *dnstest.Server
	holder  *config.Holder
	store   *sqlite.Store
	intake  *delivery.Intake
	queue   *Queue
	mx, sub *smtp.Server
	mxOpts  smtp.Options
	dir     *testDirectory
	mxAddr  string
	subAddr string
	logs    *testlog.Buffer
	hook    *deliverHook
	stop    func()
}

// deliverHook makes the MX refuse messages temporarily while fail is set,
// and hold them while gate is open, counting how many it holds at once.
type deliverHook struct {
	*delivery.Intake
	mu        sync.Mutex
	fail      bool
	gate      chan struct{}
	active    int
	maxActive int
}

func (h *deliverHook) Deliver(ctx context.Context, env mail.Envelope, body []byte) error {
	h.mu.Lock()
	fail, gate := h.fail, h.gate
	h.active++
	h.maxActive = max(h.maxActive, h.active)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.active--
		h.mu.Unlock()
	}()
	if fail {
		return errors.New("test: the mailbox store is down")
	}
	if gate != nil {
		<-gate
	}
	return h.Intake.Deliver(ctx, env, body)
}

// hold makes deliveries wait until the returned channel is closed.
func (h *deliverHook) hold() chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gate = make(chan struct{})
	return h.gate
}

// counts returns how many deliveries are held now and at most.
func (h *deliverHook) counts() (active, maxActive int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.active, h.maxActive
}

func (h *deliverHook) setFail(fail bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail = fail
}

// publishDomain adds a domain's MX, address, SPF, DKIM and DMARC records.
func publishDomain(t *testing.T, dns *dnstest.Server, o nodeOptions) *config.DKIM {
	t.Helper()
	d := o.domain
	dmarc := o.dmarc
	if dmarc == "" {
		dmarc = "v=DMARC1; p=reject"
	}
	dns.Add(t,
		d+". IN MX 10 mx."+d+".",
		"mx."+d+". IN A 127.0.0.1",
		d+`. IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		"_dmarc."+d+`. IN TXT "`+dmarc+`"`)
	if !o.dkim {
		return nil
	}
	pemKey, key, err := msgauth.GenerateKey(msgauth.AlgorithmRSA)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), d+".dkim.pem")
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	txt, err := msgauth.TXTRecord(key)
	if err != nil {
		t.Fatal(err)
	}
	dns.Add(t, msgauth.ZoneRecord(d, "k1", txt))
	return &config.DKIM{Selector: "k1", KeyFile: keyFile}
}

// nodeConfig builds a node's configuration.
func nodeConfig(t *testing.T, o nodeOptions, dkim *config.DKIM, dns string) *config.Config {
	t.Helper()
	c := config.Config{
		APIVersion: config.APIVersion, Kind: config.Kind, Hostname: "mx." + o.domain,
		Storage:  config.Storage{Path: o.dir},
		Domains:  []config.Domain{{Name: o.domain, DKIM: dkim}},
		Outbound: o.outbound,
		Relay:    o.relay,
	}
	c.Outbound.Resolver = dns
	for _, m := range o.mailboxes {
		c.Mailboxes = append(c.Mailboxes, config.Mailbox{Address: m + "@" + o.domain, PasswordHash: passwordHash(t)})
	}
	if o.mutate != nil {
		o.mutate(&c)
	}
	cfg, err := config.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startNode starts a mail server for o.domain.
func startNode(t *testing.T, dns *dnstest.Server, o nodeOptions) *node {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	dkim := publishDomain(t, dns, o)
	return runNode(t, dns, o, nodeConfig(t, o, dkim, dns.Addr()))
}

// runNode starts the servers of a configured node; it stops when the test ends.
func runNode(t *testing.T, dns *dnstest.Server, o nodeOptions, cfg *config.Config) *node {
	t.Helper()
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", o.domain)
	st, err := sqlite.Open(o.dir, sqlite.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, m := range cfg.Mailboxes {
		if _, err := st.EnsureAccount(ctx, m.Address); err != nil {
			t.Fatal(err)
		}
	}
	holder := config.NewHolder(cfg)
	r, err := resolver.New(resolver.Options{Server: dns.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, opts: o, dns: dns, holder: holder, store: st, logs: logs}
	roots := sharedPKI(t).pool
	if o.untrusted {
		roots = x509.NewCertPool()
	}
	qopts := Options{Store: st, Config: holder, Resolver: r, RootCAs: roots, Logger: log,
		Jitter: func(time.Duration) time.Duration { return 0 }, PollInterval: 200 * time.Millisecond, HTTPClient: o.http,
		Clock: o.clock}
	if o.tune != nil {
		o.tune(&qopts)
	}
	n.queue, err = New(qopts)
	if err != nil {
		t.Fatal(err)
	}
	n.intake, err = delivery.New(delivery.Options{Store: st, Config: holder, Kick: n.queue.Kick, Signer: msgauth.NewSigner(), Logger: log,
		Clock: o.clock})
	if err != nil {
		t.Fatal(err)
	}
	n.hook = &deliverHook{Intake: n.intake}
	dir := &testDirectory{holder: holder, senderAll: o.senderAll}
	n.dir = dir
	checker := msgauth.NewChecker(msgauth.CheckerOptions{Resolver: r, AuthServID: cfg.Hostname, Logger: log})
	common := smtp.Options{Hostname: cfg.Hostname, TLSConfig: sharedPKI(t).serverTLS(), Logger: log}
	mxOpts := common
	mxOpts.Mode, mxOpts.Checker = smtp.ModeMX, checker
	n.mxOpts = mxOpts
	n.mx, err = smtp.NewServer(mxOpts, dir, nil, n.hook)
	if err != nil {
		t.Fatal(err)
	}
	subOpts := common
	subOpts.Mode = smtp.ModeSubmission
	n.sub, err = smtp.NewServer(subOpts, dir, testAuth{holder}, n.intake)
	if err != nil {
		t.Fatal(err)
	}
	mxAddr := o.mxAddr
	if mxAddr == "" {
		mxAddr = "127.0.0.1:0"
	}
	mxl, err := net.Listen("tcp", mxAddr)
	if err != nil {
		t.Fatal(err)
	}
	if o.listenMX != nil {
		mxl = o.listenMX(mxl)
	}
	subl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.mxAddr, n.subAddr = mxl.Addr().String(), subl.Addr().String()
	qctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = n.mx.Serve(mxl) })
	wg.Go(func() { _ = n.sub.Serve(subl) })
	wg.Go(func() {
		if err := n.queue.Run(qctx); err != nil {
			t.Errorf("queue of %s: %v", o.domain, err)
		}
	})
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			_ = n.mx.Close()
			_ = n.sub.Close()
			cancel()
			wg.Wait()
			if err := st.Close(); err != nil {
				t.Errorf("closing the store of %s: %v", o.domain, err)
			}
		})
	}
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("logs of %s:\n%s", o.domain, logs.String())
		}
	})
	return n
}

// serveMX serves a new MX server on l (after n.mx was closed) until the
// test ends.
func (n *node) serveMX(l net.Listener) {
	n.t.Helper()
	mx, err := smtp.NewServer(n.mxOpts, n.dir, nil, n.hook)
	if err != nil {
		n.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = mx.Serve(l)
	}()
	n.t.Cleanup(func() {
		_ = mx.Close()
		<-done
	})
}

// mxPort is the port of the node's MX listener.
func (n *node) mxPort() int {
	_, p, _ := net.SplitHostPort(n.mxAddr)
	var port int
	_, _ = fmt.Sscan(p, &port)
	return port
}

// submit sends a message through the node's submission listener as user
// (a local part), with STARTTLS and AUTH PLAIN.
func (n *node) submit(user string, mail *gosmtp.MailOptions, rcpts []string, msg string) error {
	n.t.Helper()
	conn, err := net.Dial("tcp", n.subAddr)
	if err != nil {
		n.t.Fatal(err)
	}
	c, err := gosmtp.NewClientStartTLS(conn, &tls.Config{ServerName: "localhost", RootCAs: sharedPKI(n.t).pool})
	if err != nil {
		n.t.Fatalf("STARTTLS to %s: %v", n.opts.domain, err)
	}
	defer c.Close()
	from := user + "@" + n.opts.domain
	if err := c.Auth(sasl.NewPlainClient("", from, testPassword)); err != nil {
		n.t.Fatalf("AUTH: %v", err)
	}
	if err := c.Mail(from, mail); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// inbox returns the bodies in a mailbox's INBOX, oldest first.
func (n *node) inbox(account string) [][]byte {
	n.t.Helper()
	f := store.FolderRef{Account: account, Folder: store.Inbox}
	l, err := n.store.ListMessages(n.t.Context(), f, store.ListOptions{UIDs: store.AllUIDs()})
	if err != nil {
		n.t.Fatal(err)
	}
	var out [][]byte
	for _, m := range l.Messages {
		b, err := n.store.Body(n.t.Context(), f, m.UID)
		if err != nil {
			n.t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// waitInbox waits until account's INBOX holds at least count messages.
func (n *node) waitInbox(account string, count int) [][]byte {
	n.t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		got := n.inbox(account)
		if len(got) >= count {
			return got
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s holds %d messages, want %d", account, len(got), count)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queued returns the node's queue.
func (n *node) queued() []store.QueueEntry {
	n.t.Helper()
	q, err := n.store.ListQueue(n.t.Context())
	if err != nil {
		n.t.Fatal(err)
	}
	return q
}

// waitQueue waits until cond holds for the queue.
func (n *node) waitQueue(what string, cond func([]store.QueueEntry) bool) []store.QueueEntry {
	n.t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		q := n.queued()
		if cond(q) {
			return q
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("waiting for the queue of %s: %s; queue %+v", n.opts.domain, what, q)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
