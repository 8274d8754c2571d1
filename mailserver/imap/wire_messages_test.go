package imap

import (
	"fmt"
	"strings"
	"testing"
)

const (
	plainMessage = "Date: Tue, 14 May 2024 10:00:00 +0200\r\n" +
		"From: Alice Example <alice@example.com>\r\n" +
		"To: bob@example.org\r\n" +
		"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from Alice\r\n" +
		"Message-ID: <one@example.com>\r\n" +
		"\r\n" +
		"Hello Bob,\r\nthe quarterly report is attached.\r\n"
	multipartMessage = "From: carol@example.net\r\n" +
		"Subject: pictures\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=XYZ\r\n" +
		"\r\n" +
		"--XYZ\r\n" +
		"Content-Type: text/plain; charset=iso-8859-1\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n" +
		"\r\n" +
		"Gr=FC=DFe aus K=F6ln\r\n" +
		"--XYZ\r\n" +
		"Content-Type: image/png\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n" +
		"iVBORw0KGgo=\r\n" +
		"--XYZ--\r\n"
)

func TestSelectAndExamine(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver(t, "alice@example.com", "", plainMessage)
	ts.deliver(t, "alice@example.com", "", multipartMessage)
	w := ts.login(t, "alice@example.com", "secret")
	lines := w.ok("SELECT INBOX")
	for _, want := range []string{"* 2 EXISTS", "* OK [UIDVALIDITY ", "* OK [UIDNEXT 3]", "* OK [UNSEEN 1]",
		`* FLAGS (\Seen \Answered \Flagged \Deleted \Draft)`, `[PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft \*)]`,
		`* LIST (\HasNoChildren) "/" INBOX`} {
		if !has(lines, want) {
			t.Errorf("SELECT lacks %q: %q", want, lines)
		}
	}
	_, done := w.cmd("EXAMINE INBOX")
	if !strings.HasPrefix(done, "OK [READ-ONLY]") {
		t.Errorf("EXAMINE: %q", done)
	}
	w.expect(`STORE 1 +FLAGS (\Seen)`, "NO [CANNOT]")
	w.expect(`MOVE 1 Archive`, "NO [CANNOT]")
	w.expect(`UID EXPUNGE 1`, "NO [CANNOT]")
	w.ok("FETCH 1 BODY[]") // no \Seen in EXAMINE
	w.ok("SELECT INBOX")
	if lines := w.ok("FETCH 1 FLAGS"); !has(lines, "FLAGS ()") {
		t.Errorf("EXAMINE's FETCH BODY[] set flags: %q", lines)
	}
	w.expect("SELECT Nope", "NO [NONEXISTENT]")
}

func TestFetchItems(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver(t, "alice@example.com", "", plainMessage)
	ts.deliver(t, "alice@example.com", "", multipartMessage)
	w := ts.login(t, "alice@example.com", "secret")
	w.ok("SELECT INBOX")
	header := plainMessage[:strings.Index(plainMessage, "\r\n\r\n")+4]
	text := plainMessage[len(header):]
	tests := map[string]struct {
		command string
		want    []string
	}{
		"flags, size and internal date": {"FETCH 1 (FLAGS RFC822.SIZE INTERNALDATE)",
			[]string{fmt.Sprintf("RFC822.SIZE %d", len(plainMessage)), "FLAGS ()", `INTERNALDATE "`}},
		"the envelope decodes nothing and quotes everything": {"FETCH 1 ENVELOPE", []string{
			`ENVELOPE ("Tue, 14 May 2024 10:00:00 +0200" "=?utf-8?q?Gr=C3=BC=C3=9Fe_from_Alice?=" (("Alice Example" NIL "alice" "example.com"))`,
			`((NIL NIL "bob" "example.org")) NIL NIL NIL "<one@example.com>")`}},
		"UID FETCH always returns the UID": {"UID FETCH 2 FLAGS", []string{"* 2 FETCH (UID 2 FLAGS ())"}},
		"BODY.PEEK[] is the stored message": {"FETCH 1 BODY.PEEK[]",
			[]string{fmt.Sprintf("BODY[] {%d}", len(plainMessage)) + plainMessage}},
		"HEADER and TEXT split the message": {"FETCH 1 (BODY.PEEK[HEADER] BODY.PEEK[TEXT])",
			[]string{fmt.Sprintf("BODY[HEADER] {%d}", len(header)) + header, fmt.Sprintf("BODY[TEXT] {%d}", len(text)) + text}},
		"HEADER.FIELDS keeps the named fields": {"FETCH 1 BODY.PEEK[HEADER.FIELDS (subject TO)]",
			[]string{"To: bob@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from Alice\r\n\r\n"}},
		"HEADER.FIELDS.NOT drops them": {"FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (From To Subject Message-ID)]",
			[]string{"{41}Date: Tue, 14 May 2024 10:00:00 +0200\r\n\r\n"}},
		"a partial range":                         {"FETCH 1 BODY.PEEK[TEXT]<6.3>", []string{"BODY[TEXT]<6> {3}Bob"}},
		"a partial range beyond the end is empty": {"FETCH 1 BODY.PEEK[]<100000.10>", []string{"BODY[]<100000> {0}"}},
		"a MIME part is decoded by its path":      {"FETCH 2 BODY.PEEK[1]", []string{"BODY[1] {20}Gr=FC=DFe aus K=F6ln)"}},
		"a part's MIME header":                    {"FETCH 2 BODY.PEEK[2.MIME]", []string{"Content-Type: image/png"}},
		"BINARY decodes the transfer encoding":    {"FETCH 2 BINARY.PEEK[2]", []string{"BINARY[2] ~{8}\x89PNG\r\n\x1a\n"}},
		"BODYSTRUCTURE describes the parts": {"FETCH 2 BODYSTRUCTURE", []string{
			`BODYSTRUCTURE (("text" "plain" ("charset" "iso-8859-1") NIL NIL "quoted-printable" 20 0 NIL NIL NIL NIL)`,
			`("image" "png" NIL NIL NIL "base64" 12 NIL NIL NIL NIL) "mixed" ("boundary" "XYZ") NIL NIL NIL)`}},
		"BODY is the short structure":        {"FETCH 1 BODY", []string{`BODY ("text" "plain" NIL NIL NIL "7bit" 47 2)`}},
		"ALL is a macro":                     {"FETCH 1 ALL", []string{"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"}},
		"RFC822.HEADER is the obsolete form": {"FETCH 1 RFC822.HEADER", []string{"RFC822.HEADER {"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			lines := w.ok(tc.command)
			for _, want := range tc.want {
				if !has(lines, want) {
					t.Errorf("%s lacks %q:\n%q", tc.command, want, lines)
				}
			}
		})
	}
	// Without .PEEK the message becomes \Seen and FLAGS is sent along.
	if lines := w.ok("FETCH 1 BODY[TEXT]"); !has(lines, `FLAGS (\Seen)`) {
		t.Errorf("FETCH BODY[TEXT] did not report \\Seen: %q", lines)
	}
	if lines := w.ok("FETCH 1 FLAGS"); !has(lines, `FLAGS (\Seen)`) {
		t.Errorf("\\Seen was not stored: %q", lines)
	}
	if lines := w.ok("FETCH 3:* FLAGS"); len(lines) != 1 || !strings.HasPrefix(lines[0], "* 2 FETCH") {
		t.Errorf("3:* should mean the last message: %q", lines)
	}
	if lines := w.ok("FETCH 7 FLAGS"); len(lines) != 0 {
		t.Errorf("a sequence number beyond the folder: %q", lines)
	}
}

func TestStoreCopyMoveExpunge(t *testing.T) {
	ts := newTestServer(t)
	for i := 1; i <= 4; i++ {
		ts.deliver(t, "alice@example.com", "", fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i))
	}
	w := ts.login(t, "alice@example.com", "secret")
	w.ok("SELECT INBOX")
	if lines := w.ok(`STORE 1:2 +FLAGS (\Flagged $Important)`); len(lines) != 2 ||
		!has(lines, `* 1 FETCH (FLAGS (\Flagged $Important))`) {
		t.Errorf("STORE: %q", lines)
	}
	if lines := w.ok(`STORE 1 -FLAGS.SILENT (\Flagged)`); len(lines) != 0 {
		t.Errorf("STORE .SILENT answered %q", lines)
	}
	if lines := w.ok(`UID STORE 2 FLAGS (\Answered)`); !has(lines, `* 2 FETCH (UID 2 FLAGS (\Answered))`) {
		t.Errorf("UID STORE: %q", lines)
	}
	w.expect(`STORE 1 +FLAGS (\Bogus)`, "BAD")
	_, done := w.cmd("COPY 1:2 Archive")
	if !strings.HasPrefix(done, "OK [COPYUID ") || !strings.HasSuffix(strings.Fields(done)[4], "1:2]") {
		t.Errorf("COPY: %q", done)
	}
	if _, done := w.cmd("UID COPY 3 Junk"); !strings.HasPrefix(done, "OK [COPYUID ") || !strings.Contains(done, " 3 1]") {
		t.Errorf("UID COPY: %q", done)
	}
	w.expect("COPY 1 Nope", "NO [TRYCREATE]")
	w.expect("COPY 99 Nope", "NO [TRYCREATE]")
	w.ok("COPY 99 Archive")
	lines := w.ok("MOVE 3 Trash")
	if !has(lines, "* OK [COPYUID ") || !has(lines, "* 3 EXPUNGE") {
		t.Errorf("MOVE: %q", lines)
	}
	w.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	w.ok(`STORE 3 +FLAGS.SILENT (\Deleted)`)
	if lines := w.ok("UID EXPUNGE 4"); !has(lines, "* 3 EXPUNGE") || len(lines) != 1 {
		t.Errorf("UID EXPUNGE: %q", lines)
	}
	if lines := w.ok("EXPUNGE"); !has(lines, "* 1 EXPUNGE") || len(lines) != 1 {
		t.Errorf("EXPUNGE: %q", lines)
	}
	if lines := w.ok("UID FETCH 1:* FLAGS"); len(lines) != 1 || !has(lines, "UID 2") {
		t.Errorf("after expunges: %q", lines)
	}
	if lines := w.ok("STATUS Archive (MESSAGES)"); !has(lines, "MESSAGES 2") {
		t.Errorf("Archive: %q", lines)
	}
	w.ok("UNSELECT")
	w.expect("FETCH 1 FLAGS", "BAD")
	w.ok("SELECT INBOX")
	w.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	w.ok("CLOSE")
	if lines := w.ok("STATUS INBOX (MESSAGES)"); !has(lines, "MESSAGES 0") {
		t.Errorf("CLOSE did not expunge: %q", lines)
	}
}

func TestAppend(t *testing.T) {
	ts := newTestServer(t)
	w := ts.login(t, "alice@example.com", "secret")
	msg := "Subject: draft\r\n\r\nnot yet\r\n"
	_, done := w.cmd(fmt.Sprintf("APPEND Drafts (\\Draft \\Seen) \"14-May-2024 10:00:00 +0200\" {%d+}\r\n%s", len(msg), msg))
	if !strings.HasPrefix(done, "OK [APPENDUID ") || !strings.Contains(done, " 1]") {
		t.Fatalf("APPEND: %q", done)
	}
	w.ok("SELECT Drafts")
	lines := w.ok("FETCH 1 (FLAGS INTERNALDATE BODY.PEEK[])")
	if !has(lines, `FLAGS (\Seen \Draft)`) || !has(lines, `"14-May-2024 10:00:00 +0200"`) || !has(lines, msg) {
		t.Errorf("appended message: %q", lines)
	}
	// A synchronising literal: the server asks with "+" first.
	w.send(fmt.Sprintf("a1 APPEND INBOX {%d}\r\n", len(msg)))
	w.expectPrefix("+")
	w.send(msg + "\r\n")
	w.expectPrefix("a1 OK [APPENDUID")
	w.expect(fmt.Sprintf("APPEND Nope {%d+}\r\n%s", len(msg), msg), "NO [TRYCREATE]")
	w.expect(fmt.Sprintf("APPEND INBOX (\\Bogus) {%d+}\r\n%s", len(msg), msg), "BAD")
}

func TestHugeLiteralIsRefusedBeforeReading(t *testing.T) {
	ts := newTestServer(t)
	w := ts.login(t, "alice@example.com", "secret")
	w.send("a1 APPEND INBOX {4294967295}\r\n")
	if l := w.line(); !strings.HasPrefix(l, "a1 NO [TOOBIG]") {
		t.Fatalf("got %q, want a tagged NO [TOOBIG] without a continuation", l)
	}
	w.send(fmt.Sprintf("a2 APPEND INBOX {%d}\r\n", DefaultMaxAppendBytes+1))
	if l := w.line(); !strings.HasPrefix(l, "a2 NO [TOOBIG]") {
		t.Fatalf("got %q", l)
	}
	w.ok("NOOP")
}

func TestQuotaIsEnforced(t *testing.T) {
	ts := newTestServer(t)
	body := "Subject: big\r\n\r\n" + strings.Repeat("x", 1000) + "\r\n"
	ts.deliver(t, "alice@example.com", "", body)
	ts.setQuota("alice@example.com", 1500)
	w := ts.login(t, "alice@example.com", "secret")
	w.expect(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(body), body), "NO [OVERQUOTA]")
	w.ok("SELECT INBOX")
	w.expect("COPY 1 Archive", "NO [OVERQUOTA]")
	w.ok("MOVE 1 Archive") // moving does not grow the account
	small := "Subject: s\r\n\r\nok\r\n"
	w.ok(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(small), small))
	if n := ts.obs.count(func(o *countingObserver) int { return o.failures["APPEND OVERQUOTA"] }); n != 1 {
		t.Errorf("observer counted %d APPEND OVERQUOTA", n)
	}
}
