package msgauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/kubemail/kubemail/mailserver/resolver"
)

// maxDKIMSignatures bounds the signatures verified per message.
const maxDKIMSignatures = 5

// checkTimeout bounds all the DNS work of one check.
const checkTimeout = 30 * time.Second

// CheckerOptions configure NewChecker.
type CheckerOptions struct {
	// Resolver answers the SPF, DKIM and DMARC look-ups. Required.
	Resolver resolver.Resolver
	// AuthServID names this server in Authentication-Results (RFC 8601
	// §2.5), normally its host name. Required.
	AuthServID string
	// Logger receives the results; nil discards them.
	Logger *slog.Logger
	// Sample returns a number in [0, 100) for DMARC's pct sampling; nil
	// means a random one.
	Sample func() int
}

// Checker authenticates inbound messages: SPF (RFC 7208), DKIM (RFC 6376)
// and DMARC (RFC 7489), reported in an Authentication-Results field
// (RFC 8601). It is safe for concurrent use.
type Checker struct {
	opts CheckerOptions
	log  *slog.Logger
}

// NewChecker returns a Checker.
func NewChecker(opts CheckerOptions) *Checker {
	if opts.Sample == nil {
		opts.Sample = func() int { return rand.IntN(100) } //nolint:gosec // G404: sampling, not security
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Checker{opts: opts, log: log}
}

// Input is one received message to check.
type Input struct {
	// IP is the SMTP client's address.
	IP netip.Addr
	// HELO is the EHLO/HELO name.
	HELO string
	// MailFrom is the reverse-path, "" for the null sender.
	MailFrom string
	// Message is the message as received (header and body).
	Message []byte
}

// Verdict is the outcome of a check.
type Verdict struct {
	// Header is the Authentication-Results field to prepend, with CRLF.
	Header []byte
	// Message is the message to store: the input without header fields
	// that claim to be this server's Authentication-Results (RFC 8601 §5
	// requires removing such forgeries), or nil when there were none.
	Message []byte
	// SPF, DKIM and DMARC are the individual results.
	SPF   SPFResult
	DKIM  []DKIMOutcome
	DMARC DMARCResult
	// Reject is set when the From domain's DMARC policy is "reject" and
	// the message failed (RFC 7489 §6.6.4).
	Reject bool
}

// DKIMOutcome is one signature's verification.
type DKIMOutcome struct {
	Domain   string
	Selector string
	// Value is "pass", "fail", "temperror", "permerror" or "neutral".
	Value string
}

// Check authenticates one message. DNS failures are results
// (temperror), not errors: a check always produces a verdict.
func (c *Checker) Check(ctx context.Context, in Input) Verdict {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	var v Verdict
	msg := in.Message
	if stripped := StripAuthResults(msg, c.opts.AuthServID); stripped != nil {
		v.Message, msg = stripped, stripped
	}
	fields, _ := SplitHeader(msg)

	var spfDomain string
	v.SPF, spfDomain = CheckSPF(ctx, c.opts.Resolver, SPFRequest{IP: in.IP, MailFrom: in.MailFrom, HELO: in.HELO})
	results := []authres.Result{spfResult(v.SPF, in, spfDomain)}

	var passing []string
	v.DKIM, passing = c.verifyDKIM(ctx, msg)
	if len(v.DKIM) == 0 {
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range v.DKIM {
		params := map[string]string{}
		if d.Domain != "" {
			params["header.d"], params["header.s"] = d.Domain, d.Selector
		}
		results = append(results, &authres.GenericResult{Method: "dkim", Value: authres.ResultValue(d.Value), Params: params})
	}

	from := FromDomains(fields)
	switch {
	case len(from) == 1:
		v.DMARC = evalDMARC(ctx, c.opts.Resolver, dmarcInput{fromDomain: from[0], spf: v.SPF, spfDomain: spfDomain,
			dkimPass: passing, sample: c.opts.Sample})
	default:
		// No From, several From fields or several authors: RFC 7489
		// §6.6.1 leaves such messages to local policy; no verdict.
		v.DMARC = DMARCResult{Value: "permerror"}
	}
	dr := &authres.DMARCResult{Value: authres.ResultValue(v.DMARC.Value), From: v.DMARC.Domain}
	if v.DMARC.Value == "fail" {
		dr.Reason = "p=" + string(v.DMARC.Policy)
	}
	results = append(results, dr)
	v.Reject = v.DMARC.Value == "fail" && v.DMARC.Policy == dmarc.PolicyReject
	// authres.Format leaves a space before ";" after results without
	// properties; it is dropped for readability.
	formatted := strings.TrimSpace(strings.ReplaceAll(authres.Format(c.opts.AuthServID, results), " ;", ";"))
	v.Header = []byte(foldHeader("Authentication-Results: " + formatted))
	c.log.Info("Message authentication", "spf", v.SPF, "spf_domain", spfDomain, "dkim", v.DKIM,
		"dmarc", v.DMARC.Value, "from_domain", v.DMARC.Domain, "policy", v.DMARC.Policy)
	return v
}

func spfResult(r SPFResult, in Input, domain string) *authres.SPFResult {
	res := &authres.SPFResult{Value: authres.ResultValue(r)}
	if in.MailFrom == "" {
		res.Helo = domain
	} else {
		res.From = domain
	}
	return res
}

// verifyDKIM verifies the message's signatures and returns the domains of
// those that pass.
func (c *Checker) verifyDKIM(ctx context.Context, msg []byte) ([]DKIMOutcome, []string) {
	lookup := func(name string) ([]string, error) { return c.opts.Resolver.LookupTXT(ctx, name) }
	verifications, err := dkim.VerifyWithOptions(bytes.NewReader(msg),
		&dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: maxDKIMSignatures})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		// A malformed header, or an unexpected failure (for which
		// go-msgauth clears the signature's error): nothing can pass.
		return []DKIMOutcome{{Value: "permerror"}}, nil
	}
	fields, _ := SplitHeader(msg)
	selectors := FieldValues(fields, "DKIM-Signature")
	var out []DKIMOutcome
	var passing []string
	for i, vr := range verifications {
		o := DKIMOutcome{Domain: vr.Domain, Value: "pass"}
		if i < len(selectors) {
			o.Selector = tagValue(selectors[i], "s")
		}
		switch {
		case vr.Err == nil:
			passing = append(passing, vr.Domain)
		case dkim.IsTempFail(vr.Err):
			o.Value = "temperror"
		case dkim.IsPermFail(vr.Err):
			o.Value = "permerror"
		default:
			o.Value = "fail"
		}
		out = append(out, o)
	}
	return out, passing
}

// tagValue returns a tag of a DKIM tag list ("" when absent).
func tagValue(list, tag string) string {
	for _, kv := range strings.Split(list, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == tag {
			return strings.Join(strings.Fields(v), "")
		}
	}
	return ""
}

// foldHeader folds a long field at "; " so no line exceeds 78 characters
// where possible (RFC 5322 §2.1.1) and ends it with CRLF.
func foldHeader(s string) string {
	parts := strings.Split(s, "; ")
	var b strings.Builder
	line := 0
	for i, p := range parts {
		if i > 0 {
			b.WriteString(";")
			line++
			if line+1+len(p) > 78 {
				b.WriteString("\r\n\t")
				line = 1
			} else {
				b.WriteString(" ")
				line++
			}
		}
		b.WriteString(p)
		line += len(p)
	}
	b.WriteString("\r\n")
	return b.String()
}

// StripAuthResults removes the Authentication-Results fields whose
// authserv-id is authServID (RFC 8601 §5: a receiver must not trust, and
// should remove, fields claiming its own identity that arrive from
// outside). It returns nil when there is none.
func StripAuthResults(msg []byte, authServID string) []byte {
	fields, _ := SplitHeader(msg)
	var out []byte
	start := 0
	pos := 0
	for _, f := range fields {
		end := pos + len(f.Raw)
		if strings.EqualFold(f.Name, "Authentication-Results") {
			id, _, err := authres.Parse(f.Value())
			if err != nil {
				id, _, _ = strings.Cut(f.Value(), ";")
			}
			if strings.EqualFold(strings.TrimSpace(id), authServID) {
				if out == nil {
					out = make([]byte, 0, len(msg))
				}
				out = append(out, msg[start:pos]...)
				start = end
			}
		}
		pos = end
	}
	if out == nil {
		return nil
	}
	return append(out, msg[start:]...)
}
