package queue

import (
	"bufio"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/smtpclient"
	"github.com/kubemail/kubemail/mailserver/store"
	"github.com/kubemail/kubemail/mailserver/store/sqlite"
)

// smtpPeer is a minimal SMTP server on 127.0.0.1: a greeting, 250 to
// every command, 354 to DATA and 250 to the data, 221 to QUIT. It offers
// no extension and records each connection's commands.
type smtpPeer struct {
	t     *testing.T
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
	cmds  [][]string // per connection, in accept order
	wg    sync.WaitGroup
}

func startPeer(t *testing.T) *smtpPeer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &smtpPeer{t: t, l: l}
	p.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			i := len(p.conns)
			p.conns = append(p.conns, c)
			p.cmds = append(p.cmds, nil)
			p.mu.Unlock()
			p.wg.Go(func() { p.serve(c, i) })
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *smtpPeer) serve(c net.Conn, i int) {
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(hangGuard))
	if _, err := c.Write([]byte("220 peer ready\r\n")); err != nil {
		return
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		p.mu.Lock()
		p.cmds[i] = append(p.cmds[i], cmd)
		p.mu.Unlock()
		reply := "250 ok\r\n"
		switch cmd {
		case "QUIT":
			_, _ = c.Write([]byte("221 bye\r\n"))
			return
		case "DATA":
			if _, err := c.Write([]byte("354 go on\r\n")); err != nil {
				return
			}
			for line != ".\r\n" {
				if line, err = r.ReadString('\n'); err != nil {
					return
				}
			}
			reply = "250 queued\r\n"
		}
		if _, err := c.Write([]byte(reply)); err != nil {
			return
		}
	}
}

// commands returns what connection i has sent so far.
func (p *smtpPeer) commands(i int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.cmds[i]...)
}

// quitted reports whether connection i sent QUIT.
func (p *smtpPeer) quitted(i int) bool {
	cmds := p.commands(i)
	return len(cmds) > 0 && cmds[len(cmds)-1] == "QUIT"
}

// waitQuit waits until connection i has sent QUIT.
func (p *smtpPeer) waitQuit(i int) {
	p.t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !p.quitted(i) {
		if time.Now().After(deadline) {
			p.t.Fatalf("connection %d sent %q, no QUIT", i, p.commands(i))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// session opens a new connection to the peer as a session with key.
func (p *smtpPeer) session(key sessionKey) *smtpclient.Session[sessionKey] {
	p.t.Helper()
	raw, err := net.Dial("tcp", p.l.Addr().String())
	if err != nil {
		p.t.Fatal(err)
	}
	c, err := smtpclient.NewClient(raw, "peer.test")
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(c.Close)
	return &smtpclient.Session[sessionKey]{Key: key, Raw: raw, Client: c, Addr: raw.RemoteAddr().String()}
}

var peerKey = sessionKey{dest: "b.test", host: "mx.b.test", port: 25, tls: tlsOpportunistic, roots: rootsDefault,
	ehlo: "mx.a.test"}

func TestSessionCacheTakesOnlyTheExactKey(t *testing.T) {
	p := startPeer(t)
	cache := smtpclient.NewCache[sessionKey](newFakeClock(t0).Now, time.Minute)
	sc := p.session(peerKey)
	cases := map[string]func(k *sessionKey){
		"another destination":                       func(k *sessionKey) { k.dest = "c.test" },
		"another server":                            func(k *sessionKey) { k.host = "mx2.b.test" },
		"another port":                              func(k *sessionKey) { k.port = 587 },
		"verified TLS where it was opportunistic":   func(k *sessionKey) { k.tls = tlsVerified },
		"implicit TLS where it was opportunistic":   func(k *sessionKey) { k.tls = tlsImplicit },
		"other trusted roots":                       func(k *sessionKey) { k.roots = "file:/ca.pem:00" },
		"credentials where it authenticated none":   func(k *sessionKey) { k.creds = credentialsID("u", "p") },
		"another EHLO name (configuration changed)": func(k *sessionKey) { k.ehlo = "mx.new.test" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			cache.Put(sc, 10, 10)
			k := peerKey
			mutate(&k)
			if got := cache.Take(k); got != nil {
				t.Fatalf("took a session made for %+v for %+v", peerKey, k)
			}
			if got := cache.Take(peerKey); got != sc {
				t.Fatal("the session is not there for its own key")
			}
		})
	}
	// Credentials are told apart by content, not by file.
	if credentialsID("user", "old") == credentialsID("user", "new") {
		t.Fatal("credentials with another password have the same id")
	}
}

func TestSessionCacheTakesTheMostRecentFirst(t *testing.T) {
	p := startPeer(t)
	cache := smtpclient.NewCache[sessionKey](newFakeClock(t0).Now, time.Minute)
	s0, s1 := p.session(peerKey), p.session(peerKey)
	cache.Put(s0, 10, 10)
	cache.Put(s1, 10, 10)
	for i, want := range []*smtpclient.Session[sessionKey]{s1, s0, nil} {
		if got := cache.Take(peerKey); got != want {
			t.Fatalf("take %d returned %p, want %p", i, got, want)
		}
	}
}

func TestSessionCacheBoundsEndTheOldest(t *testing.T) {
	p := startPeer(t)
	cache := smtpclient.NewCache[sessionKey](newFakeClock(t0).Now, time.Minute)
	other := peerKey
	other.dest = "c.test"
	third := peerKey
	third.dest = "d.test"
	a0, a1, a2 := p.session(peerKey), p.session(peerKey), p.session(peerKey) // connections 0, 1, 2
	c0, d0 := p.session(other), p.session(third)                             // connections 3, 4
	// Two per destination: the third for b.test ends the first.
	cache.Put(a0, 2, 3)
	cache.Put(a1, 2, 3)
	cache.Put(a2, 2, 3)
	p.waitQuit(0)
	// Three in all: c.test's fills the cache, d.test's ends the oldest.
	cache.Put(c0, 2, 3)
	cache.Put(d0, 2, 3)
	p.waitQuit(1)
	if n := cache.Len(); n != 3 {
		t.Fatalf("%d idle sessions, want 3", n)
	}
	for _, want := range []struct {
		key sessionKey
		sc  *smtpclient.Session[sessionKey]
	}{{peerKey, a2}, {peerKey, nil}, {other, c0}, {third, d0}} {
		if got := cache.Take(want.key); got != want.sc {
			t.Fatalf("take(%s) = %p, want %p", want.key.dest, got, want.sc)
		}
	}
	for i := 2; i < 5; i++ {
		if p.quitted(i) {
			t.Fatalf("connection %d was ended though it was kept", i)
		}
	}
}

func TestSessionCacheEndsIdleSessions(t *testing.T) {
	p := startPeer(t)
	clock := newFakeClock(t0)
	cache := smtpclient.NewCache[sessionKey](clock.Now, 5*time.Second)
	s0, s1 := p.session(peerKey), p.session(peerKey)
	cache.Put(s0, 10, 10)
	clock.Advance(5*time.Second - time.Nanosecond)
	if got := cache.Take(peerKey); got != s0 {
		t.Fatal("a session within its idle timeout was not taken")
	}
	cache.Put(s0, 10, 10)
	clock.Advance(5 * time.Second)
	if got := cache.Take(peerKey); got != nil {
		t.Fatal("a session past its idle timeout was taken")
	}
	p.waitQuit(0)
	// The housekeeping pass ends them without a take.
	cache.Put(s1, 10, 10)
	clock.Advance(5 * time.Second)
	cache.Expire()
	if n := cache.Len(); n != 0 {
		t.Fatalf("%d idle sessions after expiry", n)
	}
	p.waitQuit(1)
}

func TestSessionCacheCloseQuitsEverySession(t *testing.T) {
	p := startPeer(t)
	cache := smtpclient.NewCache[sessionKey](newFakeClock(t0).Now, time.Minute)
	s0, s1, s2 := p.session(peerKey), p.session(peerKey), p.session(peerKey)
	cache.Put(s0, 10, 10)
	cache.Put(s1, 10, 10)
	cache.Close()
	// close has waited for the replies to QUIT.
	if !p.quitted(0) || !p.quitted(1) {
		t.Fatalf("after close: %q, %q", p.commands(0), p.commands(1))
	}
	cache.Put(s2, 10, 10)
	if !p.quitted(2) || cache.Len() != 0 {
		t.Fatalf("a session put into the closed cache was kept: %q", p.commands(2))
	}
}

func TestReusedSessionIsCheckedWithRSET(t *testing.T) {
	p := startPeer(t)
	sc := p.session(peerKey)
	if err := sc.Client.Reset(); err != nil || sc.Client.Broken() {
		t.Fatalf("RSET on a live session: %v (broken %v)", err, sc.Client.Broken())
	}
	p.mu.Lock()
	_ = p.conns[0].Close() // the server ends the session
	p.mu.Unlock()
	if err := sc.Client.Reset(); err == nil || !sc.Client.Broken() {
		t.Fatalf("RSET on a dropped session: %v (broken %v)", err, sc.Client.Broken())
	}
	if got := p.commands(0); len(got) != 1 || got[0] != "RSET" {
		t.Fatalf("the peer saw %q", got)
	}
}

func TestDeadDestinations(t *testing.T) {
	d := newDeadDestinations()
	m := deadMark{at: t0, until: t0.Add(time.Minute), cause: "connecting to mx.b.test (127.0.0.1:25): connection refused"}
	if !d.mark("b.test", m) {
		t.Fatal("a first mark is not new")
	}
	if d.mark("b.test", m) {
		t.Fatal("marking again within the mark is new")
	}
	if got, dead := d.check("b.test", t0.Add(time.Minute-time.Nanosecond)); !dead || got != m {
		t.Fatalf("check before the end = %+v, %v", got, dead)
	}
	if _, dead := d.check("c.test", t0); dead {
		t.Fatal("another destination is dead")
	}
	if _, dead := d.check("b.test", t0.Add(time.Minute)); dead {
		t.Fatal("the mark outlived its end")
	}
	d.mark("b.test", m)
	d.clear("b.test")
	if _, dead := d.check("b.test", t0); dead {
		t.Fatal("a cleared mark is still in force")
	}
	d.mark("b.test", m)
	d.mark("c.test", deadMark{at: t0, until: t0.Add(time.Second)})
	d.sweep(t0.Add(time.Second))
	if len(d.marks) != 1 {
		t.Fatalf("after the sweep: %v", d.marks)
	}
	d.clearAll()
	if len(d.marks) != 0 {
		t.Fatalf("after clearAll: %v", d.marks)
	}
	const want = "451 4.4.1 destination unreachable (not retried: marked dead at 12:00:00 UTC after connecting to " +
		"mx.b.test (127.0.0.1:25): connection refused)"
	if got := m.reply().String(); got != want {
		t.Fatalf("reply %q, want %q", got, want)
	}
}

func TestDeadUntil(t *testing.T) {
	sched := Schedule{Delays: []time.Duration{30 * time.Second, time.Hour}}
	cases := map[string]struct {
		next  []time.Time // outcomes' next attempts, zero for done
		sched Schedule
		want  time.Time
	}{
		"the earliest retry of the attempt's recipients": {
			next: []time.Time{t0.Add(40 * time.Second), t0.Add(20 * time.Second)}, sched: sched, want: t0.Add(20 * time.Second)},
		"at most a minute": {next: []time.Time{t0.Add(time.Hour)}, sched: sched, want: t0.Add(time.Minute)},
		"all expired: the first delay of the schedule": {
			next: []time.Time{{}}, sched: sched, want: t0.Add(30 * time.Second)},
		"all expired, no schedule: a minute": {next: []time.Time{{}}, want: t0.Add(time.Minute)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var st store.Settlement
			for _, n := range tc.next {
				st.Outcomes = append(st.Outcomes, store.RecipientOutcome{NextAttempt: n, Done: n.IsZero()})
			}
			if got := deadUntil(st, tc.sched, t0); !got.Equal(tc.want) {
				t.Fatalf("deadUntil = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCachedSessionThatCannotTakeAMessageIsKeptForOthers(t *testing.T) {
	p := startPeer(t)
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
	q, err := New(Options{Store: st, Config: config.NewHolder(cfg), Resolver: failingResolver{}, Clock: newFakeClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	tgt := target{host: "mx.b.test", port: 25, tls: tlsOpportunistic, rootsID: rootsDefault}
	q.sessions.Put(p.session(tgt.sessionKey("b.test", "mx.a.test", "")), 10, 10)
	g := group{messageID: "M", route: config.Route{Key: "b.test"},
		rcpts: []store.QueuedRecipient{{ID: 1, MessageID: "M", Address: "bob@b.test", Domain: "b.test"}}}
	msg := store.OutboundMessage{ID: "M", Sender: "alice@a.test", UTF8: true}
	log := slog.New(slog.DiscardHandler)
	// The peer offers no SMTPUTF8 (RFC 6531 §3.2): not over this session.
	if _, ok := q.deliverCached(t.Context(), cfg, g, []target{tgt}, msg, []byte("x\r\n"), log); ok {
		t.Fatal("an internationalised message went over a session without SMTPUTF8")
	}
	if n := q.sessions.Len(); n != 1 {
		t.Fatalf("%d idle sessions, want the session kept", n)
	}
	msg.UTF8 = false
	statuses, ok := q.deliverCached(t.Context(), cfg, g, []target{tgt}, msg, []byte("x\r\n"), log)
	if !ok || statuses[0].outcome != outDelivered {
		t.Fatalf("an ASCII message over the session: %v, %+v", ok, statuses)
	}
	want := []string{"RSET", "RSET", "MAIL FROM:<alice@a.test>", "RCPT TO:<bob@b.test>", "DATA"}
	if got := p.commands(0); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("the peer saw %q, want %q", got, want)
	}
	if n := q.sessions.Len(); n != 1 {
		t.Fatalf("%d idle sessions after the delivery, want 1", n)
	}
}
