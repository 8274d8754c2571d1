package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestReadMessageID(t *testing.T) {
	tests := map[string]struct {
		in     string
		wantID string
	}{
		"a plain header":                      {"From: a@b\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n", "<1@x>"},
		"a name in another case":              {"message-id:   <2@x> \r\n\r\nbody\r\n", "<2@x>"},
		"a folded value":                      {"Message-ID:\r\n <3@x>\r\nSubject: s\r\n\r\nbody\r\n", "<3@x>"},
		"no Message-ID":                       {"Subject: s\r\n\r\nbody\r\n", ""},
		"a header without a body":             {"Message-ID: <4@x>\r\n", "<4@x>"},
		"a Message-ID line inside the body":   {"Subject: s\r\n\r\nMessage-ID: <5@x>\r\n", ""},
		"a continuation of some other header": {"Subject: s\r\n Message-ID: <6@x>\r\n\r\n", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			id, size, err := readMessageID(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if id != tc.wantID || size != int64(len(tc.in)) {
				t.Errorf("readMessageID = %q, %d; want %q, %d", id, size, tc.wantID, len(tc.in))
			}
		})
	}
}

// sendRaw delivers one message with the given recipients to addr, upgrading to TLS when withTLS.
func sendRaw(t *testing.T, addr string, withTLS bool, rcpts []string, msg string) {
	t.Helper()
	var c *smtp.Client
	var err error
	if withTLS {
		c, err = smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true}) // #nosec G402 -- the sink's throwaway certificate
	} else {
		c, err = smtp.Dial(addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("s@x.test", rcpts, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

func TestCountSinkCountsDistinctMessagesPerRecipient(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		s, err := startCountSink(context.Background(), "127.0.0.1:0", withTLS)
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now()
		sendRaw(t, s.addr(), withTLS, []string{"A@sink.test", "b@sink.test"}, "Message-ID: <1@x>\r\n\r\nhello\r\n")
		sendRaw(t, s.addr(), withTLS, []string{"a@sink.test"}, "Message-ID: <1@x>\r\n\r\nhello\r\n") // a duplicate
		sendRaw(t, s.addr(), withTLS, []string{"a@sink.test"}, "Message-ID: <2@x>\r\n\r\nhello again\r\n")

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := s.waitFor(ctx, "a@SINK.test", 2)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		wantTLS := 0
		if withTLS {
			wantTLS = 3
		}
		if got.distinct != 2 || got.deliveries != 3 || got.overTLS != wantTLS || got.last.Before(before) {
			t.Errorf("tls=%v: a@sink.test: %+v; want 2 distinct of 3 deliveries (%d over TLS), last arrival after the start", withTLS, got, wantTLS)
		}
		if b := s.count("b@sink.test"); b.distinct != 1 || b.bytes != int64(len("Message-ID: <1@x>\r\n\r\nhello\r\n")) {
			t.Errorf("tls=%v: b@sink.test: %+v; want 1 message of its size", withTLS, b)
		}
		if err := s.close(); err != nil {
			t.Fatal(err)
		}
		if c, err := net.DialTimeout("tcp", s.addr(), time.Second); err == nil {
			_ = c.Close()
			t.Errorf("tls=%v: the sink still accepts connections after close", withTLS)
		}
	}
}

func TestCountSinkWaitForGivesUp(t *testing.T) {
	s, err := startCountSink(context.Background(), "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = s.waitFor(ctx, "nobody@sink.test", 1)
	if err == nil || !strings.Contains(err.Error(), "holds 0 of 1") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waitFor on a recipient that gets nothing = %v; want a 'holds 0 of 1' deadline error", err)
	}
}
