package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/internal/dnsendpoint"
)

// mxPreference is the preference of the single MX record (RFC 5321 §5.1).
const mxPreference = 10

// srvRecords are the client autoconfiguration records (RFC 6186 §3,
// RFC 8314 §5.1) and the protocol each needs served.
var srvRecords = []struct {
	label    string
	port     int
	protocol mailv1.Protocol
}{
	{"_submissions._tcp", 465, mailv1.ProtocolSubmissions},
	{"_submission._tcp", 587, mailv1.ProtocolSubmission},
	{"_imaps._tcp", 993, mailv1.ProtocolIMAPS},
	{"_pop3s._tcp", 995, mailv1.ProtocolPOP3S},
}

// dnsRecords computes the records a domain served by ms needs. dkimTXT is
// the DKIM record's value, or "" while there is no key.
func dnsRecords(d *mailv1.MailDomain, ms *mailv1.MailServer, dkimTXT string) []mailv1.DNSRecord {
	domain, host := string(d.Spec.Domain), string(ms.Spec.Hostname)
	ttl := d.Spec.DNS.TTL
	if ttl == 0 {
		ttl = 3600
	}
	rec := func(name, typ, value string) mailv1.DNSRecord {
		return mailv1.DNSRecord{Name: name, Type: typ, TTL: ttl, Value: value}
	}
	out := []mailv1.DNSRecord{
		rec(domain, "MX", fmt.Sprintf("%d %s", mxPreference, host)),
		rec(domain, "TXT", spfRecord(d.Spec.DNS.SPF)),
	}
	if dkimTXT != "" {
		out = append(out, rec(dkimSelector(d)+"._domainkey."+domain, "TXT", dkimTXT))
	}
	out = append(out, rec("_dmarc."+domain, "TXT", dmarcRecord(d.Spec.DNS.DMARC)))
	if mode := d.Spec.DNS.MTASTS; mode != mailv1.MTASTSNone {
		out = append(out, rec("_mta-sts."+domain, "TXT", mtaSTSRecord(mode, host)))
	}
	if d.Spec.DNS.Autoconfig == nil || *d.Spec.DNS.Autoconfig {
		served := map[mailv1.Protocol]bool{}
		for _, p := range protocols(ms) {
			served[p.protocol] = true
		}
		for _, s := range srvRecords {
			if served[s.protocol] {
				// Priority 0, weight 1: the only target (RFC 2782).
				out = append(out, rec(s.label+"."+domain, "SRV", fmt.Sprintf("0 1 %d %s", s.port, host)))
			}
		}
	}
	return out
}

// spfRecord authorises the domain's MX hosts and the included domains
// (RFC 7208 §5.4, §5.2) and ends with the chosen "all" (§5.1).
func spfRecord(spf mailv1.MailDomainSPF) string {
	parts := []string{"v=spf1", "mx"}
	for _, inc := range spf.Include {
		parts = append(parts, "include:"+string(inc))
	}
	switch spf.All {
	case mailv1.SPFFail:
		parts = append(parts, "-all")
	case mailv1.SPFNeutral:
		parts = append(parts, "?all")
	default:
		parts = append(parts, "~all")
	}
	return strings.Join(parts, " ")
}

// dmarcRecord is the _dmarc record (RFC 7489 §6.3).
func dmarcRecord(dm mailv1.MailDomainDMARC) string {
	policy := dm.Policy
	if policy == "" {
		policy = mailv1.DMARCQuarantine
	}
	s := "v=DMARC1; p=" + string(policy)
	if len(dm.ReportTo) > 0 {
		uris := make([]string, len(dm.ReportTo))
		for i, a := range dm.ReportTo {
			uris[i] = "mailto:" + string(a)
		}
		s += "; rua=" + strings.Join(uris, ",")
	}
	return s
}

// mtaSTSRecord is the _mta-sts record (RFC 8461 §3.1). Its id changes
// whenever the policy would (the mode or the MX host), so senders refetch it.
func mtaSTSRecord(mode mailv1.MTASTSMode, host string) string {
	sum := sha256.Sum256([]byte(string(mode) + " " + host))
	return "v=STSv1; id=" + hex.EncodeToString(sum[:8])
}

// buildDNSEndpoint publishes the records through external-dns: one
// endpoint per name and type.
func buildDNSEndpoint(d *mailv1.MailDomain, records []mailv1.DNSRecord) *dnsendpoint.DNSEndpoint {
	ep := &dnsendpoint.DNSEndpoint{
		TypeMeta: metav1.TypeMeta{APIVersion: dnsendpoint.GroupVersion.String(), Kind: dnsendpoint.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name, Namespace: d.Namespace, Labels: domainLabels(d.Name),
			OwnerReferences: []metav1.OwnerReference{controllerRef(d, "MailDomain")},
		},
	}
	index := map[string]*dnsendpoint.Endpoint{}
	for _, r := range records {
		key := r.Name + " " + r.Type
		e := index[key]
		if e == nil {
			e = &dnsendpoint.Endpoint{DNSName: r.Name, RecordType: r.Type, RecordTTL: dnsendpoint.TTL(r.TTL)}
			index[key] = e
			ep.Spec.Endpoints = append(ep.Spec.Endpoints, e)
		}
		e.Targets = append(e.Targets, r.Value)
	}
	return ep
}

// buildDNSConfigMap holds the records as a zone-file snippet, for adding
// them by hand.
func buildDNSConfigMap(d *mailv1.MailDomain, records []mailv1.DNSRecord) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name: dnsConfigMapName(d.Name), Namespace: d.Namespace, Labels: domainLabels(d.Name),
			OwnerReferences: []metav1.OwnerReference{controllerRef(d, "MailDomain")},
		},
		Data: map[string]string{keyZoneFile: zoneFile(string(d.Spec.Domain), records)},
	}
}

// zoneFile renders records in RFC 1035 §5 master file syntax.
func zoneFile(domain string, records []mailv1.DNSRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "; DNS records for %s, generated by kubemail. Add them to the zone of %s.\n", domain, domain)
	sorted := append([]mailv1.DNSRecord(nil), records...)
	sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].Name < sorted[b].Name })
	for _, r := range sorted {
		value := r.Value
		switch r.Type {
		case "TXT":
			value = quoteTXT(value)
		case "MX", "SRV":
			value += "."
		}
		fmt.Fprintf(&b, "%s.\t%d\tIN\t%s\t%s\n", r.Name, r.TTL, r.Type, value)
	}
	return b.String()
}

// quoteTXT splits a TXT value into quoted character-strings of at most
// 255 octets (RFC 1035 §3.3.14), as a long DKIM key needs.
func quoteTXT(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, s[:255])
		s = s[255:]
	}
	parts = append(parts, s)
	for i, p := range parts {
		parts[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p) + `"`
	}
	return strings.Join(parts, " ")
}
