package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/kubemail/kubemail/mailserver/mail"
)

// fakeDirectory serves example.com.
type fakeDirectory struct {
	mu         sync.Mutex
	rcpts      map[string]mail.Recipient
	senders    map[string][]string
	quota      map[string]error
	resolveErr error
}

func newFakeDirectory() *fakeDirectory {
	return &fakeDirectory{
		rcpts: map[string]mail.Recipient{
			alice:                      {Local: true, Accounts: []string{alice}},
			bob:                        {Local: true, Accounts: []string{bob}},
			"team@example.com":         {Local: true, Accounts: []string{alice, bob}},
			"fwd@example.com":          {Local: true, Accounts: []string{alice}, External: []string{"x@remote.test"}},
			"full@example.com":         {Local: true, Accounts: []string{"full@example.com"}},
			"huge@example.com":         {Local: true, Accounts: []string{"huge@example.com"}},
			"quotabroken@example.com":  {Local: true, Accounts: []string{"quotabroken@example.com"}},
			"\u00fcser@example.com":    {Local: true, Accounts: []string{alice}},
			"empty-target@example.com": {Local: true},
			"postmaster@example.com":   {Local: true, Accounts: []string{bob}},
			"alias-alice@example.com":  {Local: true, Accounts: []string{alice}},
		},
		senders: map[string][]string{alice: {alice, "alias-alice@example.com"}},
		quota: map[string]error{
			"full@example.com":        &mail.OverQuotaError{Account: "full@example.com"},
			"huge@example.com":        &mail.OverQuotaError{Account: "huge@example.com", Permanent: true},
			"quotabroken@example.com": errors.New("quota table unreachable: secret-quota-detail"),
		},
	}
}

func (d *fakeDirectory) Resolve(_ context.Context, rcpt string) (mail.Recipient, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.resolveErr != nil {
		return mail.Recipient{}, d.resolveErr
	}
	if rcpt == "lookupbroken@example.com" {
		return mail.Recipient{}, errors.New("directory backend exploded: secret-lookup-detail")
	}
	domain := strings.ToLower(rcpt[strings.LastIndexByte(rcpt, '@')+1:])
	if domain != "example.com" {
		return mail.Recipient{Address: rcpt}, nil
	}
	r, ok := d.rcpts[strings.ToLower(rcpt)]
	if !ok {
		r, ok = d.rcpts[rcpt]
	}
	if !ok {
		return mail.Recipient{}, fmt.Errorf("looking up %s: %w", rcpt, mail.ErrUnknownRecipient)
	}
	r.Address = rcpt
	return r, nil
}

func (d *fakeDirectory) SenderAllowed(account, from string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.senders[account] {
		if strings.EqualFold(a, from) {
			return true
		}
	}
	return false
}

func (d *fakeDirectory) CheckQuota(_ context.Context, account string, _ int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.quota[account]
}

// fakeAuth knows alice and a few users that fail in specific ways.
type fakeAuth struct {
	mu    sync.Mutex
	calls []string // user names, in order
	ips   []netip.Addr
}

func (a *fakeAuth) Authenticate(_ context.Context, ip netip.Addr, username, password string) (string, error) {
	a.mu.Lock()
	a.calls = append(a.calls, username)
	a.ips = append(a.ips, ip)
	a.mu.Unlock()
	switch username {
	case "throttled@example.com":
		return "", fmt.Errorf("checking %s: %w", username, mail.ErrThrottled)
	case "broken@example.com":
		return "", errors.New("hash store down: secret-auth-detail")
	case alice:
		if password == alicePassword {
			return alice, nil
		}
	}
	return "", fmt.Errorf("checking %s: %w", username, mail.ErrInvalidCredentials)
}

// delivery is one call to fakeDeliverer.Deliver.
type delivery struct {
	env  mail.Envelope
	body []byte
}

// fakeDeliverer records deliveries or fails as told.
type fakeDeliverer struct {
	mu    sync.Mutex
	got   []delivery
	err   error
	panic string
	gate  chan struct{} // when set, Deliver signals started and waits for gate to close
	// started receives one value each time Deliver waits at gate.
	started chan struct{}
}

func (d *fakeDeliverer) Deliver(_ context.Context, env mail.Envelope, body []byte) error {
	d.mu.Lock()
	err, p, gate, started := d.err, d.panic, d.gate, d.started
	d.mu.Unlock()
	if gate != nil {
		started <- struct{}{}
		<-gate
	}
	if p != "" {
		panic(p)
	}
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, delivery{env: env, body: bytes.Clone(body)})
	return nil
}

func (d *fakeDeliverer) set(err error, panicMsg string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err, d.panic = err, panicMsg
}

// hold makes Deliver signal d.started and wait until the returned channel
// is closed.
func (d *fakeDeliverer) hold() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gate, d.started = make(chan struct{}), make(chan struct{}, 1)
	return d.gate
}

func (d *fakeDeliverer) deliveries() []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]delivery(nil), d.got...)
}

// countingObserver counts events by name.
type countingObserver struct {
	mu     sync.Mutex
	counts map[string]int
}

func (o *countingObserver) add(key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts = make(map[string]int)
	}
	o.counts[key]++
}

func (o *countingObserver) get(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[key]
}

func (o *countingObserver) ConnectionOpened(Mode)            { o.add("opened") }
func (o *countingObserver) ConnectionClosed(Mode)            { o.add("closed") }
func (o *countingObserver) MessageAccepted(Mode, int64, int) { o.add("accepted") }
func (o *countingObserver) MessageRejected(_ Mode, r Reason) { o.add("rejected:" + string(r)) }
func (o *countingObserver) AuthFailed(_ Mode, r Reason)      { o.add("auth:" + string(r)) }
func (o *countingObserver) Panicked(Mode)                    { o.add("panic") }
