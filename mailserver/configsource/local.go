package configsource

import (
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/kubemail/kubemail/mailserver/config"
)

// Local runs a configuration written for a pod on a local machine, the way
// a container runtime would: the pod's absolute paths (its volume mounts)
// live under Root, and its container ports are published on other
// addresses. `kubemail dev` runs each MailServer's pod this way
// (internal/devrun). The server still reports, in its status ConfigMap,
// the hash of the configuration as the operator wrote it, so the
// operator's ConfigApplied means the same thing as in a cluster.
type Local struct {
	// Root is the directory the configuration's absolute paths are taken
	// under: /var/lib/kubemail becomes Root/var/lib/kubemail. Empty keeps
	// the paths.
	Root string
	// Publish maps a container port to the address that listens for it: a
	// listener at ":2525" listens on Publish[2525] instead. A listener whose
	// port is not in the map is refused, so nothing listens where the
	// caller did not ask. Empty keeps the listeners' addresses.
	Publish map[int]string
	// Resolver, when set, replaces outbound.resolver, as a pod's dnsConfig
	// would name its nameserver.
	Resolver string
}

// ParsePublish reads PORT=HOST:PORT, the form of kubemail server's
// --publish flag.
func ParsePublish(s string) (port int, addr string, err error) {
	p, addr, ok := strings.Cut(s, "=")
	if !ok {
		return 0, "", fmt.Errorf("parsing %q: want CONTAINERPORT=HOST:PORT", s)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return 0, "", fmt.Errorf("parsing %q: %q is not a port number", s, p)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return 0, "", fmt.Errorf("parsing %q: %w", s, err)
	}
	return port, addr, nil
}

// rebase returns c with its paths under Root and its listeners published.
func (l *Local) rebase(c *config.Config) (*config.Config, error) {
	out := *c // the compiled fields are rebuilt by config.New
	path := func(p string) string {
		if l.Root == "" || !filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(l.Root, p)
	}
	var errs []string
	publish := func(name string, ln *config.Listener) {
		if !ln.Enabled() || len(l.Publish) == 0 {
			return
		}
		addr, err := l.PublishedAddr(ln.Address)
		if err != nil {
			errs = append(errs, fmt.Sprintf("listeners.%s: %v", name, err))
			return
		}
		ln.Address = addr
	}
	ls := &out.Listeners
	for name, ln := range map[string]*config.Listener{
		"smtp": &ls.SMTP, "submission": &ls.Submission, "submissions": &ls.Submissions,
		"imap": &ls.IMAP, "imaps": &ls.IMAPS, "pop3": &ls.POP3, "pop3s": &ls.POP3S,
		"ops": &ls.Ops, "admin": &ls.Admin,
	} {
		publish(name, ln)
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("running the configuration locally: %s", strings.Join(errs, "; "))
	}
	if l.Resolver != "" {
		out.Outbound.Resolver = l.Resolver
	}
	out.Storage.Path = path(out.Storage.Path)
	out.TLS.CertFile, out.TLS.KeyFile = path(out.TLS.CertFile), path(out.TLS.KeyFile)
	out.Domains = append([]config.Domain(nil), c.Domains...)
	for i, d := range out.Domains {
		if d.DKIM != nil {
			k := *d.DKIM
			k.KeyFile = path(k.KeyFile)
			out.Domains[i].DKIM = &k
		}
	}
	out.Relay.Routes = append([]config.RelayRoute(nil), c.Relay.Routes...)
	for i, r := range out.Relay.Routes {
		if r.Smarthost != nil {
			sh := *r.Smarthost
			sh.CredentialsFile, sh.CAFile = path(sh.CredentialsFile), path(sh.CAFile)
			out.Relay.Routes[i].Smarthost = &sh
		}
	}
	rebased, err := config.New(out)
	if err != nil {
		return nil, fmt.Errorf("running the configuration locally: %w", err)
	}
	return rebased, nil
}

// sourceHashes remembers, for the latest configurations a Local rebased,
// the hash of the configuration they came from, which is what the server
// reports. The server serves one configuration at a time and reads a few
// ahead at most, so the latest eight are plenty.
type sourceHashes struct {
	mu    sync.Mutex
	pairs [][2]string // {rebased, source}, oldest first
}

// add records that rebased came from source.
func (h *sourceHashes) add(rebased, source string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pairs = append(h.pairs, [2]string{rebased, source})
	if n := len(h.pairs); n > 8 {
		h.pairs = append(h.pairs[:0:0], h.pairs[n-8:]...)
	}
}

// of returns the source hash of a served configuration's hash.
func (h *sourceHashes) of(hash string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.pairs) - 1; i >= 0; i-- {
		if h.pairs[i][0] == hash {
			return h.pairs[i][1]
		}
	}
	return hash
}

// PublishedAddr returns the address that listens for a container address
// such as ":2525": Publish's entry for its port.
func (l *Local) PublishedAddr(addr string) (string, error) {
	_, p, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		return "", fmt.Errorf("cannot read the port of %q", addr)
	}
	published, ok := l.Publish[port]
	if !ok {
		return "", fmt.Errorf("port %d is not published", port)
	}
	return published, nil
}
