package smtp

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// interopMessage exercises transparency: dot-stuffed lines, a lone dot,
// 8-bit text, an empty line at the end.
const interopMessage = "From: Sender <sender@remote.test>\r\n" +
	"To: Alice <alice@example.com>\r\n" +
	"Subject: interop\r\n" +
	"\r\n" +
	"Hello.\r\n" +
	".\r\n" +
	".leading dot\r\n" +
	"..two dots\r\n" +
	"Caf\xc3\xa9 in 8 bits\r\n" +
	"\r\n"

// pythonClient is the smtplib script the tests run.
const pythonClient = `import smtplib, ssl, sys

mode, host, port, ca, msgfile, user, password, sender, rcpt = sys.argv[1:10]
port = int(port)
msg = open(msgfile, "rb").read()
ctx = ssl.create_default_context(cafile=ca)

def login(s, mech):
    if mech == "PLAIN":
        s.login(user, password)  # smtplib prefers PLAIN over LOGIN
    else:
        s.ehlo_or_helo_if_needed()
        s.user, s.password = user, password
        s.auth("LOGIN", s.auth_login, initial_response_ok=False)

if mode == "mx":
    with smtplib.SMTP(host, port, local_hostname="client.test") as s:
        s.sendmail(sender, [rcpt], msg)
elif mode.startswith("submission-"):
    with smtplib.SMTP(host, port, local_hostname="client.test") as s:
        s.starttls(context=ctx)
        login(s, mode.split("-")[1])
        s.sendmail(sender, [rcpt], msg)
elif mode == "submissions":
    with smtplib.SMTP_SSL(host, port, local_hostname="client.test", context=ctx) as s:
        login(s, "PLAIN")
        s.sendmail(sender, [rcpt], msg)
elif mode == "refused-login":
    with smtplib.SMTP_SSL(host, port, local_hostname="client.test", context=ctx) as s:
        try:
            login(s, "PLAIN")
        except smtplib.SMTPAuthenticationError as e:
            print("refused", e.smtp_code, e.smtp_error.decode())
            sys.exit(0)
        sys.exit("login with a wrong password succeeded")
elif mode == "refused-rcpt":
    with smtplib.SMTP(host, port, local_hostname="client.test") as s:
        try:
            s.sendmail(sender, [rcpt], msg)
        except smtplib.SMTPRecipientsRefused as e:
            code, text = e.recipients[rcpt]
            print("refused", code, text.decode())
            sys.exit(0)
        sys.exit("relaying succeeded")
else:
    sys.exit("unknown mode " + mode)
`

// lookTool finds an interop client. CI installs python3 and curl; the
// tests skip only where the binary is truly absent.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (CI installs it): %v", name, err)
	}
	return path
}

// runTool runs a client and returns its combined output; it fails the test
// when the client fails.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// writeFile writes content into the test's temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkInteropDelivery asserts that exactly one message reached the
// Deliverer and that its body is the message sent, byte for byte, after one
// Received header recording protocol.
func checkInteropDelivery(t *testing.T, ts *testServer, protocol string) {
	t.Helper()
	got := ts.dlv.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	body := string(got[0].body)
	header, ok := strings.CutSuffix(body, interopMessage)
	if !ok {
		t.Fatalf("stored body does not end with the message sent:\n%q", body)
	}
	tlsLine := ""
	if strings.HasSuffix(strings.TrimSuffix(protocol, "A"), "S") {
		tlsLine = `\t\(using TLSv1\.[23] with cipher [A-Z0-9_]+\)\r\n`
	}
	want := regexp.MustCompile(`^Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n` + tlsLine +
		`\tby mx\.test with ` + protocol + ` id ` + got[0].env.ID + `\r\n` +
		`\tfor <alice@example\.com>; Fri, 02 Jan 2026 03:04:05 \+0000\r\n$`)
	if !want.MatchString(header) {
		t.Errorf("Received header %q does not match %s", header, want)
	}
}

func TestPythonSmtplib(t *testing.T) {
	// Resolve the interpreter once: python3 is often a slow version
	// manager shim.
	python := strings.TrimSpace(runTool(t, lookTool(t, "python3"), "-c", "import sys; print(sys.executable)"))
	script := writeFile(t, "client.py", pythonClient)
	msg := writeFile(t, "msg.eml", interopMessage)
	tests := map[string]struct {
		mode       Mode
		clientMode string
		password   string
		sender     string
		rcpt       string
		protocol   string // of a delivered message; "" when refused
		wantOut    string
	}{
		"MX delivery": {
			mode: ModeMX, clientMode: "mx", sender: "sender@remote.test", rcpt: alice, protocol: "ESMTP",
		},
		"MX relay attempt is refused": {
			mode: ModeMX, clientMode: "refused-rcpt", sender: "sender@remote.test", rcpt: "victim@remote.test",
			wantOut: "refused 554 5.7.1 Relay access denied",
		},
		"submission with STARTTLS and AUTH PLAIN": {
			mode: ModeSubmission, clientMode: "submission-PLAIN", password: alicePassword,
			sender: alice, rcpt: alice, protocol: "ESMTPSA",
		},
		"submission with STARTTLS and AUTH LOGIN": {
			mode: ModeSubmission, clientMode: "submission-LOGIN", password: alicePassword,
			sender: alice, rcpt: alice, protocol: "ESMTPSA",
		},
		"submissions over implicit TLS": {
			mode: ModeSubmissions, clientMode: "submissions", password: alicePassword,
			sender: alice, rcpt: alice, protocol: "ESMTPSA",
		},
		"a wrong password is refused": {
			mode: ModeSubmissions, clientMode: "refused-login", password: "wrong", sender: alice, rcpt: alice,
			wantOut: "refused 535 5.7.8 Authentication credentials invalid",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, tc.mode)
			host, port := splitHostPort(t, ts.addr)
			out := runTool(t, python, script, tc.clientMode, host, port, ts.cert.pemFile, msg,
				alice, tc.password, tc.sender, tc.rcpt)
			if tc.protocol == "" {
				if !strings.Contains(out, tc.wantOut) {
					t.Errorf("client output %q, want %q", out, tc.wantOut)
				}
				if n := len(ts.dlv.deliveries()); n != 0 {
					t.Errorf("%d deliveries, want none", n)
				}
				return
			}
			checkInteropDelivery(t, ts, tc.protocol)
		})
	}
}

func TestCurl(t *testing.T) {
	curl := lookTool(t, "curl")
	msg := writeFile(t, "msg.eml", interopMessage)
	user := alice + ":" + alicePassword
	tests := map[string]struct {
		mode      Mode
		scheme    string
		args      []string
		protocol  string
		mechanism string // logged on success
	}{
		"MX delivery": {
			mode: ModeMX, scheme: "smtp", protocol: "ESMTP",
			args: []string{"--mail-from", "sender@remote.test"},
		},
		"submission with STARTTLS required (curl picks PLAIN)": {
			mode: ModeSubmission, scheme: "smtp", protocol: "ESMTPSA", mechanism: "PLAIN",
			args: []string{"--ssl-reqd", "--user", user, "--mail-from", alice},
		},
		"submission with AUTH LOGIN": {
			mode: ModeSubmission, scheme: "smtp", protocol: "ESMTPSA", mechanism: "LOGIN",
			args: []string{"--ssl-reqd", "--user", user, "--login-options", "AUTH=LOGIN", "--mail-from", alice},
		},
		"submissions over implicit TLS": {
			mode: ModeSubmissions, scheme: "smtps", protocol: "ESMTPSA", mechanism: "PLAIN",
			args: []string{"--user", user, "--mail-from", alice},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, tc.mode)
			args := append([]string{"--silent", "--show-error", "--cacert", ts.cert.pemFile,
				"--url", tc.scheme + "://" + ts.addr + "/client.test",
				"--mail-rcpt", alice, "--upload-file", msg}, tc.args...)
			runTool(t, curl, args...)
			checkInteropDelivery(t, ts, tc.protocol)
			if tc.mechanism != "" && !strings.Contains(ts.logs.String(), "mechanism="+tc.mechanism+" ") {
				t.Errorf("no AUTH with %s logged:\n%s", tc.mechanism, ts.logs.String())
			}
		})
	}
}

func splitHostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}
