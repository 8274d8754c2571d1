package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/auth"
	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/mail"
)

// testDirectory is the mail.Directory over the configuration, as the
// server's.
type testDirectory struct {
	holder    *config.Holder
	senderAll bool
}

func (d *testDirectory) Resolve(_ context.Context, rcpt string) (mail.Recipient, error) {
	res, err := d.holder.Current().Resolve(rcpt)
	switch {
	case errors.Is(err, config.ErrUnknownRecipient), errors.Is(err, config.ErrInvalidAddress):
		return mail.Recipient{}, fmt.Errorf("%w: %w", mail.ErrUnknownRecipient, err)
	case err != nil:
		return mail.Recipient{}, err
	}
	return mail.Recipient{Address: rcpt, Local: res.Local, Accounts: res.Accounts, External: res.External}, nil
}

func (d *testDirectory) SenderAllowed(account, from string) bool {
	return d.senderAll || d.holder.Current().SenderAllowed(account, from)
}

// testAuth checks passwords against the configuration.
type testAuth struct{ holder *config.Holder }

func (a testAuth) Authenticate(_ context.Context, _ netip.Addr, user, pass string) (string, error) {
	hash, _, ok := a.holder.LookupPassword(user)
	if !ok {
		return "", mail.ErrInvalidCredentials
	}
	if good, err := auth.Verify(hash, pass); err != nil || !good {
		return "", mail.ErrInvalidCredentials
	}
	return strings.ToLower(user), nil
}

// wire is a raw SMTP client for exact exchanges.
type wire struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialSMTP(t *testing.T, addr string) *wire {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(hangGuard))
	t.Cleanup(func() { _ = c.Close() })
	w := &wire{t: t, c: c, r: bufio.NewReader(c)}
	w.expect("220 ")
	return w
}

// reply reads one whole reply and returns its last line.
func (w *wire) reply() string {
	w.t.Helper()
	for {
		l, err := w.r.ReadString('\n')
		if err != nil {
			w.t.Fatalf("reading a reply: %v", err)
		}
		l = strings.TrimRight(l, "\r\n")
		if len(l) < 4 || l[3] != '-' {
			return l
		}
	}
}

func (w *wire) expect(prefix string) {
	w.t.Helper()
	if got := w.reply(); !strings.HasPrefix(got, prefix) {
		w.t.Fatalf("reply %q, want %q…", got, prefix)
	}
}

// cmd sends a line and checks the reply's prefix.
func (w *wire) cmd(line, prefix string) {
	w.t.Helper()
	if _, err := w.c.Write([]byte(line + "\r\n")); err != nil {
		w.t.Fatal(err)
	}
	w.expect(prefix)
}
