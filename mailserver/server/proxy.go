package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2) on a
// listener with proxyProtocol: true. The policy, decided per connection from
// the socket's peer address and the configuration being served:
//
//   - From an address in proxyProtocol.trustedCIDRs a header is REQUIRED
//     (the specification: a receiver "MUST not try to guess whether the
//     protocol header is present or not"). A connection without a valid
//     header within Options.ProxyHeaderTimeout is closed without a reply:
//     were the header optional, anyone able to reach the port through the
//     load balancer's network could present the balancer's address.
//   - From any other address the header is NOT honoured: the socket address
//     is the client. These clients talk first only after the server's
//     greeting (SMTP and POP3 are server-speaks-first), so waiting for a
//     header would stall them; instead the first bytes the client sends are
//     checked, and a PROXY signature there gets a refusal line and the
//     connection is closed. Nothing else is read differently.
//
// The header's source address then replaces the socket's in everything
// above: limits, logs, Received headers, authentication throttling. A LOCAL
// header (a balancer's health check) keeps the socket addresses.

// DefaultProxyHeaderTimeout bounds the wait for a trusted peer's header.
const DefaultProxyHeaderTimeout = 10 * time.Second

// errUntrustedProxyHeader is returned by reads on a connection whose
// untrusted peer sent a PROXY header.
var errUntrustedProxyHeader = errors.New("PROXY protocol header from an untrusted address")

// readProxyHeader reads the header a trusted peer must send first and
// returns the connection with the client's addresses.
func readProxyHeader(c net.Conn, timeout time.Duration) (net.Conn, error) {
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, fmt.Errorf("reading PROXY protocol header: %w", err)
	}
	// 256 bytes hold any v1 line (at most 107); v2 is read through it.
	br := bufio.NewReaderSize(c, 256)
	h, err := proxyproto.Read(br)
	if err != nil {
		return nil, fmt.Errorf("reading PROXY protocol header: %w", err)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("reading PROXY protocol header: %w", err)
	}
	pc := &proxiedConn{Conn: c, r: br, remote: c.RemoteAddr()}
	if h.Command.IsProxy() {
		src, _, ok := h.TCPAddrs()
		if !ok {
			return nil, fmt.Errorf("reading PROXY protocol header: transport %#x is not TCP", byte(h.TransportProtocol))
		}
		pc.remote = src
	}
	return pc, nil
}

// proxiedConn is a connection whose header has been read: reads drain what
// was buffered with it, and RemoteAddr is the client's.
type proxiedConn struct {
	net.Conn
	r      *bufio.Reader
	remote net.Addr
}

// Read implements net.Conn.
func (c *proxiedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// RemoteAddr implements net.Conn.
func (c *proxiedConn) RemoteAddr() net.Addr { return c.remote }

// guardConn is a connection from an untrusted peer on a PROXY-protocol
// listener: its first bytes are checked for a PROXY signature (v1 "PROXY",
// v2's 12-byte binary signature) and, if one is there, refused is called
// (it writes the refusal line) and every read fails.
type guardConn struct {
	net.Conn
	refused func()

	decided bool
	pending []byte // bytes read while deciding, not yet returned
	err     error  // sticky error: refusal, or a read error after pending
}

// Read implements net.Conn.
func (c *guardConn) Read(p []byte) (int, error) {
	if !c.decided {
		c.decide()
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(p)
}

// decide reads until the first bytes either match a signature or cannot.
func (c *guardConn) decide() {
	var buf [64]byte
	for !c.decided {
		n, err := c.Conn.Read(buf[:])
		c.pending = append(c.pending, buf[:n]...)
		switch signatureMatch(c.pending) {
		case sigFound:
			c.decided, c.pending, c.err = true, nil, errUntrustedProxyHeader
			c.refused()
			_ = c.Close()
			return
		case sigNone:
			c.decided = true
		}
		if err != nil {
			c.decided, c.err = true, err
		}
	}
}

type sigResult int

const (
	sigMaybe sigResult = iota // a prefix of a signature: read more
	sigFound
	sigNone
)

// signatureMatch tells whether b starts with a PROXY protocol signature.
func signatureMatch(b []byte) sigResult {
	result := sigNone
	for _, sig := range [][]byte{proxyproto.SIGV1, proxyproto.SIGV2} {
		n := min(len(b), len(sig))
		if !bytes.Equal(b[:n], sig[:n]) {
			continue
		}
		if n == len(sig) {
			return sigFound
		}
		result = sigMaybe
	}
	return result
}
