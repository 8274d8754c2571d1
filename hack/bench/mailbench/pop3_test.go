package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// fakePOP3 serves one maildrop of the given messages (CRLF text, not yet dot-stuffed) to one client and
// records the commands it received; with tlsConf it offers STLS and refuses PASS before it.
func fakePOP3(t *testing.T, password string, msgs []string, tlsConf *tls.Config) (addr string, commands <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	cmds := make(chan string, 100)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		r := bufio.NewReader(conn)
		secure := false
		fmt.Fprint(conn, "+OK fake POP3 ready\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			cmds <- line
			verb, arg, _ := strings.Cut(line, " ")
			switch verb {
			case "USER":
				fmt.Fprint(conn, "+OK\r\n")
			case "CAPA":
				fmt.Fprint(conn, "+OK\r\nUSER\r\n")
				if tlsConf != nil && !secure {
					fmt.Fprint(conn, "STLS\r\n")
				}
				fmt.Fprint(conn, ".\r\n")
			case "STLS":
				if tlsConf == nil || secure {
					fmt.Fprint(conn, "-ERR no\r\n")
					continue
				}
				fmt.Fprint(conn, "+OK begin TLS\r\n")
				tc := tls.Server(conn, tlsConf)
				if err := tc.Handshake(); err != nil {
					return
				}
				conn, r, secure = tc, bufio.NewReader(tc), true
			case "PASS":
				if tlsConf != nil && !secure {
					fmt.Fprint(conn, "-ERR TLS required before authentication, use STLS\r\n")
					continue
				}
				if arg != password {
					fmt.Fprint(conn, "-ERR [AUTH] invalid credentials\r\n")
					continue
				}
				fmt.Fprint(conn, "+OK logged in\r\n")
			case "STAT":
				fmt.Fprintf(conn, "+OK %d 12345\r\n", len(msgs))
			case "LIST":
				fmt.Fprintf(conn, "+OK %d messages\r\n", len(msgs))
				for i, m := range msgs {
					fmt.Fprintf(conn, "%d %d\r\n", i+1, len(m))
				}
				fmt.Fprint(conn, ".\r\n")
			case "RETR":
				var n int
				if _, err := fmt.Sscan(arg, &n); err != nil || n < 1 || n > len(msgs) {
					fmt.Fprint(conn, "-ERR no such message\r\n")
					continue
				}
				fmt.Fprint(conn, "+OK\r\n")
				for _, l := range strings.SplitAfter(msgs[n-1], "\r\n") {
					if strings.HasPrefix(l, ".") {
						l = "." + l // RFC 1939 §3 byte-stuffing
					}
					fmt.Fprint(conn, l)
				}
				fmt.Fprint(conn, ".\r\n")
			case "QUIT":
				fmt.Fprint(conn, "+OK bye\r\n")
				return
			default:
				fmt.Fprint(conn, "-ERR unknown command\r\n")
			}
		}
	}()
	return ln.Addr().String(), cmds
}

func TestPOP3ClientReadsAMaildrop(t *testing.T) {
	msgs := []string{
		"Subject: one\r\n\r\nhello\r\n",
		"Subject: two\r\n\r\n.a line starting with a dot\r\n..two dots\r\nend\r\n",
	}
	addr, cmds := fakePOP3(t, "secret", msgs, nil)
	ctx := context.Background()
	c, err := dialPOP3(ctx, addr, "u@bench.test", "secret", connOptions{timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.stat(); err != nil || n != 2 {
		t.Errorf("stat = %d, %v; want 2", n, err)
	}
	if n, err := c.list(); err != nil || n != 2 {
		t.Errorf("list = %d, %v; want 2 listings", n, err)
	}
	for i, m := range msgs {
		size, err := c.retr(i + 1)
		if err != nil || size != int64(len(m)) {
			t.Errorf("retr %d = %d bytes, %v; want %d (dot-stuffing undone)", i+1, size, err, len(m))
		}
	}
	if _, err := c.retr(3); err == nil {
		t.Errorf("retr of a missing message succeeded")
	}
	if err := c.quit(); err != nil {
		t.Errorf("quit: %v", err)
	}
	want := []string{"USER u@bench.test", "PASS secret", "STAT", "LIST", "RETR 1", "RETR 2", "RETR 3", "QUIT"}
	for _, w := range want {
		if got := <-cmds; got != w {
			t.Errorf("server received %q, want %q", got, w)
		}
	}
}

func TestPOP3ClientReportsABadPassword(t *testing.T) {
	addr, _ := fakePOP3(t, "secret", nil, nil)
	_, err := dialPOP3(context.Background(), addr, "u@bench.test", "wrong", connOptions{timeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "invalid credentials") {
		t.Errorf("dialPOP3 with a wrong password = %v, want the server's -ERR", err)
	}
}

func TestPOP3Pass(t *testing.T) {
	msgs := []string{"Subject: a\r\n\r\nx\r\n", "Subject: b\r\n\r\n.y\r\n", "Subject: c\r\n\r\nz\r\n"}
	tests := map[string]struct {
		want    int
		wantErr string
	}{
		"a maildrop of the expected size is read whole": {want: 3},
		"a maildrop of another size is reported":        {want: 4, wantErr: "LIST returned 3 messages, want 4"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			addr, _ := fakePOP3(t, "pw", msgs, nil)
			list, total, bytes, err := pop3Pass(context.Background(), addr, "u@bench.test", "pw", tc.want, connOptions{timeout: 5 * time.Second, startTLS: true})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("pop3Pass = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(len(msgs[0]) + len(msgs[1]) + len(msgs[2])); bytes != want {
				t.Errorf("bytes = %d, want %d", bytes, want)
			}
			if list <= 0 || total < list {
				t.Errorf("timings list=%v total=%v, want 0 < list <= total", list, total)
			}
		})
	}
}

func TestPOP3ClientUpgradesWithSTLS(t *testing.T) {
	msgs := []string{"Subject: a\r\n\r\nx\r\n"}
	tests := map[string]struct {
		startTLS bool
		wantTLS  bool
		wantErr  string
	}{
		"with -starttls the session moves to TLS before PASS": {startTLS: true, wantTLS: true},
		"without it a TLS-only server refuses the password":   {wantErr: "TLS required"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			addr, cmds := fakePOP3(t, "pw", msgs, testServerTLS(t))
			c, err := dialPOP3(context.Background(), addr, "u@bench.test", "pw", connOptions{timeout: 5 * time.Second, startTLS: tc.startTLS})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("dialPOP3 = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.tls != tc.wantTLS {
				t.Errorf("tls = %v, want %v", c.tls, tc.wantTLS)
			}
			if size, err := c.retr(1); err != nil || size != int64(len(msgs[0])) {
				t.Errorf("retr over TLS = %d, %v", size, err)
			}
			if err := c.quit(); err != nil {
				t.Errorf("quit: %v", err)
			}
			for _, want := range []string{"CAPA", "STLS", "USER u@bench.test", "PASS pw"} {
				if got := <-cmds; got != want {
					t.Errorf("server received %q, want %q", got, want)
				}
			}
		})
	}
}
