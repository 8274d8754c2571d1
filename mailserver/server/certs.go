package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubemail/kubemail/internal/selfsigned"
	"github.com/kubemail/kubemail/mailserver/config"
)

// DefaultCertPollInterval is how often the certificate files are checked
// for changes.
const DefaultCertPollInterval = 5 * time.Second

// selfSignedValidity is the lifetime of a generated certificate.
const selfSignedValidity = 365 * 24 * time.Hour

// certSource hands out the server's certificate through
// tls.Config.GetCertificate. With tls.certFile and tls.keyFile it loads
// them and, polling, loads them again when either changes (modification
// time, size, or the target of a symlink, which is how Kubernetes swaps a
// mounted Secret); the new certificate is swapped in atomically, so new
// handshakes use it while established connections go on undisturbed. A
// pair that does not load (a half-written update) is logged and the
// current certificate kept; the next poll tries again.
//
// Without files it generates a self-signed ECDSA P-256 certificate for the
// hostname, once (again if the hostname changes).
type certSource struct {
	cfg func() *config.Config
	log *slog.Logger
	now func() time.Time
	cur atomic.Pointer[tls.Certificate]

	mu         sync.Mutex // serialises refresh
	loaded     fileStamp  // of the files behind cur, zero for self-signed
	selfSigned *tls.Certificate
	selfHost   string
	lastErr    string // the last refresh error logged, to log each problem once
}

func newCertSource(cfg func() *config.Config, log *slog.Logger) (*certSource, error) {
	s := &certSource{cfg: cfg, log: log, now: time.Now}
	if err := s.refresh(); err != nil {
		return nil, err
	}
	return s, nil
}

// tlsConfig returns the configuration shared by every TLS listener.
func (s *certSource) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.getCertificate,
	}
}

func (s *certSource) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := s.cur.Load()
	if c == nil {
		return nil, errors.New("no TLS certificate loaded")
	}
	return c, nil
}

// run polls for changes until ctx is done.
func (s *certSource) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refreshLogged()
		}
	}
}

// refreshLogged refreshes and logs a failure once per distinct problem.
func (s *certSource) refreshLogged() {
	err := s.refresh()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.lastErr = ""
	case err.Error() != s.lastErr:
		s.lastErr = err.Error()
		s.log.Error("Cannot load the TLS certificate; keeping the current one", "error", err)
	}
}

// refresh serves the certificate the configuration names, loading it when
// its files changed since the last load.
func (s *certSource) refresh() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cfg()
	if c.TLS.SelfSigned() {
		if s.selfSigned == nil || s.selfHost != c.Hostname {
			cert, err := selfSignedCertificate(c.Hostname, s.now())
			if err != nil {
				return err
			}
			s.selfSigned, s.selfHost = cert, c.Hostname
			s.log.Warn("No TLS certificate configured; generated a self-signed one (clients will not trust it)",
				"hostname", c.Hostname, "notAfter", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		s.loaded = fileStamp{}
		s.cur.Store(s.selfSigned)
		return nil
	}
	stamp, err := stampFiles(c.TLS.CertFile, c.TLS.KeyFile)
	if err != nil {
		return err
	}
	if stamp == s.loaded {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
	if err != nil {
		return fmt.Errorf("loading TLS certificate %s and key %s: %w", c.TLS.CertFile, c.TLS.KeyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("parsing TLS certificate %s: %w", c.TLS.CertFile, err)
		}
	}
	s.loaded = stamp
	s.cur.Store(&cert)
	s.log.Info("Loaded TLS certificate", "certFile", c.TLS.CertFile, "subject", cert.Leaf.Subject.String(),
		"dnsNames", cert.Leaf.DNSNames, "notAfter", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// fileStamp identifies a version of the certificate and key files.
type fileStamp struct {
	cert, key fileVersion
}

type fileVersion struct {
	path     string // as configured
	resolved string // after symlinks
	size     int64
	modTime  time.Time
}

func stampFiles(certFile, keyFile string) (fileStamp, error) {
	cert, err := versionOf(certFile)
	if err != nil {
		return fileStamp{}, err
	}
	key, err := versionOf(keyFile)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{cert: cert, key: key}, nil
}

func versionOf(path string) (fileVersion, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fileVersion{}, fmt.Errorf("checking TLS file: %w", err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return fileVersion{}, fmt.Errorf("checking TLS file: %w", err)
	}
	return fileVersion{path: path, resolved: resolved, size: fi.Size(), modTime: fi.ModTime()}, nil
}

// selfSignedCertificate makes the self-signed certificate for hostname.
func selfSignedCertificate(hostname string, now time.Time) (*tls.Certificate, error) {
	c, err := selfsigned.New(hostname, now, selfSignedValidity)
	if err != nil {
		return nil, fmt.Errorf("generating a self-signed certificate: %w", err)
	}
	return c.TLS(), nil
}
