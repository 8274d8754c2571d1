package msgauth

import (
	"context"
	"errors"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/kubemail/kubemail/mailserver/resolver"
)

// DMARCResult is the outcome of a DMARC evaluation (RFC 7489 §6.6).
type DMARCResult struct {
	// Value is "none" (no policy), "pass", "fail", "temperror" or
	// "permerror".
	Value string
	// Domain is the RFC5322.From domain evaluated.
	Domain string
	// Policy is the policy that applies to a failure ("none",
	// "quarantine" or "reject"), after the pct sampling; "" unless failed.
	Policy dmarc.Policy
}

// OrganizationalDomain is RFC 7489 §3.2's organizational domain: the
// public suffix plus one label, from the public suffix list.
func OrganizationalDomain(domain string) string {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if org, err := publicsuffix.EffectiveTLDPlusOne(domain); err == nil {
		return org
	}
	return domain
}

// aligned compares an authenticated domain with the From domain in the
// record's mode (RFC 7489 §3.1).
func aligned(mode dmarc.AlignmentMode, authenticated, from string) bool {
	authenticated, from = strings.ToLower(authenticated), strings.ToLower(from)
	if mode == dmarc.AlignmentStrict {
		return authenticated == from
	}
	return OrganizationalDomain(authenticated) == OrganizationalDomain(from)
}

// dmarcInput is what the evaluation needs.
type dmarcInput struct {
	fromDomain string
	spf        SPFResult
	spfDomain  string
	dkimPass   []string // d= of every passing DKIM signature
	sample     func() int
}

// evalDMARC looks up the policy of the From domain, or of its
// organizational domain (RFC 7489 §6.6.3), and checks alignment.
func evalDMARC(ctx context.Context, r resolver.Resolver, in dmarcInput) DMARCResult {
	res := DMARCResult{Domain: in.fromDomain}
	lookup := func(name string) ([]string, error) { return r.LookupTXT(ctx, name) }
	rec, err := dmarc.LookupWithOptions(in.fromDomain, &dmarc.LookupOptions{LookupTXT: lookup})
	sub := false
	if errors.Is(err, dmarc.ErrNoPolicy) {
		if org := OrganizationalDomain(in.fromDomain); org != in.fromDomain {
			rec, err = dmarc.LookupWithOptions(org, &dmarc.LookupOptions{LookupTXT: lookup})
			sub = true
		}
	}
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		res.Value = "none"
		return res
	case dmarc.IsTempFail(err):
		res.Value = "temperror"
		return res
	case err != nil:
		res.Value = "permerror"
		return res
	}
	for _, d := range in.dkimPass {
		if aligned(rec.DKIMAlignment, d, in.fromDomain) {
			res.Value = "pass"
			return res
		}
	}
	if in.spf == SPFPass && aligned(rec.SPFAlignment, in.spfDomain, in.fromDomain) {
		res.Value = "pass"
		return res
	}
	res.Value = "fail"
	res.Policy = rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		res.Policy = rec.SubdomainPolicy
	}
	// RFC 7489 §6.6.4: a failing message outside the pct sample gets the
	// next weaker policy.
	if rec.Percent != nil && *rec.Percent < 100 && in.sample() >= *rec.Percent {
		switch res.Policy {
		case dmarc.PolicyReject:
			res.Policy = dmarc.PolicyQuarantine
		case dmarc.PolicyQuarantine:
			res.Policy = dmarc.PolicyNone
		}
	}
	return res
}
