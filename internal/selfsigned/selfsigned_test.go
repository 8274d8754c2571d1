package selfsigned

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"
)

func TestNewServesTheHostnameForTheValidity(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c, err := New("mx1.example.com", now, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Leaf.VerifyHostname("mx1.example.com"); err != nil {
		t.Errorf("the certificate does not name its host: %v", err)
	}
	if !c.Leaf.NotBefore.Equal(now.Add(-time.Hour)) || !c.Leaf.NotAfter.Equal(now.Add(90*24*time.Hour)) {
		t.Errorf("valid %v to %v", c.Leaf.NotBefore, c.Leaf.NotAfter)
	}
	if got := c.Leaf.Subject.Organization; len(got) != 1 || got[0] != Organization {
		t.Errorf("organization %v", got)
	}
	if len(c.Leaf.ExtKeyUsage) != 1 || c.Leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("extended key usage %v, want server auth only", c.Leaf.ExtKeyUsage)
	}
	certPEM, keyPEM, err := c.PEM()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("the PEM pair does not load: %v", err)
	}
	if string(pair.Certificate[0]) != string(c.TLS().Certificate[0]) {
		t.Error("PEM and TLS forms hold different certificates")
	}
	other, err := New("mx1.example.com", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if other.Leaf.SerialNumber.Cmp(c.Leaf.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
}
