package main

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
)

func TestBuildMessage(t *testing.T) {
	tests := map[string]struct {
		seq, size  int
		wantNeedle bool
	}{
		"the first message of a mailbox carries the needle":   {seq: 0, size: 10240, wantNeedle: true},
		"an ordinary message has no needle":                   {seq: 1, size: 10240},
		"every hundredth message carries the needle":          {seq: 9900, size: 10240, wantNeedle: true},
		"a size just above the headers is still exact":        {seq: 7, size: 512},
		"a size one byte past a full line is still exact":     {seq: 3, size: 10241},
		"a large message is exact and keeps lines short":      {seq: 12345, size: 1 << 20},
		"sequence numbers beyond the default run still works": {seq: 123456, size: 4096, wantNeedle: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			msg := buildMessage(messageSpec{seq: tc.seq, from: "a@x.test", to: "b@y.test", size: tc.size, run: "r1"})
			if len(msg) != tc.size {
				t.Fatalf("size = %d, want %d", len(msg), tc.size)
			}
			if !bytes.HasSuffix(msg, []byte("\r\n")) {
				t.Errorf("message does not end with CRLF")
			}
			for i, line := range strings.Split(strings.TrimSuffix(string(msg), "\r\n"), "\r\n") {
				if strings.ContainsAny(line, "\r\n") {
					t.Fatalf("line %d has a bare CR or LF: %q", i, line)
				}
				if len(line) > 78 {
					t.Errorf("line %d is %d characters long, more than RFC 5322's 78", i, len(line))
				}
				if strings.HasPrefix(line, ".") {
					t.Errorf("line %d starts with a dot: %q", i, line)
				}
			}
			m, err := mail.ReadMessage(bytes.NewReader(msg))
			if err != nil {
				t.Fatalf("message does not parse: %v", err)
			}
			subject := m.Header.Get("Subject")
			if got := strings.HasSuffix(subject, " "+needleWord); got != tc.wantNeedle {
				t.Errorf("subject %q: needle = %v, want %v", subject, got, tc.wantNeedle)
			}
			if m.Header.Get("Message-Id") == "" || m.Header.Get("Date") == "" {
				t.Errorf("Message-ID or Date missing: %v", m.Header)
			}
		})
	}
}

func TestBuildMessageIsDeterministicPerSequence(t *testing.T) {
	spec := messageSpec{seq: 42, from: "a@x.test", to: "b@y.test", size: 10240, run: "r"}
	a, b := buildMessage(spec), buildMessage(spec)
	if !bytes.Equal(a, b) {
		t.Errorf("the same sequence number produced two different messages")
	}
	spec.seq = 43
	if bytes.Equal(a, buildMessage(spec)) {
		t.Errorf("two sequence numbers produced the same message")
	}
}

func TestNeedlesBelow(t *testing.T) {
	tests := map[string]struct{ n, want int }{
		"an empty mailbox has none":                 {0, 0},
		"one message is the first, a needle":        {1, 1},
		"a hundred messages hold one":               {100, 1},
		"the hundred-and-first message is a needle": {101, 2},
		"the default mailbox holds a hundred":       {10000, 100},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := needlesBelow(tc.n); got != tc.want {
				t.Errorf("needlesBelow(%d) = %d, want %d", tc.n, got, tc.want)
			}
			count := 0
			for i := range tc.n {
				if hasNeedle(i) {
					count++
				}
			}
			if count != tc.want {
				t.Errorf("hasNeedle marks %d of %d messages, needlesBelow says %d", count, tc.n, tc.want)
			}
		})
	}
}
