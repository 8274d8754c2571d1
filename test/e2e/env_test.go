package e2e

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubemail/kubemail/internal/testpki"
	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
)

// The demo account of config/standalone/server.yaml.
const (
	demoUser     = "demo@example.test"
	demoPassword = "demo-password"
	samplePath   = "../../config/standalone/server.yaml"
)

// env is one server's world: a directory holding its configuration, TLS
// files and store, the addresses it listens on, and the process.
type env struct {
	t       *testing.T
	dir     string
	cfg     config.Config // the configuration last written
	cfgPath string
	caFile  string // the CA that signed the server certificate
	proc    *proc
}

// newEnv writes a configuration with the standalone sample's domains,
// mailboxes and aliases, every listener on a free loopback port, a
// certificate made by the test, and the store in ./data (relative to the
// server's working directory), then applies mutate.
func newEnv(t *testing.T, mutate ...func(*config.Config)) *env {
	t.Helper()
	sample, err := config.Load(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: t.TempDir()}
	e.cfgPath = filepath.Join(e.dir, "server.yaml")
	pki := testpki.New(t) // a CA and a certificate for localhost and 127.0.0.1
	certFile, keyFile := pki.WriteFiles(t, e.dir)
	caFile := pki.CAFile
	e.caFile = caFile
	ports := freePorts(t, 8)
	e.cfg = config.Config{
		APIVersion: config.APIVersion,
		Kind:       config.Kind,
		Hostname:   "localhost",
		Listeners: config.Listeners{
			SMTP:        config.Listener{Address: ports[0]},
			Submission:  config.Listener{Address: ports[1]},
			Submissions: config.Listener{Address: ports[2]},
			POP3:        config.Listener{Address: ports[3]},
			POP3S:       config.Listener{Address: ports[4]},
			Ops:         config.Listener{Address: ports[5]},
			IMAP:        config.Listener{Address: ports[6]},
			IMAPS:       config.Listener{Address: ports[7]},
		},
		TLS:       config.TLS{CertFile: certFile, KeyFile: keyFile},
		Storage:   config.Storage{Path: "data"},
		Domains:   sample.Domains,
		Mailboxes: sample.Mailboxes,
		Aliases:   sample.Aliases,
	}
	// The MX listener's SPF/DKIM/DMARC checks look the sender's domain up:
	// in tests only in a DNS server on 127.0.0.1, never the system's.
	e.cfg.Outbound.Resolver = dnstest.Start(t).Addr()
	for _, m := range mutate {
		m(&e.cfg)
	}
	e.write(e.cfg)
	return e
}

// write renders c into the configuration file, atomically.
func (e *env) write(c config.Config) {
	e.t.Helper()
	cfg, err := config.New(c)
	if err != nil {
		e.t.Fatalf("the test configuration does not validate: %v", err)
	}
	y, err := cfg.YAML()
	if err != nil {
		e.t.Fatal(err)
	}
	e.cfg = c
	e.writeRaw(y)
}

// writeRaw replaces the configuration file with data, atomically.
func (e *env) writeRaw(data []byte) {
	e.t.Helper()
	tmp := e.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, e.cfgPath); err != nil {
		e.t.Fatal(err)
	}
}

// start runs the server and waits until it is ready.
func (e *env) start() *proc {
	e.t.Helper()
	e.proc = startProc(e.t, e.dir, e.cfgPath, e.cfg.Listeners.Ops.Address)
	return e.proc
}

// addr returns a listener's address.
func (e *env) addr(name string) string {
	l := e.cfg.Listeners
	return map[string]string{
		"smtp": l.SMTP.Address, "submission": l.Submission.Address, "submissions": l.Submissions.Address,
		"pop3": l.POP3.Address, "pop3s": l.POP3S.Address, "imap": l.IMAP.Address, "imaps": l.IMAPS.Address,
		"ops": l.Ops.Address,
	}[name]
}

// port returns a listener's port, for clients that take host and port apart.
func (e *env) port(name string) string {
	_, port, err := net.SplitHostPort(e.addr(name))
	if err != nil {
		e.t.Fatal(err)
	}
	return port
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
