package queue

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/msgauth"
	"github.com/kubemail/kubemail/mailserver/resolver"
	"github.com/kubemail/kubemail/mailserver/smtpclient"
	"github.com/kubemail/kubemail/mailserver/store"
)

// outcome is what one attempt did for one recipient.
type outcome int

const (
	outTemporary outcome = iota // try again later (also every unknown failure)
	outDelivered                // the next hop took responsibility
	outPermanent                // failed for good: report to the sender
)

// rcptStatus is one recipient's attempt result.
type rcptStatus struct {
	outcome outcome
	reply   smtpclient.Reply // the remote reply, or one made up for local failures
	remote  string           // the server that answered, "" when none did
	relayed bool             // delivered to a server without DSN (RFC 3461 §5.2.2)
}

// tlsMode is how a connection to one host uses TLS.
type tlsMode int

const (
	tlsOpportunistic tlsMode = iota // STARTTLS when offered, unverified; plain when it fails
	tlsVerified                     // STARTTLS required, certificate verified for host
	tlsImplicit                     // TLS from the start, verified
)

// target is one server to try.
type target struct {
	host    string // name to connect to and verify
	port    int
	tls     tlsMode
	roots   *x509.CertPool
	rootsID string // identifies roots: rootsDefault, or the CA file and its content
	creds   string // credentials file, "" for no AUTH
}

// rootsDefault is the rootsID of Options.RootCAs.
const rootsDefault = "default"

// made-up replies for failures that are not a server's answer.
func localReply(code int, enhanced, format string, args ...any) smtpclient.Reply {
	return smtpclient.Reply{Code: code, Enhanced: enhanced, Text: fmt.Sprintf(format, args...)}
}

func all(n int, st rcptStatus) []rcptStatus {
	out := make([]rcptStatus, n)
	for i := range out {
		out[i] = st
	}
	return out
}

func temp(r smtpclient.Reply, remote string) rcptStatus {
	return rcptStatus{outcome: outTemporary, reply: r, remote: remote}
}
func perm(r smtpclient.Reply, remote string) rcptStatus {
	return rcptStatus{outcome: outPermanent, reply: r, remote: remote}
}

// classify turns a reply into an outcome: 2xx delivered, 5xx permanent,
// anything else temporary (RFC 5321 §4.2.1).
func classify(r smtpclient.Reply, remote string) rcptStatus {
	switch {
	case r.Code >= 200 && r.Code < 300:
		return rcptStatus{outcome: outDelivered, reply: r, remote: remote}
	case r.Code >= 500 && r.Code < 600:
		return perm(r, remote)
	default:
		return temp(r, remote)
	}
}

// deliver makes one attempt for a group: over a cached session to one of
// the destination's servers when there is one, else to every target in
// order until one of them settles the recipients. It also reports whether
// any server answered.
func (q *Queue) deliver(ctx context.Context, cfg *config.Config, g group, msg store.OutboundMessage, body []byte,
	log *slog.Logger) ([]rcptStatus, reach) {
	n := len(g.rcpts)
	targets, fail := q.targets(ctx, cfg, g, msg, body, log)
	if fail != nil {
		return all(n, *fail), reachUnknown
	}
	if statuses, ok := q.deliverCached(ctx, cfg, g, targets, msg, body, log); ok {
		return statuses, reachSome
	}
	last := temp(localReply(451, "4.4.1", "no mail server for %s could be reached", g.route.Key), "")
	dialed, reached := false, false
	for _, t := range targets {
		res := q.tryTarget(ctx, cfg, g.route.Key, t, msg, body, g.rcpts, log)
		dialed, reached = dialed || res.dialed, reached || res.reached
		if !res.next {
			return res.statuses, reachSome
		}
		last = res.statuses[0]
		log.Info("Mail server failed; trying the next one", "host", t.host, "reply", res.statuses[0].reply.String())
	}
	switch {
	case reached:
		return all(n, last), reachSome
	case dialed:
		return all(n, last), reachNone
	}
	return all(n, last), reachUnknown
}

// deliverCached delivers over an idle session to one of targets, in their
// order, whose key is exactly what the target requires now. ok false:
// there was none that could take the message, and nothing was sent.
func (q *Queue) deliverCached(ctx context.Context, cfg *config.Config, g group, targets []target, msg store.OutboundMessage,
	body []byte, log *slog.Logger) (statuses []rcptStatus, ok bool) {
	if q.sessions.Len() == 0 {
		return nil, false
	}
	for _, t := range targets {
		creds := ""
		if t.creds != "" {
			user, pass, err := readCredentials(t.creds)
			if err != nil {
				continue // a new connection reports it
			}
			creds = credentialsID(user, pass)
		}
		key := t.sessionKey(g.route.Key, q.hostname(cfg), creds)
	sessions:
		for sc := q.sessions.Take(key); sc != nil; sc = q.sessions.Take(key) {
			s := &session{q: q, cfg: cfg, dest: g.route.Key, t: t, msg: msg, body: body, rcpts: g.rcpts, log: log}
			statuses, outcome := s.reuse(ctx, sc)
			switch {
			case outcome == reuseDone:
				return statuses, true
			case ctx.Err() != nil:
				return nil, false
			case outcome == reuseUnsuitable:
				break sessions // its siblings are sessions to the same server
			}
		}
	}
	return nil, false
}

// targets lists the servers to try: the smarthost, or the domain's mail
// exchangers under its MTA-STS policy. A non-nil status fails every
// recipient at once.
func (q *Queue) targets(ctx context.Context, cfg *config.Config, g group, msg store.OutboundMessage, body []byte,
	log *slog.Logger) ([]target, *rcptStatus) {
	if sh := g.route.Smarthost; sh != nil {
		t := target{host: sh.Host, port: sh.Port, roots: q.opts.RootCAs, rootsID: rootsDefault, creds: sh.CredentialsFile}
		switch sh.TLS {
		case config.SmarthostImplicitTLS:
			t.tls = tlsImplicit
		case config.SmarthostStartTLSOpportunistic:
			t.tls = tlsOpportunistic
		default:
			t.tls = tlsVerified
		}
		if sh.CAFile != "" {
			roots, id, err := loadRoots(sh.CAFile)
			if err != nil {
				st := temp(localReply(451, "4.7.5", "cannot read the smarthost's CA file: %v", err), "")
				return nil, &st
			}
			t.roots, t.rootsID = roots, id
		}
		if msg.RequireTLS && t.tls == tlsOpportunistic {
			st := perm(localReply(550, "5.7.30", "REQUIRETLS: the smarthost route does not verify TLS"), "")
			return nil, &st
		}
		return []target{t}, nil
	}
	domain := g.rcpts[0].Domain
	hosts, fail := q.mxHosts(ctx, domain)
	if fail != nil {
		return nil, fail
	}
	port := cfg.OutboundPolicy().Port
	mode := tlsOpportunistic
	var policy *STSPolicy
	if cfg.OutboundPolicy().MTASTS && !tlsOptional(body, msg) {
		var err error
		if policy, err = q.sts.Policy(ctx, domain); err != nil {
			log.Warn("MTA-STS policy unavailable; delivering without it", "domain", domain, "error", err)
		}
	}
	enforce := policy != nil && policy.Mode == STSModeEnforce
	if enforce {
		mode = tlsVerified
		var kept []string
		for _, h := range hosts {
			if policy.Matches(h) {
				kept = append(kept, h)
			}
		}
		if len(kept) == 0 {
			// RFC 8461 §5.1: do not deliver; a temporary failure.
			st := temp(localReply(451, "4.7.5", "no mail exchanger of %s matches its MTA-STS policy", domain), "")
			return nil, &st
		}
		hosts = kept
	} else if policy != nil && policy.Mode == STSModeTesting {
		for _, h := range hosts {
			if !policy.Matches(h) {
				log.Warn("MX host does not match the MTA-STS policy in testing mode", "domain", domain, "host", h)
			}
		}
	}
	if msg.RequireTLS && !enforce {
		// RFC 8689 §4.2.1: the MX hosts must be authenticated (MTA-STS;
		// DNSSEC is not validated here).
		st := perm(localReply(550, "5.7.30", "REQUIRETLS: the mail exchangers of %s cannot be authenticated (no MTA-STS policy in enforce mode)", domain), "")
		return nil, &st
	}
	out := make([]target, len(hosts))
	for i, h := range hosts {
		out[i] = target{host: h, port: port, tls: mode, roots: q.opts.RootCAs, rootsID: rootsDefault}
	}
	return out, nil
}

// tlsOptional reports a "TLS-Required: No" header (RFC 8689 §5), which
// asks to deliver even when TLS policies (MTA-STS) cannot be met; it is
// ignored with REQUIRETLS.
func tlsOptional(body []byte, msg store.OutboundMessage) bool {
	if msg.RequireTLS {
		return false
	}
	fields, _ := msgauth.SplitHeader(body)
	for _, v := range msgauth.FieldValues(fields, "TLS-Required") {
		if strings.EqualFold(v, "No") {
			return true
		}
	}
	return false
}

// mxHosts resolves a domain's mail exchangers in preference order, equal
// preferences shuffled (RFC 5321 §5.1), the domain itself when it has no
// MX records, and fails at once for a null MX (RFC 7505) or a domain
// that does not exist.
func (q *Queue) mxHosts(ctx context.Context, domain string) ([]string, *rcptStatus) {
	mxs, err := q.opts.Resolver.LookupMX(ctx, domain)
	switch {
	case resolver.IsNotFound(err):
		st := perm(localReply(550, "5.1.2", "the domain %s does not exist", domain), "")
		return nil, &st
	case err != nil:
		st := temp(localReply(451, "4.4.3", "looking up the MX records of %s: %v", domain, err), "")
		return nil, &st
	case len(mxs) == 0:
		return []string{domain}, nil // RFC 5321 §5.1: the implicit MX
	}
	if len(mxs) == 1 && strings.TrimSuffix(mxs[0].Host, ".") == "" {
		// RFC 7505 §3: the domain accepts no mail.
		st := perm(localReply(556, "5.1.10", "the domain %s accepts no mail (null MX)", domain), "")
		return nil, &st
	}
	// Shuffle within each preference (LookupMX sorted them).
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] }) //nolint:gosec // G404: load spreading
	sortMX(mxs)
	var hosts []string
	for _, mx := range mxs {
		if h := strings.TrimSuffix(mx.Host, "."); h != "" {
			hosts = append(hosts, strings.ToLower(h))
		}
	}
	return hosts, nil
}

// sortMX is a stable sort by preference.
func sortMX(mxs []*net.MX) {
	for i := 1; i < len(mxs); i++ {
		for j := i; j > 0 && mxs[j].Pref < mxs[j-1].Pref; j-- {
			mxs[j], mxs[j-1] = mxs[j-1], mxs[j]
		}
	}
}

// tryTarget tries each address of one server over new connections; the
// result's next reports that the server was not usable and the next one
// should be tried.
func (q *Queue) tryTarget(ctx context.Context, cfg *config.Config, dest string, t target, msg store.OutboundMessage,
	body []byte, rcpts []store.QueuedRecipient, log *slog.Logger) tryResult {
	n := len(rcpts)
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(t.host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		ips, err := q.opts.Resolver.LookupIP(ctx, t.host)
		if err != nil {
			return tryResult{statuses: all(n, temp(localReply(451, "4.4.3", "looking up %s: %v", t.host, err), "")), next: true}
		}
		addrs = ips
	}
	out := tryResult{statuses: all(n, temp(localReply(451, "4.4.1", "no address of %s", t.host), "")), next: true}
	for _, ip := range addrs {
		addr := net.JoinHostPort(ip.String(), strconv.Itoa(t.port))
		for _, plain := range []bool{false, true} {
			s := &session{q: q, cfg: cfg, dest: dest, t: t, msg: msg, body: body, rcpts: rcpts, plain: plain, log: log}
			res := s.run(ctx, addr)
			out.dialed, out.reached = out.dialed || res.dialed, out.reached || res.reached
			if !res.next {
				res.dialed, res.reached = out.dialed, out.reached
				return res
			}
			out.statuses = res.statuses
			if !res.retryPlain {
				break
			}
			log.Info("Opportunistic TLS failed; retrying without TLS", "host", t.host, "reply", res.statuses[0].reply.String())
		}
	}
	return out
}

// loadRoots reads a PEM CA bundle and returns it with its rootsID, which
// changes with the file's content.
func loadRoots(path string) (*x509.CertPool, string, error) {
	data, err := os.ReadFile(path) //nolint:gosec // G304: the configured CA file
	if err != nil {
		return nil, "", err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, "", fmt.Errorf("%s holds no PEM certificate", path)
	}
	sum := sha256.Sum256(data)
	return pool, "file:" + path + ":" + hex.EncodeToString(sum[:]), nil
}

// readCredentials reads a smarthost's credentials: a directory with the
// files "username" and "password" (a mounted basic-auth Secret), or a file
// whose first line is the user name and second the password.
func readCredentials(path string) (string, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", "", err
	}
	if st.IsDir() {
		user, err := os.ReadFile(filepath.Join(path, "username")) //nolint:gosec // G304: configured path
		if err != nil {
			return "", "", err
		}
		pass, err := os.ReadFile(filepath.Join(path, "password")) //nolint:gosec // G304: configured path
		if err != nil {
			return "", "", err
		}
		return strings.TrimRight(string(user), "\r\n"), strings.TrimRight(string(pass), "\r\n"), nil
	}
	data, err := os.ReadFile(path) //nolint:gosec // G304: configured path
	if err != nil {
		return "", "", err
	}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	if len(lines) < 2 || lines[0] == "" || lines[1] == "" {
		return "", "", errors.New("expected the user name on the first line and the password on the second")
	}
	return lines[0], lines[1], nil
}

// tlsConfig is the client configuration of a connection to t.
func (t target) tlsConfig() *tls.Config {
	if t.tls == tlsOpportunistic {
		// RFC 7435: encryption without authentication beats none.
		return &tls.Config{ServerName: t.host, InsecureSkipVerify: true} //nolint:gosec // G402: opportunistic TLS
	}
	return &tls.Config{ServerName: t.host, RootCAs: t.roots, MinVersion: tls.VersionTLS12}
}
