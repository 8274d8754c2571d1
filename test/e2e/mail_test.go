package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// smtplibScript sends one message with Python's smtplib: to the MX
// listener without AUTH, or to the submission listener with STARTTLS and
// AUTH, verifying the server certificate.
const smtplibScript = `import smtplib, ssl, sys
mode, host, port, cafile, msgfile, sender, rcpt, user, password = sys.argv[1:10]
msg = open(msgfile, "rb").read()
with smtplib.SMTP(host, int(port), local_hostname="client.test", timeout=30) as s:
    if mode == "submission":
        s.starttls(context=ssl.create_default_context(cafile=cafile))
        s.login(user, password)
    refused = s.sendmail(sender, [rcpt], msg)
    if refused:
        sys.exit("refused: %r" % refused)
`

// poplibScript retrieves every message with Python's poplib over STLS and
// prints them, base64, with their unique ids, as JSON.
const poplibScript = `import base64, json, poplib, ssl, sys
host, port, cafile, user, password = sys.argv[1:6]
p = poplib.POP3(host, int(port), timeout=30)
p.stls(context=ssl.create_default_context(cafile=cafile))
p.user(user)
p.pass_(password)
out = {"uidl": [l.decode() for l in p.uidl()[1]], "messages": []}
for i in range(1, len(p.list()[1]) + 1):
    lines = p.retr(i)[1]
    out["messages"].append(base64.b64encode(b"".join(l + b"\r\n" for l in lines)).decode())
p.quit()
print(json.dumps(out))
`

// doneWhenMessage exercises transparency end to end: leading dots, a lone
// dot, 8-bit text, a long line, an empty last line.
func doneWhenMessage(via string) []byte {
	return []byte("From: Sender <sender@remote.test>\r\n" +
		"To: Demo <demo@example.test>\r\n" +
		"Subject: sent with " + via + "\r\n" +
		"Message-ID: <" + strings.ReplaceAll(via, " ", "-") + "@client.test>\r\n" +
		"\r\n" +
		"Hello from " + via + ".\r\n" +
		".\r\n" +
		".leading dot\r\n" +
		"..two dots\r\n" +
		"Caf\xc3\xa9 in 8 bits\r\n" +
		strings.Repeat("0123456789", 90) + "\r\n" +
		"\r\n")
}

// TestDoneWhen is the acceptance test: a message sent with curl to
// the MX port, one sent with Python's smtplib to the MX port, and one
// submitted with smtplib (STARTTLS + AUTH) on the submission port all reach
// the demo mailbox, and are retrieved byte-identical over POP3 with STLS
// (poplib) and over POP3S (curl), after the Received header the server
// prepends.
func TestDoneWhen(t *testing.T) {
	lookTool(t, "python3")
	lookTool(t, "curl")
	e := newEnv(t)
	e.start()

	sent := map[string][]byte{}
	write := func(via string) string {
		msg := doneWhenMessage(via)
		sent[via] = msg
		path := filepath.Join(e.dir, strings.ReplaceAll(via, " ", "-")+".eml")
		writeFile(t, path, msg)
		return path
	}

	runTool(t, "curl", "-sS", "--url", "smtp://127.0.0.1:"+e.port("smtp"),
		"--mail-from", "sender@remote.test", "--mail-rcpt", demoUser, "--upload-file", write("curl"))
	script := filepath.Join(e.dir, "send.py")
	writeFile(t, script, []byte(smtplibScript))
	runTool(t, "python3", script, "mx", "127.0.0.1", e.port("smtp"), e.caFile, write("smtplib mx"),
		"sender@remote.test", demoUser, "", "")
	runTool(t, "python3", script, "submission", "127.0.0.1", e.port("submission"), e.caFile,
		write("smtplib submission"), demoUser, demoUser, demoUser, demoPassword)

	// POP3 with STLS, with poplib.
	popScript := filepath.Join(e.dir, "retrieve.py")
	writeFile(t, popScript, []byte(poplibScript))
	var viaPoplib struct {
		UIDL     []string `json:"uidl"`
		Messages []string `json:"messages"`
	}
	out := runTool(t, "python3", popScript, "127.0.0.1", e.port("pop3"), e.caFile, demoUser, demoPassword)
	if err := json.Unmarshal([]byte(out), &viaPoplib); err != nil {
		t.Fatalf("poplib printed %q: %v", out, err)
	}
	if len(viaPoplib.Messages) != len(sent) {
		t.Fatalf("poplib retrieved %d messages, want %d", len(viaPoplib.Messages), len(sent))
	}

	got := map[string]bool{}
	for i, m := range viaPoplib.Messages {
		stored := b64(t, m)
		// POP3S with curl: the same message, byte for byte.
		viaCurl := runTool(t, "curl", "-sS", "--cacert", e.caFile, "-u", demoUser+":"+demoPassword,
			fmt.Sprintf("pop3s://127.0.0.1:%s/%d", e.port("pop3s"), i+1))
		if viaCurl != string(stored) {
			t.Errorf("message %d differs between poplib and curl:\npoplib %q\ncurl   %q", i+1, stored, viaCurl)
		}
		body := stripReceived(t, stored)
		matched := ""
		for via, msg := range sent {
			if bytes.Equal(body, msg) {
				matched = via
			}
		}
		if matched == "" {
			t.Errorf("message %d matches nothing that was sent:\n%q", i+1, body)
			continue
		}
		got[matched] = true
		if !bytes.Contains(stored[:len(stored)-len(body)], []byte("by localhost with ESMTP")) {
			t.Errorf("message %d (%s): unexpected Received header %q", i+1, matched, stored[:len(stored)-len(body)])
		}
	}
	if len(got) != len(sent) {
		t.Errorf("retrieved %v, want one of each of %d messages", got, len(sent))
	}
	for _, id := range viaPoplib.UIDL {
		if f := strings.Fields(id); len(f) != 2 || strings.Count(f[1], ".") != 1 {
			t.Errorf("UIDL line %q is not \"n <uidvalidity>.<uid>\"", id)
		}
	}
}

// TestServerCommandLine checks the command's refusals.
func TestServerCommandLine(t *testing.T) {
	e := newEnv(t)
	y, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(e.dir, "bad.yaml")
	writeFile(t, bad, bytes.Replace(y, []byte("address: demo@example.test"), []byte("address: demo@"), 1))
	tests := map[string]struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		"--config is required": {[]string{"server"}, 2, "--config is required"},
		"an invalid configuration is refused with its field errors": {[]string{"server", "--config", bad}, 1, `mailboxes[0].address: "demo@" is not a valid email address`},
		"a missing file is refused":                                 {[]string{"server", "--config", filepath.Join(e.dir, "none.yaml")}, 1, "no such file"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := execCommand(tc.args...)
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if err != nil {
				code = exitCode(t, err)
			}
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tc.wantCode, tc.wantErr)
			}
		})
	}
}
