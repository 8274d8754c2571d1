package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/kubemail/kubemail/internal/netserve"
	"github.com/kubemail/kubemail/mailserver/config"
)

// refusalTimeout bounds writing a refusal line (and, on an implicit-TLS
// listener, the handshake before it).
const refusalTimeout = 5 * time.Second

// maxPendingPerListener bounds the connections one listener holds between
// accept and admission (waiting for a PROXY header, or being refused).
// Beyond it new connections are closed at once, so a flood of silent
// connections costs file descriptors only for the header timeout.
const maxPendingPerListener = 512

// style words the line a refused client gets, in its protocol.
type style int

const (
	styleSMTP style = iota + 1
	stylePOP3
	styleIMAP
)

// refusalLine is what a client refused for reason reads before the
// connection is closed.
func (st style) refusalLine(hostname, reason string) string {
	proxy := reason == refusedProxyHeader
	switch st {
	case styleSMTP:
		// RFC 5321 §3.8: a server may answer the connection with 421 and
		// close it; 4.7.0 (RFC 3463 §3.8) is a temporary policy refusal.
		if proxy {
			return "421 4.7.0 " + hostname + " PROXY protocol header not accepted from your address\r\n"
		}
		return "421 4.7.0 " + hostname + " Too many connections, try again later\r\n"
	case styleIMAP:
		// RFC 9051 §7.1.5: BYE as the greeting refuses the connection;
		// UNAVAILABLE (RFC 5530 §3) says the condition is temporary.
		if proxy {
			return "* BYE [UNAVAILABLE] PROXY protocol header not accepted from your address\r\n"
		}
		return "* BYE [UNAVAILABLE] Too many connections, try again later\r\n"
	default:
		// RFC 3206 §4: SYS/TEMP may go away by itself, SYS/PERM will not.
		if proxy {
			return "-ERR [SYS/PERM] PROXY protocol header not accepted from your address\r\n"
		}
		return "-ERR [SYS/TEMP] Too many connections, try again later\r\n"
	}
}

// gateOptions configure a gate.
type gateOptions struct {
	name          string       // the listener's name in the configuration
	ln            net.Listener // the raw TCP listener
	proxy         bool         // the listener expects PROXY protocol headers
	style         style
	tlsConfig     *tls.Config // set on implicit-TLS listeners: refusals go inside TLS
	cfg           func() *config.Config
	limiter       *connLimiter
	metrics       *metrics
	log           *slog.Logger
	headerTimeout time.Duration
}

// gate is the net.Listener the protocol servers serve: it accepts raw
// connections, resolves the real client (PROXY protocol), applies the
// connection limits and hands the admitted connections over. Each raw
// connection is handled in a goroutine of its own, so a slow peer never
// holds up the accept loop.
type gate struct {
	gateOptions
	conns   chan net.Conn
	done    chan struct{}
	pending chan struct{} // semaphore of connections being admitted
	once    sync.Once
	wg      sync.WaitGroup // the accept loop and the admissions

	mu   sync.Mutex
	held map[net.Conn]struct{} // raw connections being admitted
	err  error                 // the accept error that stopped the gate
}

var _ net.Listener = (*gate)(nil)

// newGate starts accepting on o.ln; ctx bounds the work of refusals.
func newGate(ctx context.Context, o gateOptions) *gate {
	if o.headerTimeout <= 0 {
		o.headerTimeout = DefaultProxyHeaderTimeout
	}
	g := &gate{
		gateOptions: o,
		conns:       make(chan net.Conn),
		done:        make(chan struct{}),
		pending:     make(chan struct{}, maxPendingPerListener),
		held:        make(map[net.Conn]struct{}),
	}
	g.wg.Add(1)
	go g.acceptLoop(ctx)
	return g
}

// Accept implements net.Listener: it returns the next admitted connection.
func (g *gate) Accept() (net.Conn, error) {
	select {
	case <-g.done:
		return nil, g.closedErr()
	default:
	}
	select {
	case c := <-g.conns:
		select {
		case <-g.done: // closed meanwhile: the server is no longer serving
			_ = c.Close()
			return nil, g.closedErr()
		default:
			return c, nil
		}
	case <-g.done:
		return nil, g.closedErr()
	}
}

// Close implements net.Listener: it stops accepting and closes the
// connections not yet handed over. Admitted connections are the protocol
// server's to close.
func (g *gate) Close() error {
	var err error
	g.once.Do(func() {
		close(g.done)
		err = g.ln.Close()
		g.mu.Lock()
		for c := range g.held {
			_ = c.Close()
		}
		g.mu.Unlock()
	})
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Addr implements net.Listener.
func (g *gate) Addr() net.Addr { return g.ln.Addr() }

// wait waits for the accept loop and the admissions to end, after Close.
func (g *gate) wait() { g.wg.Wait() }

func (g *gate) closedErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.err
	}
	return net.ErrClosed
}

func (g *gate) acceptLoop(ctx context.Context) {
	defer g.wg.Done()
	var backoff time.Duration
	for {
		raw, err := g.ln.Accept()
		if err != nil {
			select {
			case <-g.done:
				return
			default:
			}
			if temporaryAcceptError(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				g.log.Warn("Accepting a connection failed; retrying", "error", err, "delay", backoff)
				select {
				case <-time.After(backoff):
				case <-g.done:
					return
				}
				continue
			}
			g.mu.Lock()
			g.err = fmt.Errorf("accepting connections on %s: %w", g.name, err)
			g.mu.Unlock()
			_ = g.Close()
			return
		}
		backoff = 0
		select {
		case g.pending <- struct{}{}:
		default:
			g.metrics.refused.WithLabelValues(g.name, refusedOverload).Inc()
			_ = raw.Close()
			continue
		}
		if !g.hold(raw) {
			<-g.pending
			return
		}
		g.wg.Add(1)
		go g.admit(ctx, raw)
	}
}

// temporaryAcceptError reports whether accepting may work again soon (out
// of file descriptors, a timeout).
func temporaryAcceptError(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// hold registers a raw connection being admitted; false when closed.
func (g *gate) hold(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.done:
		_ = c.Close()
		return false
	default:
	}
	g.held[c] = struct{}{}
	return true
}

func (g *gate) unhold(c net.Conn) {
	g.mu.Lock()
	delete(g.held, c)
	g.mu.Unlock()
}

// admit resolves the client, applies the limits and hands the connection
// to Accept, or refuses it.
func (g *gate) admit(ctx context.Context, raw net.Conn) {
	defer g.wg.Done()
	defer func() { <-g.pending }()
	defer func() {
		if v := recover(); v != nil {
			g.unhold(raw)
			_ = raw.Close()
			g.metrics.panics.WithLabelValues("gate").Inc()
			g.log.Error("Panic admitting a connection", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	cfg := g.cfg()
	c, ok := g.resolveClient(raw, cfg)
	if !ok {
		g.unhold(raw)
		_ = raw.Close()
		return
	}
	ip := netserve.IPOf(c.RemoteAddr())
	release, refused := g.limiter.acquire(ip)
	if refused != "" {
		g.metrics.refused.WithLabelValues(g.name, refused).Inc()
		g.log.Info("Connection refused", "remote", ip, "reason", refused)
		g.refuse(ctx, c, g.style.refusalLine(cfg.Hostname, refused))
		g.unhold(raw)
		return
	}
	gauge := g.metrics.connections.WithLabelValues(g.name)
	gauge.Inc()
	ac := &admittedConn{Conn: c, local: listenerAddr{Addr: raw.LocalAddr(), listener: g.name},
		release: func() { release(); gauge.Dec() }}
	g.unhold(raw)
	select {
	case g.conns <- ac:
	case <-g.done:
		_ = ac.Close()
	}
}

// resolveClient applies the PROXY protocol policy (see proxy.go). It
// returns false when the connection must be closed.
func (g *gate) resolveClient(raw net.Conn, cfg *config.Config) (net.Conn, bool) {
	if !g.proxy {
		return raw, true
	}
	peer := netserve.IPOf(raw.RemoteAddr())
	if cfg.ProxyTrusted(peer) {
		c, err := readProxyHeader(raw, g.headerTimeout)
		if err != nil {
			g.metrics.refused.WithLabelValues(g.name, refusedProxyHeader).Inc()
			g.log.Warn("Closing a connection from a trusted proxy without a valid PROXY protocol header",
				"peer", peer, "error", err)
			return nil, false
		}
		return c, true
	}
	gc := &guardConn{Conn: raw}
	gc.refused = func() {
		g.metrics.refused.WithLabelValues(g.name, refusedProxyHeader).Inc()
		g.log.Warn("Refusing a PROXY protocol header from an address not in proxyProtocol.trustedCIDRs", "peer", peer)
		_ = raw.SetWriteDeadline(time.Now().Add(refusalTimeout))
		_, _ = io.WriteString(raw, g.style.refusalLine(g.cfg().Hostname, refusedProxyHeader))
	}
	return gc, true
}

// refuse writes line (inside TLS on an implicit-TLS listener) and closes c.
func (g *gate) refuse(ctx context.Context, c net.Conn, line string) {
	_ = c.SetDeadline(time.Now().Add(refusalTimeout))
	var w io.WriteCloser = c
	if g.tlsConfig != nil {
		ctx, cancel := context.WithTimeout(ctx, refusalTimeout)
		defer cancel()
		tc := tls.Server(c, g.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return
		}
		w = tc
	}
	_, _ = io.WriteString(w, line)
	_ = w.Close()
}

// admittedConn is a connection handed to a protocol server. Its local
// address names the listener (for metrics); closing it frees its slot in
// the limiter.
type admittedConn struct {
	net.Conn
	local   listenerAddr
	once    sync.Once
	release func()
}

// LocalAddr implements net.Conn.
func (c *admittedConn) LocalAddr() net.Addr { return c.local }

// Close implements net.Conn.
func (c *admittedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// listenerAddr is a local address that also names the listener that
// accepted the connection; it prints as the address.
type listenerAddr struct {
	net.Addr
	listener string
}
