package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// connOptions are how mailbench connects to a POP3 or IMAP server.
type connOptions struct {
	timeout time.Duration // per command, and for the TLS handshake
	// startTLS upgrades the connection with STLS (RFC 2595 §4) or STARTTLS (RFC 9051 §6.2.1) before
	// logging in, when the server offers it. kubemail refuses passwords before TLS, so with this on both
	// servers are measured with the same TLS cost (peer.sh gives Dovecot a self-signed certificate).
	startTLS bool
}

// benchTLS is the client TLS configuration. The servers under test listen on loopback with
// self-signed certificates, so the chain is not verified.
func benchTLS(addr string) *tls.Config {
	host, _, _ := net.SplitHostPort(addr)
	return &tls.Config{
		ServerName:         host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // #nosec G402 -- loopback benchmark against self-signed certificates
	}
}

// upgradeTLS runs the client TLS handshake on conn, bounded by ctx and timeout.
func upgradeTLS(ctx context.Context, conn net.Conn, addr string, timeout time.Duration) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tc := tls.Client(conn, benchTLS(addr))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}
