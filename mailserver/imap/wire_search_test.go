package imap

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

func TestSearch(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	if _, err := ts.store.EnsureAccount(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	for i, m := range []struct {
		body string
		date time.Time
	}{
		{plainMessage, time.Date(2024, 5, 14, 12, 0, 0, 0, time.UTC)},
		{multipartMessage, time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)},
		{"From: dave@example.com\r\nTo: alice@example.com\r\nCc: team@example.com\r\nSubject: lunch\r\n" +
			"Date: Wed, 15 May 2024 09:00:00 +0000\r\nX-Priority: 1\r\n\r\n" + strings.Repeat("pizza ", 200) + "\r\n",
			time.Date(2024, 5, 15, 9, 0, 0, 0, time.UTC)},
	} {
		_, err := ts.store.Submit(ctx, store.Submission{Body: []byte(m.body), InternalDate: m.date,
			Local: []store.DeliveryTarget{{Account: "alice@example.com"}}})
		if err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	w := ts.login(t, "alice@example.com", "secret")
	w.ok("SELECT INBOX")
	w.ok(`STORE 1 +FLAGS (\Seen $Work)`)
	w.ok(`STORE 3 +FLAGS (\Flagged)`)
	tests := map[string]struct {
		command, want string
	}{
		"everything":                         {"SEARCH ALL", "* SEARCH 1 2 3"},
		"a flag":                             {`SEARCH SEEN`, "* SEARCH 1"},
		"a missing flag":                     {`SEARCH UNSEEN`, "* SEARCH 2 3"},
		"a keyword, any case":                {`SEARCH KEYWORD $work`, "* SEARCH 1"},
		"no message is recent":               {`SEARCH RECENT`, "* SEARCH"},
		"a header field":                     {`SEARCH FROM carol`, "* SEARCH 2"},
		"an encoded subject matches decoded": {`SEARCH SUBJECT "grüße"`, "* SEARCH 1"},
		"any header by name":                 {`SEARCH HEADER X-Priority ""`, "* SEARCH 3"},
		"a body word, case-insensitively":    {`SEARCH BODY QUARTERLY`, "* SEARCH 1"},
		"a quoted-printable latin-1 body":    {`SEARCH BODY "köln"`, "* SEARCH 2"},
		"text covers headers and body":       {`SEARCH TEXT team`, "* SEARCH 3"},
		"internal date since":                {`SEARCH SINCE 15-May-2024`, "* SEARCH 2 3"},
		"internal date before":               {`SEARCH BEFORE 15-May-2024`, "* SEARCH 1"},
		"internal date on":                   {`SEARCH ON 1-Jun-2024`, "* SEARCH 2"},
		"sent date uses the Date field":      {`SEARCH SENTON 15-May-2024`, "* SEARCH 3"},
		"size":                               {`SEARCH LARGER 1000`, "* SEARCH 3"},
		"smaller":                            {`SEARCH SMALLER 300`, "* SEARCH 1"},
		"a sequence set":                     {`SEARCH 2:* UNFLAGGED`, "* SEARCH 2"},
		"a UID set":                          {`SEARCH UID 1,3`, "* SEARCH 1 3"},
		"not":                                {`SEARCH NOT FROM alice`, "* SEARCH 2 3"},
		"or":                                 {`SEARCH OR FLAGGED SEEN`, "* SEARCH 1 3"},
		"nested lists":                       {`SEARCH (OR (FROM carol) (FROM dave)) NOT (LARGER 1000)`, "* SEARCH 2"},
		"UID SEARCH answers UIDs":            {`UID SEARCH FLAGGED`, "* SEARCH 3"},
		"ESEARCH with return options": {`SEARCH RETURN (MIN MAX COUNT) ALL`,
			`* ESEARCH (TAG "t`},
		"a charset": {`SEARCH CHARSET UTF-8 BODY pizza`, "* SEARCH 3"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			lines := w.ok(tc.command)
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) || (strings.HasPrefix(tc.want, "* SEARCH") && lines[0] != tc.want) {
				t.Errorf("%s: got %q, want %q", tc.command, lines, tc.want)
			}
		})
	}
	if lines := w.ok(`SEARCH RETURN (MIN MAX COUNT) ALL`); !has(lines, "MIN 1 MAX 3 COUNT 3") {
		t.Errorf("ESEARCH: %q", lines)
	}
	w.expect(`SEARCH CHARSET KOI8-R BODY x`, "NO [BADCHARSET]")
	// SEARCHRES (RFC 5182): "$" is the saved result.
	w.ok(`SEARCH RETURN (SAVE) FROM dave`)
	if lines := w.ok(`FETCH $ (UID)`); len(lines) != 1 || !strings.HasPrefix(lines[0], "* 3 FETCH (UID 3)") {
		t.Errorf("FETCH $: %q", lines)
	}
	if lines := w.ok(`UID SEARCH UID $`); !has(lines, "* SEARCH 3") {
		t.Errorf("SEARCH UID $: %q", lines)
	}
	// Under IMAP4rev2 every SEARCH answers with ESEARCH (RFC 9051 §7.3.4).
	w.ok("ENABLE IMAP4rev2")
	if lines := w.ok(`UID SEARCH FLAGGED`); len(lines) != 1 || !strings.HasSuffix(lines[0], " UID ALL 3") {
		t.Errorf("ESEARCH under IMAP4rev2: %q", lines)
	}
}

func TestSearchNestingIsBounded(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver(t, "alice@example.com", "", plainMessage)
	w := ts.login(t, "alice@example.com", "secret")
	w.ok("SELECT INBOX")
	w.expect("SEARCH "+strings.Repeat("NOT ", MaxSearchDepth+1)+"ALL", "NO [LIMIT]")
	w.ok("SEARCH " + strings.Repeat("NOT ", MaxSearchDepth) + "ALL")
	// Parenthesised lists deeper than the library's bound (1000) are refused
	// by the library; the session goes on.
	_, done := w.cmd("SEARCH " + strings.Repeat("(", 2000) + "ALL" + strings.Repeat(")", 2000))
	if !strings.HasPrefix(done, "NO") && !strings.HasPrefix(done, "BAD") {
		t.Errorf("deep parentheses: %q", done)
	}
	w.ok("NOOP")
}
