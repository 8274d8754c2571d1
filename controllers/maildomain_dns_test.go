package controllers

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"net"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/mailserver/config"
)

// testDKIMTXT stands for a DKIM record in the golden files.
const testDKIMTXT = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

func TestDNSRecords(t *testing.T) {
	tests := map[string]struct {
		domain mailv1.MailDomain
		server *mailv1.MailServer
		dkim   string
	}{
		"samples": {
			domain: domain("example-com", "example.com", 0, func(d *mailv1.MailDomain) {
				d.Spec.DNS.DMARC.ReportTo = []mailv1.EmailAddress{"postmaster@example.com"}
			}),
			server: server("mx1"),
			dkim:   testDKIMTXT,
		},
		"strict, with includes, no autoconfig, no key yet": {
			domain: domain("example-org", "example.org", 0, func(d *mailv1.MailDomain) {
				d.Spec.DNS.TTL = 300
				d.Spec.DNS.SPF = mailv1.MailDomainSPF{All: mailv1.SPFFail, Include: []mailv1.DomainName{"_spf.relay.example.net"}}
				d.Spec.DNS.DMARC.Policy = mailv1.DMARCReject
				d.Spec.DNS.MTASTS = mailv1.MTASTSEnforce
				d.Spec.DNS.Autoconfig = ptr.To(false)
				d.Spec.DKIM.Selector = "k2026"
			}),
			server: server("mx1"),
		},
		"only the protocols served get SRV records": {
			domain: domain("example-net", "example.net", 0, func(d *mailv1.MailDomain) { d.Spec.DNS.MTASTS = mailv1.MTASTSNone }),
			server: server("mx1", func(ms *mailv1.MailServer) {
				ms.Spec.Protocols = []mailv1.Protocol{mailv1.ProtocolSMTP, mailv1.ProtocolSubmissions, mailv1.ProtocolIMAPS}
			}),
			dkim: testDKIMTXT,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			records := dnsRecords(&tc.domain, tc.server, tc.dkim)
			file := strings.ReplaceAll(name, " ", "-")
			file = strings.ReplaceAll(file, ",", "")
			goldenYAML(t, "dns-"+file, records, buildDNSEndpoint(&tc.domain, records), buildDNSConfigMap(&tc.domain, records))
			golden(t, "zone-"+file, []byte(zoneFile(string(tc.domain.Spec.Domain), records)))
		})
	}
}

func TestQuoteTXTSplitsLongStrings(t *testing.T) {
	long := strings.Repeat("a", 300) + `"\`
	got := quoteTXT(long)
	want := `"` + strings.Repeat("a", 255) + `" "` + strings.Repeat("a", 45) + `\"\\"`
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestDKIMKeys(t *testing.T) {
	for _, alg := range []mailv1.DKIMAlgorithm{mailv1.DKIMRSA2048, mailv1.DKIMEd25519} {
		t.Run(string(alg)+" keys are generated, parsed and published", func(t *testing.T) {
			pemKey, err := newDKIMKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			signer, err := parseDKIMKey(pemKey)
			if err != nil {
				t.Fatal(err)
			}
			txt, err := dkimRecord(signer)
			if err != nil {
				t.Fatal(err)
			}
			switch signer.(type) {
			case *rsa.PrivateKey:
				if alg != mailv1.DKIMRSA2048 || !strings.HasPrefix(txt, "v=DKIM1; k=rsa; p=MIIB") {
					t.Errorf("%s gave %T and %s", alg, signer, txt)
				}
			case ed25519.PrivateKey:
				if alg != mailv1.DKIMEd25519 || !strings.HasPrefix(txt, "v=DKIM1; k=ed25519; p=") {
					t.Errorf("%s gave %T and %s", alg, signer, txt)
				}
			}
		})
	}
	bad := map[string]string{
		"not PEM":                  "hello",
		"a certificate, not a key": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
		"a broken key":             "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	}
	for name, data := range bad {
		t.Run(name+" is refused", func(t *testing.T) {
			if _, err := parseDKIMKey([]byte(data)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// fakeResolver answers from maps; anything else is NXDOMAIN.
type fakeResolver struct {
	mx  map[string][]*net.MX
	txt map[string][]string
	srv map[string][]*net.SRV
}

var errNXDomain = errors.New("no such host")

func (f *fakeResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if v, ok := f.mx[name]; ok {
		return v, nil
	}
	return nil, errNXDomain
}

func (f *fakeResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := f.txt[name]; ok {
		return v, nil
	}
	return nil, errNXDomain
}

func (f *fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if v, ok := f.srv["_"+service+"._"+proto+"."+name]; ok {
		return "", v, nil
	}
	return "", nil, errNXDomain
}

func TestVerifyRecords(t *testing.T) {
	d := domain("example-com", "example.com", 0)
	records := dnsRecords(&d, server("mx1"), testDKIMTXT)
	res := &fakeResolver{
		mx: map[string][]*net.MX{"example.com": {{Host: "mx0.example.com.", Pref: 5}, {Host: "mx1.example.com.", Pref: 10}}},
		txt: map[string][]string{
			"example.com":                     {"google-site-verification=x", "v=spf1 mx ~all"},
			"kubemail._domainkey.example.com": {"v=DKIM1;k=ed25519;p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
			"_dmarc.example.com":              {"v=DMARC1; p=none"}, // differs
		},
		srv: map[string][]*net.SRV{"_submissions._tcp.example.com": {{Target: "mx1.example.com.", Port: 465, Priority: 0, Weight: 1}}},
	}
	n := verifyRecords(context.Background(), res, records)
	verified := map[string]bool{}
	for _, r := range records {
		verified[r.Type+" "+r.Name] = r.Verified
	}
	want := map[string]bool{
		"MX example.com": true, "TXT example.com": true, "TXT kubemail._domainkey.example.com": true,
		"TXT _dmarc.example.com": false, "TXT _mta-sts.example.com": false,
		"SRV _submissions._tcp.example.com": true, "SRV _submission._tcp.example.com": false,
		"SRV _imaps._tcp.example.com": false, "SRV _pop3s._tcp.example.com": false,
	}
	for k, w := range want {
		if verified[k] != w {
			t.Errorf("%s verified = %v, want %v", k, verified[k], w)
		}
	}
	if n != 4 {
		t.Errorf("%d records verified, want 4", n)
	}
}

func TestRelayConfig(t *testing.T) {
	p := &mailv1.RelayPolicy{Spec: mailv1.RelayPolicySpec{
		ServerRef: corev1.LocalObjectReference{Name: "mx1"},
		Mode:      mailv1.RelaySmarthost,
		Smarthost: &mailv1.Smarthost{Host: "smtp.relay.example.net", Port: 587, TLS: mailv1.SmarthostStartTLSRequired,
			CredentialsSecretRef: &corev1.LocalObjectReference{Name: "relay-creds"}},
		Routes: []mailv1.RelayRoute{
			{Domains: []string{"example.org", "*.example.org"}, Mode: mailv1.RelayDirect},
			{Domains: []string{"example.edu"}, Mode: mailv1.RelaySmarthost,
				Smarthost: &mailv1.Smarthost{Host: "edu-relay.example.net", Port: 465, TLS: mailv1.SmarthostImplicitTLS}},
			{Domains: []string{"example.org"}, Mode: mailv1.RelaySmarthost, Smarthost: &mailv1.Smarthost{Host: "ignored.example.net"}},
		},
		AllowedNetworks:             []mailv1.CIDR{"10.244.0.0/16"},
		MTASTS:                      ptr.To(false),
		MaxMessagesPerHourPerSender: 500,
	}}
	relay, outbound := relayConfig(p)
	if _, err := config.New(config.Config{APIVersion: config.APIVersion, Kind: config.Kind, Hostname: "mx1.example.com",
		Storage: config.Storage{Path: "/var/lib/kubemail"}, Relay: relay, Outbound: outbound}); err != nil {
		t.Errorf("the compiled routes do not validate: %v", err)
	}
	goldenYAML(t, "relay", relay, outbound)
}
