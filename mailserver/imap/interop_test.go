package imap

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// imaplibScript drives Python's imaplib against the server: STARTTLS (or
// implicit TLS), LOGIN, LIST, SELECT, FETCH, STORE, SEARCH, COPY, MOVE,
// APPEND and, through raw commands, IDLE. Before waiting in IDLE it prints
// "IDLING" so the test can deliver a message. At the end it prints JSON.
const imaplibScript = `
import base64, imaplib, json, ssl, sys, time

mode, host, port, cafile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
out = {}
if mode == "starttls":
    M = imaplib.IMAP4(host, port, timeout=20)
    out["caps_before_tls"] = sorted(M.capabilities)
    M.starttls(ssl_context=ctx)
else:
    M = imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=20)
out["login"] = M.login("alice@example.com", "secret")[0]
out["list"] = [l.decode() for l in M.list()[1]]
typ, data = M.select("INBOX")
out["select"] = [typ, data[0].decode()]
typ, data = M.fetch("1:*", "(FLAGS RFC822.SIZE ENVELOPE)")
out["fetch"] = [d.decode() for d in data]
typ, data = M.fetch("1", "(BODY.PEEK[])")
out["body"] = base64.b64encode(data[0][1]).decode()
out["store"] = [d.decode() for d in M.store("1", "+FLAGS", "(\\Flagged)")[1]]
out["search_flagged"] = M.search(None, "FLAGGED")[1][0].decode()
out["search_from"] = M.uid("SEARCH", "FROM", "carol")[1][0].decode()
out["copy"] = M.copy("1", "Archive")[0]
out["move"] = M.uid("MOVE", "2", "Trash")[0]
msg = b"From: alice@example.com\r\nSubject: from python\r\n\r\nappended\r\n"
out["append"] = M.append("Drafts", "(\\Draft)", imaplib.Time2Internaldate(time.time()), msg)[0]
tag = M._new_tag()
M.send(tag + b" IDLE\r\n")
out["idle_cont"] = M.readline().decode().strip()
print("IDLING", flush=True)
out["idle_update"] = M.readline().decode().strip()
M.send(b"DONE\r\n")
out["idle_done"] = M.readline().decode().strip()
M.close()
out["logout"] = M.logout()[0]
print(json.dumps(out))
`

type imaplibResult struct {
	CapsBeforeTLS []string `json:"caps_before_tls"`
	Login         string   `json:"login"`
	List          []string `json:"list"`
	Select        []string `json:"select"`
	Fetch         []string `json:"fetch"`
	Body          string   `json:"body"`
	Store         []string `json:"store"`
	SearchFlagged string   `json:"search_flagged"`
	SearchFrom    string   `json:"search_from"`
	Copy          string   `json:"copy"`
	Move          string   `json:"move"`
	Append        string   `json:"append"`
	IdleCont      string   `json:"idle_cont"`
	IdleUpdate    string   `json:"idle_update"`
	IdleDone      string   `json:"idle_done"`
	Logout        string   `json:"logout"`
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

func TestPythonImaplib(t *testing.T) {
	python := lookPath(t, "python3")
	for _, mode := range []string{"starttls", "ssl"} {
		t.Run(mode, func(t *testing.T) {
			ts := newTestServer(t)
			ts.deliver(t, "alice@example.com", "", plainMessage)
			ts.deliver(t, "alice@example.com", "", multipartMessage)
			addr := ts.plain
			if mode == "ssl" {
				addr = ts.tls
			}
			host, port, _ := strings.Cut(addr, ":")
			script := filepath.Join(t.TempDir(), "client.py")
			if err := os.WriteFile(script, []byte(imaplibScript), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, python, script, mode, host, port, ts.pki.CAFile)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(stdout)
			if l, err := r.ReadString('\n'); err != nil || l != "IDLING\n" {
				_ = cmd.Wait()
				t.Fatalf("python: %q %v\n%s", l, err, stderr.String())
			}
			ts.deliver(t, "alice@example.com", "", "Subject: while idling\r\n\r\nhi\r\n")
			out, _ := r.ReadString('\n')
			if err := cmd.Wait(); err != nil {
				t.Fatalf("python: %v\n%s", err, stderr.String())
			}
			var res imaplibResult
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("python output %q: %v", out, err)
			}
			checkImaplib(t, mode, res)
		})
	}
}

func checkImaplib(t *testing.T, mode string, res imaplibResult) {
	t.Helper()
	if mode == "starttls" && (!contains(res.CapsBeforeTLS, "STARTTLS") || !contains(res.CapsBeforeTLS, "LOGINDISABLED")) {
		t.Errorf("capabilities before TLS: %q", res.CapsBeforeTLS)
	}
	body, _ := base64.StdEncoding.DecodeString(res.Body)
	checks := []struct {
		what string
		ok   bool
	}{
		{"login", res.Login == "OK"},
		{"list has Sent with \\Sent", has(res.List, `(\HasNoChildren \Sent) "/" "Sent"`)},
		{"select", res.Select[0] == "OK" && res.Select[1] == "2"},
		{"fetch envelope", len(res.Fetch) == 2 && strings.Contains(res.Fetch[0], `"<one@example.com>"`) &&
			strings.Contains(res.Fetch[1], "RFC822.SIZE")},
		{"body", string(body) == plainMessage},
		{"store", has(res.Store, `FLAGS (\Flagged)`)},
		{"search flagged", res.SearchFlagged == "1"},
		{"uid search", res.SearchFrom == "2"},
		{"copy", res.Copy == "OK"},
		{"move", res.Move == "OK"},
		{"append", res.Append == "OK"},
		{"idle continuation", strings.HasPrefix(res.IdleCont, "+")},
		{"idle update", res.IdleUpdate == "* 2 EXISTS"},
		{"idle done", strings.Contains(res.IdleDone, "OK")},
		{"logout", res.Logout == "BYE"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s failed: %+v", c.what, res)
		}
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func TestCurl(t *testing.T) {
	curl := lookPath(t, "curl")
	ts := newTestServer(t)
	ts.deliver(t, "alice@example.com", "", plainMessage)
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		base := []string{"--silent", "--show-error", "--max-time", "20", "--cacert", ts.pki.CAFile,
			"--user", "alice@example.com:secret"}
		out, err := exec.CommandContext(ctx, curl, append(base, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tests := map[string]struct {
		args []string
		want string
	}{
		"imap with STARTTLS lists folders": {[]string{"--ssl-reqd", "imap://" + ts.plain + "/"}, `"/" "Archive"`},
		"imaps lists folders":              {[]string{"imaps://" + ts.tls + "/"}, `"/" INBOX`},
		"imaps fetches a message by UID":   {[]string{"imaps://" + ts.tls + "/INBOX;UID=1"}, plainMessage},
		"imap fetches a section by UID":    {[]string{"--ssl-reqd", "imap://" + ts.plain + "/INBOX;UID=1;SECTION=TEXT"}, "the quarterly report"},
		"imaps runs a search":              {[]string{"imaps://" + ts.tls + "/INBOX?SUBJECT%20Alice"}, "* SEARCH 1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if out := run(tc.args...); !strings.Contains(out, tc.want) {
				t.Errorf("curl %q: got %q, want %q", tc.args, out, tc.want)
			}
		})
	}
}
