package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// countSink is the SMTP server both relays deliver to in the outbound benchmark. It accepts every
// message, reads it whole and throws it away, and counts distinct messages (by Message-ID) per
// recipient, remembering when each recipient's count last grew: a load ends at the moment its last
// message arrived, not at the next poll. It keeps nothing on disk, as Postfix's smtp-sink does, so
// both relays meet the same, cheap, destination.
type countSink struct {
	srv *smtp.Server
	ln  net.Listener

	mu      sync.Mutex
	boxes   map[string]*sinkBox // recipient address (lower case) → what arrived for it
	changed chan struct{}       // closed and replaced whenever a count grows
}

// sinkBox is what the sink received for one recipient.
type sinkBox struct {
	ids        map[string]struct{} // Message-IDs seen
	deliveries int                 // accepted deliveries, duplicates included
	overTLS    int                 // deliveries in sessions that used STARTTLS
	bytes      int64               // bytes of the distinct messages
	last       time.Time           // when the newest distinct message arrived
}

// sinkCount is a snapshot of one recipient's sinkBox.
type sinkCount struct {
	distinct, deliveries, overTLS int
	bytes                         int64
	last                          time.Time
}

// startCountSink listens on addr (127.0.0.1:port) and serves until Close. With withTLS the sink offers
// STARTTLS with a throwaway self-signed certificate.
func startCountSink(ctx context.Context, addr string, withTLS bool) (*countSink, error) {
	s := &countSink{boxes: map[string]*sinkBox{}, changed: make(chan struct{})}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.mailbench.test"
	srv.MaxMessageBytes = 64 << 20
	srv.MaxRecipients = 1000
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = 5 * time.Minute
	// Sessions cut off when the sink closes are expected; the counts are the record.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if withTLS {
		cert, err := selfSigned("sink.mailbench.test")
		if err != nil {
			return nil, err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("starting the sink on %s: %w", addr, err)
	}
	s.srv, s.ln = srv, ln
	go func() { _ = srv.Serve(ln) }()
	return s, nil
}

// addr is where the sink listens.
func (s *countSink) addr() string { return s.ln.Addr().String() }

// close stops listening and drops every session; the port is then closed, so a relay meets a
// destination that is down.
func (s *countSink) close() error { return s.srv.Close() }

// count returns what arrived for rcpt so far.
func (s *countSink) count(rcpt string) sinkCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxes[strings.ToLower(rcpt)]
	if b == nil {
		return sinkCount{}
	}
	return b.snapshot()
}

func (b *sinkBox) snapshot() sinkCount {
	return sinkCount{distinct: len(b.ids), deliveries: b.deliveries, overTLS: b.overTLS, bytes: b.bytes, last: b.last}
}

// waitFor returns when at least n distinct messages have arrived for rcpt, with the time the last of
// them arrived, or when ctx ends.
func (s *countSink) waitFor(ctx context.Context, rcpt string, n int) (sinkCount, error) {
	rcpt = strings.ToLower(rcpt)
	for {
		s.mu.Lock()
		c := sinkCount{}
		if b := s.boxes[rcpt]; b != nil {
			c = b.snapshot()
		}
		ch := s.changed
		s.mu.Unlock()
		if c.distinct >= n {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return c, fmt.Errorf("the sink holds %d of %d messages for %s: %w", c.distinct, n, rcpt, context.Cause(ctx))
		case <-ch:
		}
	}
}

// record counts one message for every recipient of a transaction.
func (s *countSink) record(rcpts []string, id string, size int64, overTLS bool, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	grew := false
	for _, r := range rcpts {
		b := s.boxes[r]
		if b == nil {
			b = &sinkBox{ids: map[string]struct{}{}}
			s.boxes[r] = b
		}
		b.deliveries++
		if overTLS {
			b.overTLS++
		}
		if _, dup := b.ids[id]; dup {
			continue
		}
		b.ids[id] = struct{}{}
		b.bytes += size
		b.last = at
		grew = true
	}
	if grew {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// NewSession implements smtp.Backend.
// go-smtp starts a new session after STARTTLS, so a session knows whether it runs over TLS.
func (s *countSink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, overTLS := c.TLSConnectionState()
	return &countSession{sink: s, overTLS: overTLS}, nil
}

// countSession is one SMTP session with the counting sink.
type countSession struct {
	sink    *countSink
	overTLS bool
	rcpts   []string
	seq     int // messages without a Message-ID in this session, to keep them distinct
}

var _ smtp.Session = (*countSession)(nil)

func (ss *countSession) Reset()                               { ss.rcpts = nil }
func (ss *countSession) Logout() error                        { return nil }
func (ss *countSession) Mail(string, *smtp.MailOptions) error { ss.rcpts = nil; return nil }

func (ss *countSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.rcpts = append(ss.rcpts, strings.ToLower(to))
	return nil
}

func (ss *countSession) Data(r io.Reader) error {
	id, size, err := readMessageID(r)
	if err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "reading the message failed"}
	}
	at := time.Now()
	if id == "" {
		ss.seq++
		id = fmt.Sprintf("no-message-id.%p.%d", ss, ss.seq)
	}
	ss.sink.record(ss.rcpts, id, size, ss.overTLS, at)
	ss.rcpts = nil
	return nil
}

// readMessageID reads a whole message and returns its Message-ID header (unfolded, trimmed; empty when
// there is none) and its size in bytes.
func readMessageID(r io.Reader) (string, int64, error) {
	br := bufio.NewReaderSize(r, 4096)
	var size int64
	var id string
	inID := false
	for {
		line, err := br.ReadString('\n')
		size += int64(len(line))
		if err != nil && !errors.Is(err, io.EOF) {
			return "", size, err
		}
		text := strings.TrimRight(line, "\r\n")
		if text == "" {
			if errors.Is(err, io.EOF) {
				return strings.TrimSpace(id), size, nil
			}
			break // end of the header
		}
		if text[0] == ' ' || text[0] == '\t' { // a folded continuation line (RFC 5322 §2.2.3)
			if inID {
				id += text
			}
		} else {
			name, value, _ := strings.Cut(text, ":")
			inID = strings.EqualFold(strings.TrimSpace(name), "Message-ID")
			if inID {
				id = value
			}
		}
		if errors.Is(err, io.EOF) {
			return strings.TrimSpace(id), size, nil
		}
	}
	n, err := io.Copy(io.Discard, br)
	return strings.TrimSpace(id), size + n, err
}

// selfSigned makes a throwaway ECDSA certificate for host, valid for a day.
func selfSigned(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating the sink's key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("making the sink's certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
