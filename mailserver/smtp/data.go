package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/kubemail/kubemail/mailserver/mail"
)

// errMessageTooBig is this package's own size check (go-smtp checks too).
var errMessageTooBig = errors.New("message too big")

// readChunk is the size of each read from the message stream.
const readChunk = 32 << 10

// Data implements gosmtp.Session for both DATA and BDAT (with BDAT go-smtp
// calls it in its own goroutine, fed through a pipe).
func (s *session) Data(r io.Reader) error {
	defer s.recoverPanic("DATA")
	return s.boundary(s.data(r))
}

func (s *session) data(r io.Reader) error {
	env, ok := s.envelope()
	if !ok {
		_, _ = io.Copy(io.Discard, r)
		return s.refuse(ReasonProtocol, replyNeedMail, "Message data without a transaction refused")
	}
	content, err := s.readMessage(r)
	if err != nil {
		return err
	}
	env.ReceivedAt = s.srv.opts.Now()
	ri := receivedInfo{
		HELO: env.HELO, RemoteIP: env.RemoteIP, Hostname: s.srv.opts.Hostname, TLS: s.tls,
		Auth: env.Account != "", UTF8: env.UTF8, ID: env.ID, At: env.ReceivedAt,
	}
	if len(env.Recipients) == 1 {
		ri.Rcpt = env.Recipients[0].Address
	}
	header := ri.header()
	var check mail.CheckResult
	if s.checked(env) {
		ctx, cancel := context.WithTimeout(s.srv.ctx, checkTimeout)
		check = s.srv.opts.Checker.CheckMessage(ctx, env, content)
		cancel()
		if check.Reject {
			return s.refuse(ReasonDMARCReject, replyDMARCReject, "Message refused by its authentication check",
				"id", env.ID, "from", env.From, "reason", check.Reason)
		}
		if check.Content != nil {
			content = check.Content
		}
	}
	body := make([]byte, 0, len(header)+len(check.Header)+len(content))
	body = append(append(append(body, header...), check.Header...), content...)

	ctx, cancel := context.WithTimeout(s.srv.ctx, deliverTimeout)
	defer cancel()
	if err := s.srv.deliver.Deliver(ctx, env, body); err != nil {
		return s.quotaReply("delivery", fmt.Errorf("delivering message %s: %w", env.ID, err))
	}
	rcpts := make([]string, len(env.Recipients))
	for i, r := range env.Recipients {
		rcpts[i] = r.Address
	}
	s.srv.obs.MessageAccepted(s.srv.opts.Mode, int64(len(body)), len(env.Recipients))
	s.log.Info("Message accepted", "id", env.ID, "from", env.From, "rcpt", rcpts, "size", len(body))
	return replyAccepted(env.ID)
}

// checked reports whether the message goes through Options.Checker: on the
// MX listener, from a client that neither authenticated nor may relay.
func (s *session) checked(env mail.Envelope) bool {
	if s.srv.opts.Checker == nil || s.srv.opts.Mode != ModeMX || env.Account != "" || env.Relayed {
		return false
	}
	return s.srv.relay == nil || !s.srv.relay.RelayAllowed(env.RemoteIP)
}

// envelope snapshots the transaction.
func (s *session) envelope() (mail.Envelope, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.inTx || len(s.rcpts) == 0 {
		return mail.Envelope{}, false
	}
	return mail.Envelope{
		ID:         mail.NewID(),
		From:       s.from,
		Recipients: slices.Clone(s.rcpts),
		HELO:       s.helo,
		RemoteIP:   s.ip,
		Account:    s.account,
		TLS:        s.tls != nil,
		UTF8:       s.utf8,
		EnvelopeID: s.dsn.envID,
		Return:     s.dsn.ret,
		RequireTLS: s.dsn.requireTLS,
		Relayed:    s.relayed,
	}, true
}

// readMessage reads the whole message data, checking line endings, line
// length and size as it goes. After a violation it keeps reading to the
// end of the data without keeping it, so the refusal is the reply to the
// end of the data and the session stays in step with the client.
func (s *session) readMessage(r io.Reader) ([]byte, error) {
	opts := s.srv.opts
	dr := &deadlineReader{r: r, conn: s.tc, timeout: opts.DataTimeout}
	chk := &lineChecker{max: opts.MaxLineLength}
	var buf bytes.Buffer
	var violation error
	chunk := make([]byte, readChunk)
	for {
		n, err := dr.Read(chunk)
		if n > 0 && violation == nil {
			_, _ = chk.Write(chunk[:n])
			switch {
			case chk.err != nil:
				violation = chk.err
			case int64(buf.Len()+n) > opts.MaxMessageBytes:
				violation = errMessageTooBig
			default:
				buf.Write(chunk[:n])
			}
			if violation != nil {
				buf = bytes.Buffer{} // release the memory while draining
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if violation != nil && errors.Is(err, gosmtp.ErrDataTooLarge) {
				return nil, s.violationReply(violation)
			}
			// Other read errors end the connection or the transfer, and
			// their reply says so.
			return nil, s.readErrorReply(err)
		}
	}
	if violation == nil {
		violation = chk.Close()
	}
	if violation != nil {
		return nil, s.violationReply(violation)
	}
	return buf.Bytes(), nil
}

func (s *session) violationReply(err error) error {
	switch err {
	case errBareCR, errBareLF:
		return s.refuse(ReasonBareLineEnding, replyBareLineEnding, "Message with bare line ending refused",
			"detail", err.Error())
	case errLineTooLong:
		return s.refuse(ReasonLineTooLong, replyLineTooLong, "Message with overlong line refused",
			"limit", s.srv.opts.MaxLineLength)
	default:
		return s.refuse(ReasonMessageTooBig, replyMessageTooBig, "Message over the size limit refused",
			"limit", s.srv.opts.MaxMessageBytes)
	}
}

// readErrorReply maps errors of go-smtp's data readers.
func (s *session) readErrorReply(err error) error {
	switch {
	case errors.Is(err, gosmtp.ErrDataTooLarge):
		return s.refuse(ReasonMessageTooBig, replyMessageTooBig, "Message over the size limit refused",
			"limit", s.srv.opts.MaxMessageBytes)
	case errors.Is(err, gosmtp.ErrTooLongLine):
		// go-smtp's line reader cannot resume after this; without the
		// hang-up it would send a second reply (500 5.4.0) and close.
		s.tc.hangUp.Store(true)
		return s.refuse(ReasonLineTooLong, replyLineTooLongClosing, "Message with a line over the transport limit refused")
	case errors.Is(err, os.ErrDeadlineExceeded):
		// trackedConn closes the connection after this reply.
		return s.refuse(ReasonTimeout, replyDataTimeout, "Timeout reading message data")
	default:
		// RSET or a new EHLO during BDAT (gosmtp.ErrDataReset), or the
		// connection dropped: nobody is waiting for this reply.
		return s.refuse(ReasonAborted, replyLocalError, "Message transfer aborted", "cause", err.Error())
	}
}

// deadlineReader extends the connection's read deadline before every read
// of message data: go-smtp sets it only when reading a command, which would
// bound the whole transfer instead of each read.
type deadlineReader struct {
	r       io.Reader
	conn    *trackedConn
	timeout time.Duration
}

// Read implements io.Reader.
func (d *deadlineReader) Read(p []byte) (int, error) {
	if d.conn != nil {
		_ = d.conn.SetReadDeadline(time.Now().Add(d.timeout))
	}
	return d.r.Read(p)
}
