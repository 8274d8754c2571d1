package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// imaplibScript drives two IMAP sessions with Python's imaplib, as two
// devices of one user would: it reads the message over IMAPS, moves it to
// Archive and flags it in session A, checks that session B (IMAP with
// STARTTLS) sees both, then waits in IDLE in B while it sends a new message
// over SMTP, and reports what B was told. Output is JSON.
const imaplibScript = `import base64, imaplib, json, re, smtplib, ssl, sys, time
host, imaps, imap, smtp, cafile, user, password = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=cafile)
out = {}

a = imaplib.IMAP4_SSL(host, int(imaps), ssl_context=ctx, timeout=30)
a.login(user, password)
typ, data = a.list()
out["folders"] = sorted(l.decode() for l in data)
a.select("INBOX")
typ, data = a.uid("FETCH", "1", "(BODY.PEEK[] FLAGS)")
out["body"] = base64.b64encode(data[0][1]).decode()

b = imaplib.IMAP4(host, int(imap), timeout=30)
b.starttls(ssl_context=ctx)
b.login(user, password)
b.select("Archive")

typ, data = a.uid("MOVE", "1", "Archive")
out["move"] = typ
a.select("Archive")
typ, data = a.uid("STORE", "1", "+FLAGS", "(\\Flagged)")
out["store"] = typ

# B learns of the new message and its flag on its next command.
b.noop()
typ, data = b.fetch("1:*", "(UID FLAGS)")
out["b_archive"] = [d.decode() for d in data if d]

# IDLE in INBOX on B; a message arrives over SMTP; B is told.
b.select("INBOX")
tag = b._new_tag().decode()
b.send(("%s IDLE\r\n" % tag).encode())
cont = b.readline()
out["idle_continuation"] = cont.decode().strip()
with smtplib.SMTP(host, int(smtp), timeout=30) as s:
    s.sendmail("sender@remote.test", [user], b"Subject: while idle\r\n\r\nhello\r\n")
start = time.time()
line = b.readline().decode().strip()
out["idle_push"] = line
out["idle_seconds"] = time.time() - start
b.send(b"DONE\r\n")
while True:
    l = b.readline().decode()
    if l.startswith(tag):
        out["idle_done"] = l.strip()
        break
b.logout()
a.logout()
print(json.dumps(out))
`

// TestIMAPDoneWhen is issue 4's acceptance test: a message sent over SMTP
// is read over IMAPS with imaplib and curl; moving it to a folder and
// flagging it in one session is seen by a second session; IDLE reports new
// mail.
func TestIMAPDoneWhen(t *testing.T) {
	lookTool(t, "python3")
	lookTool(t, "curl")
	e := newEnv(t)
	e.start()

	msg := doneWhenMessage("smtp for imap")
	path := filepath.Join(e.dir, "imap.eml")
	writeFile(t, path, msg)
	runTool(t, "curl", "-sS", "--url", "smtp://127.0.0.1:"+e.port("smtp"),
		"--mail-from", "sender@remote.test", "--mail-rcpt", demoUser, "--upload-file", path)

	// curl over IMAPS first (BODY.PEEK keeps the message unseen for imaplib).
	viaCurl := runTool(t, "curl", "-sS", "--cacert", e.caFile, "-u", demoUser+":"+demoPassword,
		"imaps://127.0.0.1:"+e.port("imaps")+"/INBOX;UID=1")
	if got := stripReceived(t, []byte(viaCurl)); string(got) != string(msg) {
		t.Errorf("curl read over IMAPS:\n%q\nwant\n%q", got, msg)
	}

	script := filepath.Join(e.dir, "imap.py")
	writeFile(t, script, []byte(imaplibScript))
	out := runTool(t, "python3", script, "127.0.0.1", e.port("imaps"), e.port("imap"), e.port("smtp"),
		e.caFile, demoUser, demoPassword)
	var r struct {
		Folders          []string `json:"folders"`
		Body             string   `json:"body"`
		Move, Store      string
		BArchive         []string `json:"b_archive"`
		IdleContinuation string   `json:"idle_continuation"`
		IdlePush         string   `json:"idle_push"`
		IdleSeconds      float64  `json:"idle_seconds"`
		IdleDone         string   `json:"idle_done"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("imaplib printed %q: %v", out, err)
	}
	for _, want := range []string{`(\HasNoChildren \Archive) "/" "Archive"`, `(\HasNoChildren \Sent) "/" "Sent"`, `"/" INBOX`} {
		if !strings.Contains(strings.Join(r.Folders, "\n"), want) {
			t.Errorf("LIST lacks %q: %v", want, r.Folders)
		}
	}
	if got := stripReceived(t, b64(t, r.Body)); string(got) != string(msg) {
		t.Errorf("imaplib read over IMAPS:\n%q\nwant\n%q", got, msg)
	}
	if r.Move != "OK" || r.Store != "OK" {
		t.Errorf("UID MOVE %s, UID STORE %s", r.Move, r.Store)
	}
	// B's FETCH returns the untagged FLAGS update from A's STORE too: every
	// line must be message 1, flagged.
	if len(r.BArchive) == 0 {
		t.Error("the second session sees nothing in Archive")
	}
	for _, l := range r.BArchive {
		if !strings.HasPrefix(l, "1 (") || !strings.Contains(l, `\Flagged`) {
			t.Errorf("the second session sees Archive as %v, want the moved message flagged", r.BArchive)
		}
	}
	if !strings.HasPrefix(r.IdleContinuation, "+") {
		t.Errorf("IDLE answered %q", r.IdleContinuation)
	}
	if r.IdlePush != "* 1 EXISTS" {
		t.Errorf("in IDLE the second session was told %q, want \"* 1 EXISTS\"", r.IdlePush)
	}
	if r.IdleSeconds > 1.5 {
		t.Errorf("new mail reached the IDLE session after %.2fs", r.IdleSeconds)
	}
	if !strings.Contains(r.IdleDone, "OK") {
		t.Errorf("DONE answered %q", r.IdleDone)
	}
}
