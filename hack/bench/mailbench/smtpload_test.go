package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is an SMTP backend that keeps every message and can refuse some deliveries.
type sink struct {
	mu       sync.Mutex
	subjects map[string]int // Subject → times received
	sizes    []int
	sessions int
	// refuse decides the reply to the n-th DATA (from 1); nil accepts.
	refuse func(n int) error
	datas  int
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	return &sinkSession{s: s}, nil
}

type sinkSession struct{ s *sink }

func (*sinkSession) Reset()                               {}
func (*sinkSession) Logout() error                        { return nil }
func (*sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (*sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.datas++
	if s.refuse != nil {
		if err := s.refuse(s.datas); err != nil {
			return err
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unparsable"}
	}
	s.subjects[m.Header.Get("Subject")]++
	s.sizes = append(s.sizes, len(b))
	return nil
}

func startSink(t *testing.T, s *sink) string {
	t.Helper()
	s.subjects = map[string]int{}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestSendAll(t *testing.T) {
	tests := map[string]struct {
		count, sessions int
		refuse          func(n int) error
		wantErr         string
		wantMin         int // messages the sink must hold
	}{
		"one session sends every message once":             {count: 20, sessions: 1, wantMin: 20},
		"more sessions than messages still send each once": {count: 3, sessions: 10, wantMin: 3},
		"a temporary refusal is retried": {count: 10, sessions: 2, wantMin: 10, refuse: func(n int) error {
			if n == 4 {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again"}
			}
			return nil
		}},
		"a permanent refusal stops the load": {count: 10, sessions: 1, wantErr: "554", refuse: func(n int) error {
			if n == 2 {
				return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 3, 0}, Message: "no"}
			}
			return nil
		}},
		"a server that always defers gives up after the retries": {count: 2, sessions: 1, wantErr: "attempts", refuse: func(int) error {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "full"}
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := &sink{refuse: tc.refuse}
			addr := startSink(t, s)
			err := sendAll(context.Background(), sendOptions{
				addr: addr, from: "a@x.test", to: "b@bench.test", count: tc.count, firstSeq: 100,
				sessions: tc.sessions, size: 2048, run: "t", timeout: 5 * time.Second,
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("sendAll = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.subjects) != tc.count {
				t.Errorf("sink holds %d distinct subjects, want %d", len(s.subjects), tc.count)
			}
			for subj, n := range s.subjects {
				if n != 1 {
					t.Errorf("subject %q received %d times", subj, n)
				}
			}
			for _, sz := range s.sizes {
				if sz != 2048 {
					t.Errorf("a message of %d bytes arrived, want 2048", sz)
				}
			}
			if s.sessions > tc.sessions {
				t.Errorf("%d sessions opened, want at most %d", s.sessions, tc.sessions)
			}
			if s.subjects["mailbench message 100 "+needleWord] != 1 {
				t.Errorf("numbering does not start at firstSeq: %v", s.subjects)
			}
		})
	}
}

func TestSendAllStopsWhenCancelled(t *testing.T) {
	s := &sink{}
	addr := startSink(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := sendAll(ctx, sendOptions{addr: addr, from: "a@x.test", to: "b@bench.test", count: 5, sessions: 1, size: 1024, run: "t", timeout: time.Second})
	if err == nil {
		t.Errorf("sendAll with a cancelled context succeeded")
	}
}
