package msgauth

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kubemail/kubemail/mailserver/resolver"
	"github.com/kubemail/kubemail/mailserver/resolver/dnstest"
)

// signingKey writes a new key for domain/selector, publishes its record
// in srv and returns the SignKey.
func signingKey(t *testing.T, srv *dnstest.Server, domain, selector, algorithm string) SignKey {
	t.Helper()
	pemKey, key, err := GenerateKey(algorithm)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), domain+".pem")
	if err := os.WriteFile(path, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	txt, err := TXTRecord(key)
	if err != nil {
		t.Fatal(err)
	}
	srv.Add(t, ZoneRecord(domain, selector, txt))
	return SignKey{Domain: domain, Selector: selector, KeyFile: path}
}

func message(from, body string) []byte {
	return []byte("From: Alice <" + from + ">\r\nTo: bob@b.test\r\nSubject: hello\r\n" +
		"Date: Mon, 02 Mar 2026 12:00:00 +0000\r\nMessage-ID: <1@a.test>\r\n\r\n" + body)
}

func TestCheck(t *testing.T) {
	srv := dnstest.Start(t,
		`a.test. IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.a.test. IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.q.test. IN TXT "v=DMARC1; p=none; sp=reject"`,
		`_dmarc.pct.test. IN TXT "v=DMARC1; p=reject; pct=0"`,
		`_dmarc.strict.test. IN TXT "v=DMARC1; p=reject; aspf=s"`,
		`strict.test. IN TXT "v=spf1 include:a.test -all"`,
		`bounce.strict.test. IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`bounce.a.test. IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
	)
	r, err := resolver.New(resolver.Options{Server: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := signingKey(t, srv, "a.test", "k1", AlgorithmRSA)
	edKey := signingKey(t, srv, "a.test", "ed", AlgorithmEd25519)
	signer := NewSigner()
	sign := func(msg []byte, k SignKey) []byte {
		out, err := signer.Sign(msg, k)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	signed := sign(message("alice@a.test", "Hi Bob.\r\n"), rsaKey)
	tampered := bytes.Replace(signed, []byte("Hi Bob."), []byte("Pay me."), 1)
	checker := NewChecker(CheckerOptions{Resolver: r, AuthServID: "mx.b.test", Sample: func() int { return 50 }})

	cases := map[string]struct {
		ip, from string
		msg      []byte
		want     []string // substrings of the Authentication-Results field
		reject   bool
	}{
		"an aligned RSA signature passes DMARC from anywhere": {"203.0.113.9", "alice@a.test", signed,
			[]string{"spf=fail smtp.mailfrom=a.test", "dkim=pass header.d=a.test header.s=k1", "dmarc=pass header.from=a.test"}, false},
		"an aligned Ed25519 signature passes": {"203.0.113.9", "alice@a.test", sign(message("alice@a.test", "x\r\n"), edKey),
			[]string{"dkim=pass header.d=a.test header.s=ed", "dmarc=pass"}, false},
		"an unsigned message from an unlisted address fails p=reject": {"203.0.113.9", "alice@a.test", message("alice@a.test", "x\r\n"),
			[]string{"spf=fail", "dkim=none;", `dmarc=fail reason="p=reject" header.from=a.test`}, true},
		"a tampered body fails DKIM and then DMARC": {"203.0.113.9", "alice@a.test", tampered,
			[]string{"dkim=fail header.d=a.test", "dmarc=fail"}, true},
		"SPF of a subdomain aligns in relaxed mode": {"192.0.2.1", "bounce@bounce.a.test", message("alice@a.test", "x\r\n"),
			[]string{"spf=pass smtp.mailfrom=bounce.a.test", "dmarc=pass"}, false},
		"SPF of a subdomain does not align in strict mode": {"192.0.2.1", "x@bounce.strict.test", message("x@strict.test", "x\r\n"),
			[]string{"spf=pass", "dmarc=fail"}, true},
		"the organizational domain's sp= applies to subdomains": {"203.0.113.9", "x@sub.q.test", message("x@sub.q.test", "x\r\n"),
			[]string{`dmarc=fail reason="p=reject" header.from=sub.q.test`}, true},
		"outside the pct sample reject becomes quarantine": {"203.0.113.9", "x@pct.test", message("x@pct.test", "x\r\n"),
			[]string{"dmarc=fail reason=\"p=quarantine\""}, false},
		"a domain without DMARC is none": {"203.0.113.9", "x@nodmarc.test", message("x@nodmarc.test", "x\r\n"),
			[]string{"spf=none", "dmarc=none header.from=nodmarc.test"}, false},
		"the null sender is checked by its HELO name": {"192.0.2.1", "", message("alice@a.test", "x\r\n"),
			[]string{"spf=pass smtp.helo=a.test", "dmarc=pass"}, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v := checker.Check(t.Context(), Input{IP: netip.MustParseAddr(tc.ip), HELO: "a.test", MailFrom: tc.from, Message: tc.msg})
			h := string(v.Header)
			if !strings.HasPrefix(h, "Authentication-Results: mx.b.test;") || !strings.HasSuffix(h, "\r\n") {
				t.Fatalf("header %q", h)
			}
			unfolded := strings.Join(strings.Fields(h), " ")
			for _, w := range tc.want {
				if !strings.Contains(unfolded, w) {
					t.Errorf("header %q does not contain %q", unfolded, w)
				}
			}
			if v.Reject != tc.reject {
				t.Errorf("Reject = %v, want %v (%s)", v.Reject, tc.reject, unfolded)
			}
			for _, line := range strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n") {
				if len(line) > 998 {
					t.Errorf("header line of %d octets", len(line))
				}
			}
		})
	}
}

func TestStripAuthResults(t *testing.T) {
	msg := []byte("Authentication-Results: mx.b.test; dkim=pass\r\n header.d=bank.test\r\n" +
		"Authentication-Results: other.test; spf=pass\r\n" +
		"authentication-results: MX.B.TEST; none\r\n" +
		"From: x@y.test\r\n\r\nAuthentication-Results: mx.b.test; in the body\r\n")
	want := "Authentication-Results: other.test; spf=pass\r\nFrom: x@y.test\r\n\r\nAuthentication-Results: mx.b.test; in the body\r\n"
	if got := StripAuthResults(msg, "mx.b.test"); string(got) != want {
		t.Fatalf("StripAuthResults =\n%q\nwant\n%q", got, want)
	}
	if got := StripAuthResults([]byte("From: x@y.test\r\n\r\nbody"), "mx.b.test"); got != nil {
		t.Fatalf("StripAuthResults without forged fields = %q, want nil", got)
	}
}

func TestKeys(t *testing.T) {
	for _, alg := range []string{AlgorithmRSA, AlgorithmEd25519} {
		t.Run(alg, func(t *testing.T) {
			pemKey, key, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := ParseKey(pemKey)
			if err != nil {
				t.Fatal(err)
			}
			txt, err := TXTRecord(parsed)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := TXTRecord(key)
			if txt != want || !strings.HasPrefix(txt, "v=DKIM1; k="+alg+"; p=") {
				t.Fatalf("TXT record %q", txt)
			}
			zone := ZoneRecord("example.com", "s1", txt)
			if !strings.HasPrefix(zone, "s1._domainkey.example.com. IN TXT (") {
				t.Fatalf("zone record %q", zone)
			}
			parts := regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(zone, -1)
			joined := ""
			for _, p := range parts {
				if len(p[1]) > 255 {
					t.Fatalf("TXT string of %d octets", len(p[1]))
				}
				joined += p[1]
			}
			if joined != txt {
				t.Fatalf("zone record strings join to %q, want %q", joined, txt)
			}
		})
	}
	t.Run("PKCS #1 RSA keys are read", func(t *testing.T) {
		_, key, err := GenerateKey(AlgorithmRSA)
		if err != nil {
			t.Fatal(err)
		}
		der := x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))
		if _, err := ParseKey(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der})); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("other PEM blocks and algorithms are refused", func(t *testing.T) {
		if _, err := ParseKey([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")); err == nil {
			t.Fatal("a certificate was accepted as a key")
		}
		if _, err := ParseKey([]byte("not PEM")); err == nil {
			t.Fatal("garbage was accepted as a key")
		}
		if _, _, err := GenerateKey("dsa"); err == nil {
			t.Fatal("an unknown algorithm was accepted")
		}
	})
}
