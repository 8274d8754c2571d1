package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/queue"
	"github.com/kubemail/kubemail/mailserver/store"
	"github.com/kubemail/kubemail/mailserver/store/sqlite"
)

func TestQueueCommands(t *testing.T) {
	st, err := sqlite.Open(t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	later := time.Now().Add(time.Hour)
	for _, id := range []string{"MSGONE", "MSGTWO"} {
		_, err := st.Submit(context.Background(), store.Submission{Body: []byte("Subject: x\r\n\r\nx\r\n"), Outbound: &store.Outbound{
			Message:     store.OutboundMessage{ID: id, Sender: "alice@a.test", Created: time.Now()},
			Recipients:  []store.OutboundRecipient{{Address: "bob@b.test"}},
			NextAttempt: later,
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(queue.NewAdminHandler(queue.AdminOptions{Store: st}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	cfgPath := filepath.Join(t.TempDir(), "server.yaml")
	cfg := "apiVersion: server.kubemail.io/v1alpha1\nkind: ServerConfig\nhostname: mx.a.test\n" +
		"listeners: {admin: {address: \"" + addr + "\"}}\nstorage: {path: data}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args    []string
		code    int
		stdout  string
		stderr  string
		noMatch string
	}{
		{[]string{"queue", "list", "--config", cfgPath}, 0, "MSGONE", "", ""},
		{[]string{"queue", "list", "--addr", addr}, 0, "bob@b.test", "", ""},
		{[]string{"queue", "retry", "MSGONE", "--addr", addr}, 0, "1 recipients rescheduled", "", ""},
		{[]string{"queue", "retry", "--addr", addr}, 0, "2 recipients rescheduled", "", ""},
		{[]string{"queue", "delete", "MSGONE", "--addr", addr}, 0, "deleted MSGONE", "", ""},
		{[]string{"queue", "delete", "MSGONE", "--addr", addr}, 1, "", "no queued message MSGONE", ""},
		{[]string{"queue", "list", "--addr", addr}, 0, "MSGTWO", "", "MSGONE"},
		{[]string{"queue", "delete", "--addr", addr}, 2, "", "Usage: kubemail queue", ""},
		{[]string{"queue", "list"}, 2, "", "give --addr HOST:PORT or --config FILE", ""},
		{[]string{"queue", "frobnicate", "--addr", addr}, 2, "", "Usage: kubemail queue", ""},
	}
	for _, s := range steps {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), s.args, &stdout, &stderr)
		if code != s.code || !strings.Contains(stdout.String(), s.stdout) || !strings.Contains(stderr.String(), s.stderr) ||
			(s.noMatch != "" && strings.Contains(stdout.String(), s.noMatch)) {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				s.args, code, stdout.String(), stderr.String(), s.code, s.stdout, s.stderr)
		}
	}
}

func TestPrintQueue(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	err := printQueue(&b, []queue.MessageInfo{{ID: "ID1", Sender: "", Created: now.Add(-time.Hour), Size: 42,
		Recipients: []queue.RecipientInfo{
			{Address: "x@b.test", Attempts: 3, NextAttempt: now.Add(5 * time.Minute), LastError: "451 4.3.0 later"},
			{Address: "y@b.test", Attempts: 1, InFlight: true},
		}}}, now)
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"ID1", "<>", "1h0m0s", "42", "x@b.test", "3 attempts", "next attempt in 5m0s", "451 4.3.0 later", "being delivered"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := printQueue(&b, nil, now); err != nil || !strings.Contains(b.String(), "empty") {
		t.Fatalf("empty queue: %q, %v", b.String(), err)
	}
}
