package controllers

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// Resolver looks up the records a domain needs. *net.Resolver satisfies it;
// tests inject a fake.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// Timers of DNS verification.
const (
	// defaultDNSCheckInterval re-checks a domain whose records do not all verify yet.
	defaultDNSCheckInterval = 5 * time.Minute
	// verifiedDNSCheckInterval re-checks a domain whose records all verified.
	verifiedDNSCheckInterval = time.Hour
	// dnsLookupTimeout bounds the look-ups of one domain.
	dnsLookupTimeout = 10 * time.Second
)

// verifyRecords looks every record up and sets its Verified flag; it
// returns how many verified. A look-up error counts as not verified.
func verifyRecords(ctx context.Context, res Resolver, records []mailv1.DNSRecord) int {
	ctx, cancel := context.WithTimeout(ctx, dnsLookupTimeout)
	defer cancel()
	n := 0
	for i := range records {
		records[i].Verified = verifyRecord(ctx, res, records[i])
		if records[i].Verified {
			n++
		}
	}
	return n
}

func verifyRecord(ctx context.Context, res Resolver, r mailv1.DNSRecord) bool {
	name := strings.TrimSuffix(r.Name, ".")
	switch r.Type {
	case "MX":
		mxs, err := res.LookupMX(ctx, name)
		if err != nil {
			return false
		}
		for _, mx := range mxs {
			if fmt.Sprintf("%d %s", mx.Pref, strings.TrimSuffix(mx.Host, ".")) == r.Value {
				return true
			}
		}
	case "TXT":
		txts, err := res.LookupTXT(ctx, name)
		if err != nil {
			return false
		}
		for _, t := range txts {
			if normaliseTXT(t) == normaliseTXT(r.Value) {
				return true
			}
		}
	case "SRV":
		// The name is _service._proto.domain; LookupSRV takes the parts.
		parts := strings.SplitN(name, ".", 3)
		if len(parts) != 3 {
			return false
		}
		_, srvs, err := res.LookupSRV(ctx, strings.TrimPrefix(parts[0], "_"), strings.TrimPrefix(parts[1], "_"), parts[2])
		if err != nil {
			return false
		}
		for _, s := range srvs {
			v := strings.Join([]string{strconv.Itoa(int(s.Priority)), strconv.Itoa(int(s.Weight)),
				strconv.Itoa(int(s.Port)), strings.TrimSuffix(s.Target, ".")}, " ")
			if v == r.Value {
				return true
			}
		}
	}
	return false
}

// normaliseTXT compares TXT values that differ only in the spacing around
// the semicolons of tag lists (RFC 6376 §3.2 allows either).
func normaliseTXT(s string) string {
	fields := strings.Split(s, ";")
	for i, f := range fields {
		fields[i] = strings.TrimSpace(f)
	}
	return strings.TrimSuffix(strings.Join(fields, ";"), ";")
}
