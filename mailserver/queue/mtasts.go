package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubemail/kubemail/mailserver/resolver"
)

// MTA-STS policy modes (RFC 8461 §3.2).
const (
	STSModeEnforce = "enforce"
	STSModeTesting = "testing"
	STSModeNone    = "none"
)

// Limits of MTA-STS fetching.
const (
	stsMaxPolicyBytes = 64 << 10         // RFC 8461 §3.3 suggests 64 KiB
	stsMaxAge         = 31557600         // RFC 8461 §3.2: at most one year, in seconds
	stsFetchTimeout   = 60 * time.Second // RFC 8461 §3.3: at least a minute
)

// STSPolicy is a domain's MTA-STS policy (RFC 8461 §3.2).
type STSPolicy struct {
	Mode   string
	MX     []string
	MaxAge time.Duration
	// ID is the id of the TXT record the policy was fetched for.
	ID string
	// Expires is when the cached policy must be fetched again.
	Expires time.Time
}

// Matches reports whether an MX host name matches one of the policy's mx
// patterns: exactly, or "*.example.com" matching one more label (RFC 8461
// §4.1).
func (p *STSPolicy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		pat = strings.ToLower(strings.TrimSuffix(pat, "."))
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if i := strings.IndexByte(host, '.'); i > 0 && host[i+1:] == rest {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}

// parseSTSPolicy parses a policy body (RFC 8461 §3.2): "key: value"
// lines ending in CRLF or LF; unknown keys are ignored.
func parseSTSPolicy(body string) (*STSPolicy, error) {
	p := &STSPolicy{}
	version, maxAge := false, false
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("policy line %q is not key: value", line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "version":
			if v != "STSv1" {
				return nil, fmt.Errorf("policy version %q is not STSv1", v)
			}
			version = true
		case "mode":
			switch v {
			case STSModeEnforce, STSModeTesting, STSModeNone:
				p.Mode = v
			default:
				return nil, fmt.Errorf("policy mode %q is unknown", v)
			}
		case "mx":
			p.MX = append(p.MX, v)
		case "max_age":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || len(v) > 10 {
				return nil, fmt.Errorf("policy max_age %q is not a number of seconds", v)
			}
			p.MaxAge = time.Duration(min(n, stsMaxAge)) * time.Second
			maxAge = true
		}
	}
	switch {
	case !version:
		return nil, errors.New("policy has no version: STSv1")
	case p.Mode == "":
		return nil, errors.New("policy has no mode")
	case !maxAge:
		return nil, errors.New("policy has no max_age")
	case p.Mode != STSModeNone && len(p.MX) == 0:
		return nil, errors.New("policy has no mx")
	}
	return p, nil
}

// stsRecordID returns the id of a domain's _mta-sts TXT record (RFC 8461
// §3.1), "" when there is no valid one.
func stsRecordID(txts []string) string {
	var ids []string
	for _, t := range txts {
		if !strings.HasPrefix(t, "v=STSv1;") {
			continue
		}
		for _, f := range strings.Split(t, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
			if k == "id" && v != "" {
				ids = append(ids, v)
			}
		}
	}
	if len(ids) != 1 { // RFC 8461 §3.1: several records are no record
		return ""
	}
	return ids[0]
}

// stsCache fetches and caches MTA-STS policies. It is safe for
// concurrent use.
type stsCache struct {
	resolver resolver.Resolver
	http     *http.Client
	clock    Clock

	mu       sync.Mutex
	policies map[string]*STSPolicy
}

func newSTSCache(r resolver.Resolver, client *http.Client, clock Clock) *stsCache {
	if client == nil {
		client = &http.Client{Timeout: stsFetchTimeout}
	}
	// RFC 8461 §3.3: redirects must not be followed.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &stsCache{resolver: r, http: &c, clock: clock, policies: map[string]*STSPolicy{}}
}

// Policy returns the domain's policy, or nil when it has none (RFC 8461
// §3, §5.1): the TXT record announces one, the cached copy is used while
// its id matches and max_age lasts, and a failed fetch falls back to an
// unexpired cached copy.
func (s *stsCache) Policy(ctx context.Context, domain string) (*STSPolicy, error) {
	now := s.clock.Now()
	s.mu.Lock()
	cached := s.policies[domain]
	s.mu.Unlock()
	if cached != nil && !now.Before(cached.Expires) {
		cached = nil
	}
	txts, err := s.resolver.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil && !resolver.IsNotFound(err) {
		return cached, nil // a temporary DNS failure: keep using the cache
	}
	id := stsRecordID(txts)
	switch {
	case id == "":
		return cached, nil
	case cached != nil && cached.ID == id:
		return cached, nil
	}
	p, err := s.fetch(ctx, domain)
	if err != nil {
		if cached != nil {
			return cached, nil
		}
		return nil, fmt.Errorf("fetching the MTA-STS policy of %s: %w", domain, err)
	}
	p.ID, p.Expires = id, now.Add(p.MaxAge)
	s.mu.Lock()
	s.policies[domain] = p
	s.mu.Unlock()
	return p, nil
}

// fetch gets https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.3).
func (s *stsCache) fetch(ctx context.Context, domain string) (*STSPolicy, error) {
	ctx, cancel := context.WithTimeout(ctx, stsFetchTimeout)
	defer cancel()
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("GET %s: content type %q is not text/plain", url, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, stsMaxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > stsMaxPolicyBytes {
		return nil, fmt.Errorf("GET %s: policy larger than %d bytes", url, stsMaxPolicyBytes)
	}
	return parseSTSPolicy(string(body))
}
