package pop3

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// poplibScript drives Python's poplib: STLS (or implicit TLS), USER/PASS,
// STAT, LIST, UIDL, RETR, TOP, DELE and QUIT, verifying the server
// certificate against the test CA. It prints what it saw as JSON.
const poplibScript = `
import base64, json, poplib, ssl, sys

mode, host, port, cafile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
out = {}
if mode == "stls":
    p = poplib.POP3(host, port, timeout=20)
    out["capa_before_tls"] = sorted(p.capa().keys())
    p.stls(context=ctx)
else:
    p = poplib.POP3_SSL(host, port, context=ctx, timeout=20)
out["capa"] = sorted(p.capa().keys())
p.user("alice")
out["pass"] = p.pass_("secret").decode()
out["stat"] = list(p.stat())
out["list"] = [l.decode() for l in p.list()[1]]
out["uidl"] = [l.decode() for l in p.uidl()[1]]
def body(lines):
    return base64.b64encode(b"".join(l + b"\r\n" for l in lines)).decode()
out["retr"] = [body(p.retr(i)[1]) for i in (1, 2, 3)]
out["top"] = body(p.top(2, 1)[1])
out["dele"] = p.dele(2).decode()
out["quit"] = p.quit().decode()
print(json.dumps(out))
`

// poplibResult is what poplibScript prints.
type poplibResult struct {
	CapaBeforeTLS []string `json:"capa_before_tls"`
	Capa          []string `json:"capa"`
	Pass          string   `json:"pass"`
	Stat          []int    `json:"stat"`
	List          []string `json:"list"`
	UIDL          []string `json:"uidl"`
	Retr          []string `json:"retr"`
	Top           string   `json:"top"`
	Dele          string   `json:"dele"`
	Quit          string   `json:"quit"`
}

// lookPath finds an interop client; the test is skipped only when the
// binary is not installed at all (CI installs python3 and curl).
func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed: %v", name, err)
	}
	return p
}

func runClient(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v\nstderr:\n%s", filepath.Base(name), args, err, stderr.String())
	}
	return out
}

func TestPythonPoplib(t *testing.T) {
	python := lookPath(t, "python3")
	for _, mode := range []string{"stls", "implicit"} {
		t.Run(mode, func(t *testing.T) {
			ts := startServer(t)
			mail := ts.backend.messages("alice")
			script := filepath.Join(t.TempDir(), "client.py")
			if err := os.WriteFile(script, []byte(poplibScript), 0o600); err != nil {
				t.Fatal(err)
			}
			addr := ts.plain
			if mode == "implicit" {
				addr = ts.implicit
			}
			host, port, _ := net.SplitHostPort(addr)
			var got poplibResult
			out := runClient(t, python, script, mode, host, port, ts.pki.CAFile)
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("decoding %q: %v", out, err)
			}

			if mode == "stls" {
				if want := []string{"AUTH-RESP-CODE", "EXPIRE", "IMPLEMENTATION", "PIPELINING", "RESP-CODES", "STLS", "TOP", "UIDL"}; !slices.Equal(got.CapaBeforeTLS, want) {
					t.Errorf("CAPA before TLS = %q, want %q", got.CapaBeforeTLS, want)
				}
			}
			if want := []string{"AUTH-RESP-CODE", "EXPIRE", "IMPLEMENTATION", "PIPELINING", "RESP-CODES", "SASL", "TOP", "UIDL", "USER"}; !slices.Equal(got.Capa, want) {
				t.Errorf("CAPA = %q, want %q", got.Capa, want)
			}
			if got.Pass != "+OK maildrop has 3 messages (138 octets)" {
				t.Errorf("PASS = %q", got.Pass)
			}
			if !slices.Equal(got.Stat, []int{3, 138}) {
				t.Errorf("STAT = %v, want [3 138]", got.Stat)
			}
			if want := []string{"1 75", "2 40", "3 23"}; !slices.Equal(got.List, want) {
				t.Errorf("LIST = %q, want %q", got.List, want)
			}
			if want := []string{"1 uid-1", "2 uid-2", "3 uid-3"}; !slices.Equal(got.UIDL, want) {
				t.Errorf("UIDL = %q, want %q", got.UIDL, want)
			}
			for i, b64 := range got.Retr {
				if body := decodeB64(t, b64); body != mail[i].body {
					t.Errorf("RETR %d = %q, want the stored body %q", i+1, body, mail[i].body)
				}
			}
			if top, want := decodeB64(t, got.Top), "Subject: two\r\n\r\nline 1\r\n"; top != want {
				t.Errorf("TOP 2 1 = %q, want %q", top, want)
			}
			if got.Dele != "+OK message 2 deleted" || got.Quit != signOff {
				t.Errorf("DELE = %q, QUIT = %q", got.Dele, got.Quit)
			}
			ts.waitEnded(t)
			if got, want := ts.backend.committed("alice"), [][]string{{"uid-2"}}; !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("commits = %q, want %q", got, want)
			}
		})
	}
}

func decodeB64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCurl(t *testing.T) {
	curl := lookPath(t, "curl")
	ts := startServer(t)
	mail := ts.backend.messages("alice")
	base := []string{"--silent", "--show-error", "--max-time", "20", "--cacert", ts.pki.CAFile, "--user", "alice:secret"}
	tests := map[string]struct {
		args []string
		want string
	}{
		"STLS with --ssl-reqd lists the maildrop": {
			args: []string{"--ssl-reqd", "pop3://" + ts.plain + "/"},
			want: "1 75\r\n2 40\r\n3 23\r\n",
		},
		"STLS with --ssl-reqd and -k retrieves a dot-stuffed message": {
			args: []string{"--ssl-reqd", "-k", "pop3://" + ts.plain + "/1"},
			want: mail[0].body,
		},
		"implicit TLS lists the maildrop": {
			args: []string{"pop3s://" + ts.implicit + "/"},
			want: "1 75\r\n2 40\r\n3 23\r\n",
		},
		"implicit TLS with an initial SASL response retrieves a message": {
			args: []string{"--sasl-ir", "pop3s://" + ts.implicit + "/2"},
			want: mail[1].body,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out := runClient(t, curl, append(slices.Clone(base), tc.args...)...)
			if string(out) != tc.want {
				t.Errorf("curl printed %q, want %q", out, tc.want)
			}
			ts.waitEnded(t)
		})
	}
	logs := ts.logText()
	if strings.Contains(logs, "secret") {
		t.Errorf("password in logs:\n%s", logs)
	}
	// curl took the paths under test: STLS, and AUTH PLAIN both with the
	// "+ " continuation and with an initial response.
	for _, want := range []string{"cmd=STLS", "cmd=AUTH args=PLAIN", `cmd=AUTH args="PLAIN [redacted]"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %q in the server's log:\n%s", want, logs)
		}
	}
}
