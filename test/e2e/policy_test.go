package e2e

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"testing"

	"github.com/kubemail/kubemail/mailserver/config"
)

// TestSMTPPolicy covers a few refusals through the whole server; the smtp
// package's own suites cover the rest.
func TestSMTPPolicy(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Limits.MaxMessageBytes = 64 << 10 })
	e.start()
	plain := "\x00" + demoUser + "\x00" + demoPassword
	small := []byte("Subject: ok\r\n\r\nhello\r\n")

	t.Run("relay without AUTH is refused on MX", func(t *testing.T) {
		s := mustSMTP(t, e.addr("smtp"))
		if r, _ := s.cmd("MAIL FROM:<sender@remote.test>"); !strings.HasPrefix(r, "250") {
			t.Fatalf("MAIL: %q", r)
		}
		if r, _ := s.cmd("RCPT TO:<someone@elsewhere.test>"); !strings.HasPrefix(r, "554 5.7.1") {
			t.Errorf("relay RCPT: %q, want 554 5.7.1", r)
		}
	})

	t.Run("AUTH before STARTTLS is refused on submission", func(t *testing.T) {
		s := mustSMTP(t, e.addr("submission"))
		r, _ := s.cmd("AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte(plain)))
		if !strings.HasPrefix(r, "538 5.7.11") {
			t.Errorf("AUTH before TLS: %q, want 538 5.7.11", r)
		}
		if r, _ := s.cmd("MAIL FROM:<%s>", demoUser); !strings.HasPrefix(r, "530 5.7.0") {
			t.Errorf("MAIL before TLS: %q, want 530 5.7.0", r)
		}
	})

	t.Run("submission after STARTTLS and AUTH is accepted", func(t *testing.T) {
		s := mustSMTP(t, e.addr("submission"))
		s.startTLS(t, e.caFile)
		if r, _ := s.cmd("EHLO client.test"); !strings.HasPrefix(r, "250") {
			t.Fatalf("EHLO: %q", r)
		}
		if r, _ := s.cmd("AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte(plain))); !strings.HasPrefix(r, "235") {
			t.Fatalf("AUTH: %q", r)
		}
		if r, _ := s.send(demoUser, demoUser, small); !strings.HasPrefix(r, "250") {
			t.Errorf("submission: %q", r)
		}
	})

	t.Run("a smuggled message is refused and not stored", func(t *testing.T) {
		before := mustPOP3(t, e, demoUser, demoPassword)
		n := before.count(t)
		before.quit()

		s := mustSMTP(t, e.addr("smtp"))
		for _, c := range []string{"MAIL FROM:<sender@remote.test>", "RCPT TO:<" + demoUser + ">", "DATA"} {
			if r, _ := s.cmd("%s", c); !strings.HasPrefix(r, "250") && !strings.HasPrefix(r, "354") {
				t.Fatalf("%s: %q", c, r)
			}
		}
		// SMTP smuggling (RFC 5321 §2.3.8): "\n.\r\n" ends the data for
		// some servers and lets a second, forged transaction through.
		payload := "Subject: outer\r\n\r\nhello\n.\r\nMAIL FROM:<ceo@example.test>\r\nRCPT TO:<" + demoUser +
			">\r\nDATA\r\nSubject: smuggled\r\n\r\nforged\r\n.\r\n"
		if _, err := io.WriteString(s.conn, payload); err != nil {
			t.Fatal(err)
		}
		code, msg, err := s.reply()
		if err != nil || code != 554 || !strings.HasPrefix(msg, "5.6.0") {
			t.Errorf("smuggling payload: %d %q %v, want 554 5.6.0", code, msg, err)
		}
		after := mustPOP3(t, e, demoUser, demoPassword)
		if got := after.count(t); got != n {
			t.Errorf("the mailbox went from %d to %d messages", n, got)
		}
		for i := 1; i <= after.count(t); i++ {
			if bytes.Contains(after.retr(t, i), []byte("smuggled")) {
				t.Errorf("message %d is the smuggled one", i)
			}
		}
		after.quit()
	})

	t.Run("an oversize message is refused", func(t *testing.T) {
		s := mustSMTP(t, e.addr("smtp"))
		if r, _ := s.cmd("MAIL FROM:<sender@remote.test> SIZE=%d", 100<<10); !strings.HasPrefix(r, "552 5.3.4") {
			t.Errorf("MAIL with SIZE over the limit: %q, want 552 5.3.4", r)
		}
		big := append([]byte("Subject: big\r\n\r\n"), bytes.Repeat([]byte(strings.Repeat("x", 98)+"\r\n"), 1000)...)
		if r, _ := s.send("sender@remote.test", demoUser, big); !strings.HasPrefix(r, "552 5.3.4") {
			t.Errorf("a 100 KB message: %q, want 552 5.3.4", r)
		}
		// The session is still usable for a message within the limit.
		if r, _ := s.send("sender@remote.test", demoUser, small); !strings.HasPrefix(r, "250") {
			t.Errorf("a small message after the refusal: %q", r)
		}
	})
}
