package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Durability under kill -9.
const (
	durabilityRounds  = 3
	durabilitySenders = 8
)

var seqHeader = regexp.MustCompile(`(?m)^X-Seq: (\S+)\r$`)

// TestAcknowledgedMailSurvivesKill9 has concurrent senders deliver to the
// server while it is killed with SIGKILL at a random moment; the server is
// restarted on the same storage and every message that got a 250 must be
// there, read back over POP3, with identical content. Three rounds.
// Deliveries not acknowledged may or may not be there.
func TestAcknowledgedMailSurvivesKill9(t *testing.T) {
	e := newEnv(t)
	acked := map[string][]byte{} // X-Seq → message sent
	inbox := newInboxReader()
	for round := range durabilityRounds + 1 {
		p := e.start()
		if round > 0 {
			stored := inbox.read(t, e)
			missing := 0
			for id, msg := range acked {
				got, ok := stored[id]
				switch {
				case !ok:
					missing++
					if missing <= 5 {
						t.Errorf("after kill %d: acknowledged message %s is not in the store", round, id)
					}
				case !bytes.Equal(got, msg):
					t.Errorf("after kill %d: message %s differs from what was sent:\n%q\n%q", round, id, got, msg)
				}
			}
			if missing > 0 {
				t.Fatalf("after kill %d: %d of %d acknowledged messages lost", round, missing, len(acked))
			}
			t.Logf("after kill %d: %d messages acknowledged, %d stored", round, len(acked), len(stored))
		}
		if round == durabilityRounds {
			p.stop()
			break
		}

		var (
			mu   sync.Mutex
			wg   sync.WaitGroup
			stop = make(chan struct{})
		)
		for sender := range durabilitySenders {
			wg.Go(func() {
				for _, seq := range sendUntilFailure(e.addr("smtp"), round, sender, stop) {
					mu.Lock()
					acked[seq.id] = seq.msg
					mu.Unlock()
				}
			})
		}
		time.Sleep(500*time.Millisecond + rand.N(time.Second))
		p.kill()
		close(stop)
		wg.Wait()
	}
	if len(acked) == 0 {
		t.Fatal("no message was acknowledged: the test proved nothing")
	}
}

type sentMessage struct {
	id  string
	msg []byte
}

// sendUntilFailure delivers messages over one connection until stop is
// closed or the connection fails (the server was killed), and returns
// those acknowledged with 250.
func sendUntilFailure(addr string, round, sender int, stop <-chan struct{}) []sentMessage {
	s, err := dialSMTP(addr)
	if err != nil {
		return nil
	}
	defer s.close()
	if r, err := s.cmd("EHLO sender%d.test", sender); err != nil || !strings.HasPrefix(r, "250") {
		return nil
	}
	var acked []sentMessage
	for n := 0; ; n++ {
		select {
		case <-stop:
			return acked
		default:
		}
		_ = s.conn.SetDeadline(time.Now().Add(30 * time.Second))
		id := fmt.Sprintf("r%d-s%d-n%d", round, sender, n)
		msg := []byte(fmt.Sprintf("From: s%d@remote.test\r\nTo: %s\r\nSubject: durability %s\r\nX-Seq: %s\r\n\r\n%s",
			sender, demoUser, id, id, strings.Repeat(fmt.Sprintf("%s %x\r\n", id, rand.Uint64()), 1+rand.IntN(64))))
		r, err := s.send("s@remote.test", demoUser, msg)
		if err != nil {
			return acked
		}
		if strings.HasPrefix(r, "250") {
			acked = append(acked, sentMessage{id: id, msg: msg})
		}
	}
}

// inboxReader reads the demo INBOX over POP3, fetching only messages it
// has not seen (unique ids are stable across restarts), and keeps them by
// X-Seq without the Received header.
type inboxReader struct {
	seen   map[string]bool // unique ids read
	stored map[string][]byte
}

func newInboxReader() *inboxReader {
	return &inboxReader{seen: map[string]bool{}, stored: map[string][]byte{}}
}

func (r *inboxReader) read(t *testing.T, e *env) map[string][]byte {
	t.Helper()
	p := mustPOP3(t, e, demoUser, demoPassword)
	defer p.quit()
	for n, id := range p.uidl(t) {
		if r.seen[id] {
			continue
		}
		msg := stripReceived(t, p.retr(t, n+1))
		seq := seqHeader.FindSubmatch(msg)
		if seq == nil {
			t.Fatalf("message %s has no X-Seq header", id)
		}
		r.seen[id] = true
		r.stored[string(seq[1])] = msg
	}
	return r.stored
}
