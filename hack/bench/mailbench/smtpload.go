package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// sendOptions describes one SMTP load: count messages to one recipient over sessions concurrent sessions.
type sendOptions struct {
	addr     string
	from, to string
	count    int
	firstSeq int // sequence number of the first message (the mailbox's current size)
	sessions int
	size     int
	run      string
	timeout  time.Duration // per SMTP command
}

// sendRetries bounds how often one message is retried after a temporary failure or a dropped session.
const sendRetries = 3

// sendAll delivers opts.count messages and returns when the server has acknowledged every one with 250.
// Each session sends MAIL, RCPT, DATA for one message after another (the go-smtp client does not
// pipeline); a dropped session is redialled and a 4xx is retried, up to sendRetries times per message.
func sendAll(ctx context.Context, opts sendOptions) error {
	var next atomic.Int64
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, opts.sessions)
	var wg sync.WaitGroup
	for range min(opts.sessions, opts.count) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sendSession(ctx, opts, &next); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return summarize(errs, min(opts.sessions, opts.count))
}

// summarize reduces the sessions' errors to the first real one and a count; the sessions cancelled
// because of it only report context.Canceled.
func summarize(errs <-chan error, sessions int) error {
	var first error
	failed := 0
	for err := range errs {
		if errors.Is(err, context.Canceled) && first != nil {
			continue
		}
		failed++
		if first == nil || errors.Is(first, context.Canceled) {
			first = err
		}
	}
	switch {
	case first == nil:
		return nil
	case failed == 1:
		return first
	default:
		return fmt.Errorf("%d of %d SMTP sessions failed, the first: %w", failed, sessions, first)
	}
}

// sendSession is one client session taking messages from next until all are sent.
func sendSession(ctx context.Context, opts sendOptions, next *atomic.Int64) error {
	var c *smtp.Client
	defer func() {
		if c != nil {
			_ = c.Quit()
			_ = c.Close()
		}
	}()
	for {
		i := int(next.Add(1) - 1)
		if i >= opts.count {
			return nil
		}
		msg := buildMessage(messageSpec{seq: opts.firstSeq + i, from: opts.from, to: opts.to, size: opts.size, run: opts.run})
		var err error
		for attempt := 0; ; attempt++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if c == nil {
				if c, err = dialSMTP(ctx, opts); err != nil {
					return err
				}
			}
			err = sendOne(c, opts, msg)
			if err == nil {
				break
			}
			var se *smtp.SMTPError
			temporary := errors.As(err, &se) && se.Temporary()
			if !temporary {
				// A protocol or network failure leaves the session in an unknown state: start a new one.
				_ = c.Close()
				c = nil
				if errors.As(err, &se) {
					return fmt.Errorf("sending message %d to %s: %w", opts.firstSeq+i, opts.addr, err)
				}
			} else if rerr := c.Reset(); rerr != nil {
				_ = c.Close()
				c = nil
			}
			if attempt >= sendRetries {
				return fmt.Errorf("sending message %d to %s after %d attempts: %w", opts.firstSeq+i, opts.addr, attempt+1, err)
			}
			time.Sleep(50 * time.Millisecond << attempt)
		}
	}
}

func dialSMTP(ctx context.Context, opts sendOptions) (*smtp.Client, error) {
	d := net.Dialer{Timeout: opts.timeout}
	conn, err := d.DialContext(ctx, "tcp", opts.addr)
	if err != nil {
		return nil, fmt.Errorf("dialing SMTP %s: %w", opts.addr, err)
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout = opts.timeout
	c.SubmissionTimeout = opts.timeout
	if err := c.Hello("mailbench.client.test"); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("greeting SMTP %s: %w", opts.addr, err)
	}
	return c, nil
}

func sendOne(c *smtp.Client, opts sendOptions, msg []byte) error {
	if err := c.Mail(opts.from, nil); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(opts.to, nil); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		_ = w.Close()
		return fmt.Errorf("writing message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	return nil
}
