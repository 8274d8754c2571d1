package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

// crashChildEnv switches the test binary into the crash test's child: it
// delivers into the store in the directory the variable names and prints
// each acknowledged delivery, until it is killed.
const (
	crashChildEnv   = "KUBEMAIL_STORE_CRASH_CHILD_DIR"
	crashRoundEnv   = "KUBEMAIL_STORE_CRASH_ROUND"
	crashAccountA   = "a@example.org"
	crashAccountB   = "b@example.org"
	crashWriters    = 8
	crashChildLimit = 60 * time.Second // the child exits by itself if never killed
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir, os.Getenv(crashRoundEnv)))
	}
	os.Exit(m.Run())
}

// crashBody is the body of delivery id: distinct, and of varying size (up
// to ~24 KiB, so bodies span several pages).
func crashBody(id string) []byte {
	line := []byte(id + " the quick brown fox jumps over the lazy dog\r\n")
	n := 1 + int(hashString(id)%uint32(24<<10/len(line)))
	return append(fmt.Appendf(nil, "Message-ID: <%s@crash.test>\r\n\r\n", id), bytes.Repeat(line, n)...)
}

func hashString(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// crashChild delivers concurrently, each message to a's INBOX and b's
// Archive, and prints "ACK id uidA uidB" once Deliver has returned.
func crashChild(dir, round string) int {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	ctx := context.Background()
	for _, a := range []string{crashAccountA, crashAccountB} {
		if _, err := s.EnsureAccount(ctx, a); err != nil {
			fmt.Fprintln(os.Stderr, "ensure:", err)
			return 1
		}
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(crashChildLimit)
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				id := fmt.Sprintf("r%s-w%d-%d", round, w, i)
				res, err := s.Submit(ctx, store.Submission{Body: crashBody(id), Local: []store.DeliveryTarget{
					{Account: crashAccountA}, {Account: crashAccountB, Folder: "Archive"},
				}})
				if err == nil && (res[0].Err != nil || res[1].Err != nil) {
					err = fmt.Errorf("%v / %v", res[0].Err, res[1].Err)
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "deliver:", err)
					os.Exit(1)
				}
				// One write per line: a line in the pipe is whole.
				mu.Lock()
				fmt.Fprintf(out, "ACK %s %d %d\n", id, res[0].UID, res[1].UID)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return 0
}

type ack struct {
	id         string
	uidA, uidB store.UID
}

// TestCrashKeepsEveryAcknowledgedDelivery kills a child process with
// SIGKILL in the middle of concurrent deliveries, several rounds on the
// same database, and checks that every delivery the child saw acknowledged
// is present with its exact body after reopening.
func TestCrashKeepsEveryAcknowledgedDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	dir := t.TempDir()
	var acked []ack
	for round := range 3 {
		killAfter := 50 + rand.IntN(200)
		got := runCrashChild(t, dir, round, killAfter)
		if len(got) < killAfter {
			t.Fatalf("round %d: child acknowledged %d deliveries before dying, want at least %d", round, len(got), killAfter)
		}
		acked = append(acked, got...)
		verifyAcked(t, dir, acked)
		checkInvariants(t, dir)
		t.Logf("round %d: killed after %d acknowledged deliveries; %d verified in total", round, len(got), len(acked))
	}
}

// runCrashChild starts the child, kills it after killAfter acknowledgements
// and returns every acknowledgement it printed.
func runCrashChild(t *testing.T, dir string, round, killAfter int) []ack {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting child: %v", err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	var acks []ack
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "ACK" {
			t.Fatalf("child printed %q", sc.Text())
		}
		a, errA := strconv.ParseUint(f[2], 10, 32)
		b, errB := strconv.ParseUint(f[3], 10, 32)
		if errA != nil || errB != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		acks = append(acks, ack{id: f[1], uidA: store.UID(a), uidB: store.UID(b)})
		if len(acks) == killAfter && !killed {
			// SIGKILL: no deferred code, no Close, no flush in the child.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("killing child: %v", err)
			}
			killed = true
		}
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		t.Fatalf("reading child output: %v", err)
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before being killed: %v\n%s", err, stderr.String())
	}
	return acks
}

func verifyAcked(t *testing.T, dir string, acked []ack) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopening after crash: %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	for _, a := range acked {
		want := crashBody(a.id)
		for _, loc := range []struct {
			f   store.FolderRef
			uid store.UID
		}{
			{store.FolderRef{Account: crashAccountA, Folder: store.Inbox}, a.uidA},
			{store.FolderRef{Account: crashAccountB, Folder: "Archive"}, a.uidB},
		} {
			got, err := s.Body(ctx, loc.f, loc.uid)
			if err != nil {
				t.Fatalf("acknowledged delivery %s lost from %s: %v", a.id, loc.f, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("acknowledged delivery %s in %s UID %d has a different body", a.id, loc.f, loc.uid)
			}
		}
	}
}
