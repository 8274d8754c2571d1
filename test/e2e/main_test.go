package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubemail/kubemail/internal/testlog"
)

// binary is the kubemail binary built by TestMain.
var binary string

// TestMain builds the kubemail binary once, into a temporary directory,
// for every test to run as a subprocess.
func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kubemail-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "kubemail")
	build := exec.Command("go", "build", "-o", binary, "github.com/kubemail/kubemail/cmd/kubemail")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building kubemail:", err)
		return 1
	}
	return m.Run()
}

// proc is one kubemail server process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *testlog.Buffer
	done chan struct{}
	err  error // the result of Wait, set when done is closed
}

// startProc runs `kubemail server --config cfgPath` in dir and waits until
// /readyz on opsAddr answers 200.
func startProc(t *testing.T, dir, cfgPath, opsAddr string) *proc {
	t.Helper()
	p := &proc{t: t, logs: &testlog.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, "server", "--config", cfgPath)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("server log:\n%s", p.logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("the server exited before it was ready: %v\n%s", p.err, p.logs.String())
		default:
		}
		if status, _ := httpGet(opsAddr, "/readyz"); status == http.StatusOK {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not become ready\n%s", p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and expects a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.t.Fatal("the server did not stop within a minute of SIGTERM")
	}
	if p.err != nil {
		p.t.Fatalf("the server exited with %v after SIGTERM\n%s", p.err, p.logs.String())
	}
}

// kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitLog waits until the server has logged something containing s.
func (p *proc) waitLog(s string) {
	p.t.Helper()
	waitFor(p.t, "the log to contain "+s, func() bool { return strings.Contains(p.logs.String(), s) })
}

// waitFor polls cond until it holds, failing the test after 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePorts returns n distinct free loopback addresses. They are free when
// returned; the server binds them moments later.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var lns []net.Listener
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return addrs
}

func httpGet(addr, path string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// lookTool finds an interop client. CI installs python3 and curl; a test
// that needs one is skipped only where the binary is truly absent.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (CI installs it): %v", name, err)
	}
	return path
}

// runTool runs a client program and returns its standard output.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, lookTool(t, name), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// stripReceived removes the trace fields the server prepends: its Received
// header and, on the MX listener, the Authentication-Results header of its
// inbound checks (RFC 8601), each with its continuation lines.
func stripReceived(t *testing.T, msg []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(msg, []byte("Received: ")) {
		t.Fatalf("the message does not start with a Received header: %.80q", msg)
	}
	msg = stripField(t, msg)
	if bytes.HasPrefix(msg, []byte("Authentication-Results: ")) {
		msg = stripField(t, msg)
	}
	return msg
}

// stripField removes the header field msg starts with.
func stripField(t *testing.T, msg []byte) []byte {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(msg))
	first := true
	n := 0
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("the message ends inside a trace header: %.200q", msg)
		}
		if !first && line[0] != ' ' && line[0] != '\t' {
			break
		}
		first = false
		n += len(line)
	}
	return msg[n:]
}

// execCommand prepares a kubemail command that is expected to end by itself.
func execCommand(args ...string) *exec.Cmd {
	return exec.Command(binary, args...)
}

// exitCode extracts a process's exit code from the error of Run.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("running kubemail: %v", err)
	}
	return ee.ExitCode()
}
