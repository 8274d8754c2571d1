package queue

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/store"
	"github.com/kubemail/kubemail/mailserver/store/sqlite"
)

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestSchedule(t *testing.T) {
	s := Schedule{Delays: []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour}, Expiry: 3 * time.Hour,
		DelayNotice: time.Hour, Jitter: func(time.Duration) time.Duration { return 0 }}
	cases := map[string]struct {
		attempts int
		now      time.Time
		next     time.Time
		expired  bool
	}{
		"after the first failure the first delay":          {1, t0, t0.Add(5 * time.Minute), false},
		"after the second failure the second delay":        {2, t0.Add(5 * time.Minute), t0.Add(20 * time.Minute), false},
		"the last delay repeats":                           {7, t0.Add(time.Hour), t0.Add(2 * time.Hour), false},
		"an attempt past the expiry is made at the expiry": {7, t0.Add(150 * time.Minute), t0.Add(3 * time.Hour), false},
		"a failure at the expiry expires":                  {8, t0.Add(3 * time.Hour), time.Time{}, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			next, expired := s.Next(tc.attempts, t0, tc.now)
			if !next.Equal(tc.next) || expired != tc.expired {
				t.Fatalf("Next = %v, %v; want %v, %v", next, expired, tc.next, tc.expired)
			}
		})
	}
	if s.DelayNoticeDue(t0, t0.Add(59*time.Minute)) || !s.DelayNoticeDue(t0, t0.Add(time.Hour)) {
		t.Fatal("delay notice due at the wrong time")
	}
	s.DelayNotice = 3 * time.Hour
	if s.DelayNoticeDue(t0, t0.Add(4*time.Hour)) {
		t.Fatal("a delay notice not before the expiry was due")
	}
	// The default jitter adds up to a tenth, never less than the delay.
	s.Jitter = nil
	for range 100 {
		next, _ := s.Next(1, t0, t0)
		if d := next.Sub(t0); d < 5*time.Minute || d >= 5*time.Minute+30*time.Second {
			t.Fatalf("jittered delay %v", d)
		}
	}
}

func TestReadCredentials(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "creds")
	if err := os.WriteFile(file, []byte("user@x.test\r\npass word\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if u, p, err := readCredentials(file); err != nil || u != "user@x.test" || p != "pass word" {
		t.Fatalf("file: %q %q %v", u, p, err)
	}
	secret := filepath.Join(dir, "secret")
	if err := os.Mkdir(secret, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"username": "u2\n", "password": "p2"} {
		if err := os.WriteFile(filepath.Join(secret, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if u, p, err := readCredentials(secret); err != nil || u != "u2" || p != "p2" {
		t.Fatalf("directory: %q %q %v", u, p, err)
	}
	if err := os.WriteFile(file, []byte("only a user\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readCredentials(file); err == nil {
		t.Fatal("a file without a password was accepted")
	}
}

func TestSTSPolicyParsing(t *testing.T) {
	p, err := parseSTSPolicy("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 999999999\r\nextra: ignored\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != STSModeEnforce || !slices.Equal(p.MX, []string{"mail.example.com", "*.example.net"}) || p.MaxAge != stsMaxAge*time.Second {
		t.Fatalf("policy %+v", p)
	}
	for host, want := range map[string]bool{"mail.example.com.": true, "MAIL.example.com": true, "a.example.net": true,
		"a.b.example.net": false, "example.net": false, "other.example.com": false} {
		if p.Matches(host) != want {
			t.Errorf("Matches(%s) = %v", host, !want)
		}
	}
	for name, body := range map[string]string{
		"no version":      "mode: enforce\nmx: a\nmax_age: 1\n",
		"a wrong version": "version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",
		"an unknown mode": "version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n",
		"no mx":           "version: STSv1\nmode: enforce\nmax_age: 1\n",
		"no max_age":      "version: STSv1\nmode: enforce\nmx: a\n",
		"a bad line":      "version: STSv1\nnonsense\n",
	} {
		if _, err := parseSTSPolicy(body); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for txts, want := range map[string]string{
		"v=STSv1; id=20260301":        "20260301",
		"v=STSv1; id=a|v=STSv1; id=b": "",
		"v=spf1 -all|v=STSv1;id=x;":   "x",
		"v=STSv10; id=1":              "",
	} {
		if got := stsRecordID(strings.Split(txts, "|")); got != want {
			t.Errorf("stsRecordID(%q) = %q, want %q", txts, got, want)
		}
	}
}

func TestSchedulerWakesWhenTheNextRecipientIsDue(t *testing.T) {
	st, err := sqlite.Open(t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg, err := config.New(config.Config{APIVersion: config.APIVersion, Kind: config.Kind, Hostname: "mx.a.test",
		Storage: config.Storage{Path: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := New(Options{Store: st, Config: config.NewHolder(cfg), Resolver: failingResolver{}, Clock: newFakeClock(t0),
		PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if d := q.nextWake(t.Context(), t0); d != time.Hour {
		t.Fatalf("nextWake of an empty queue = %v, want the poll interval", d)
	}
	_, err = st.Submit(t.Context(), store.Submission{Body: []byte("x\r\n"), Outbound: &store.Outbound{
		Message: store.OutboundMessage{ID: "M", Sender: "a@a.test", Created: t0}, NextAttempt: t0.Add(3 * time.Minute),
		Recipients: []store.OutboundRecipient{{Address: "b@b.test"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := q.nextWake(t.Context(), t0); d != 3*time.Minute {
		t.Fatalf("nextWake = %v, want 3m0s", d)
	}
}

// failingResolver answers every question with a temporary failure.
type failingResolver struct{}

func (failingResolver) LookupMX(context.Context, string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "test", IsTemporary: true}
}

func (failingResolver) LookupIP(context.Context, string) ([]netip.Addr, error) {
	return nil, &net.DNSError{Err: "test", IsTemporary: true}
}

func (failingResolver) LookupTXT(context.Context, string) ([]string, error) {
	return nil, &net.DNSError{Err: "test", IsTemporary: true}
}

func TestNotifyParam(t *testing.T) {
	if got := notifyParam(store.NotifyFailure | store.NotifyDelay); got != " NOTIFY=FAILURE,DELAY" {
		t.Fatalf("notifyParam = %q", got)
	}
}
