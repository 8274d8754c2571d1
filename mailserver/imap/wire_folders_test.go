package imap

import (
	"strings"
	"testing"
)

func TestDefaultFoldersExistAtFirstLogin(t *testing.T) {
	ts := newTestServer(t)
	w := ts.login(t, "alice@example.com", "secret")
	lines := w.ok(`LIST "" *`)
	for _, want := range []string{
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasNoChildren \Sent) "/" "Sent"`,
		`* LIST (\HasNoChildren \Drafts) "/" "Drafts"`,
		`* LIST (\HasNoChildren \Trash) "/" "Trash"`,
		`* LIST (\HasNoChildren \Junk) "/" "Junk"`,
		`* LIST (\HasNoChildren \Archive) "/" "Archive"`,
	} {
		if !has(lines, want) {
			t.Errorf("LIST lacks %q: %q", want, lines)
		}
	}
	if got := w.ok(`LIST "" ""`); !has(got, `* LIST (\Noselect) "/" ""`) {
		t.Errorf(`LIST "" "": %q`, got)
	}
	if got := w.ok("NAMESPACE"); !has(got, `* NAMESPACE (("" "/")) NIL NIL`) {
		t.Errorf("NAMESPACE: %q", got)
	}
}

func TestFolderNamesAreChecked(t *testing.T) {
	tests := map[string]string{
		"a parent-directory level":   `CREATE "../etc"`,
		"a parent level in the path": `CREATE "a/../b"`,
		"a current-directory level":  `CREATE "a/./b"`,
		"a leading delimiter":        `CREATE "/etc"`,
		"an empty level":             `CREATE "a//b"`,
		"a wildcard":                 `CREATE "a*b"`,
		"an encoded control char":    `CREATE "a&AAE-b"`,
		"renaming to a path trick":   `RENAME Archive "../Archive"`,
		"selecting a path trick":     `SELECT "../INBOX"`,
		"deleting a path trick":      `DELETE "Trash/.."`,
	}
	ts := newTestServer(t)
	w := ts.login(t, "alice@example.com", "secret")
	for name, command := range tests {
		t.Run(name, func(t *testing.T) {
			_, done := w.cmd(command)
			if !strings.HasPrefix(done, "NO [CANNOT] Invalid folder name") {
				t.Fatalf("%q: got %q", command, done)
			}
		})
	}
	// A raw control character fails the library's modified UTF-7 decoding,
	// which answers NO [SERVERBUG] (it cannot be intercepted); the folder
	// is not created either way.
	w.expect("CREATE \"a\x01b\"", "NO")
	if lines := w.ok(`LIST "" *`); len(lines) != 6 {
		t.Errorf("folders after refused commands: %q", lines)
	}
}

func TestCreateRenameDeleteRules(t *testing.T) {
	ts := newTestServer(t)
	w := ts.login(t, "alice@example.com", "secret")
	steps := []struct {
		command, want string
	}{
		{`CREATE Projects/2024/Q1`, "OK"},
		{`CREATE Projects/`, "NO [ALREADYEXISTS]"},
		{`CREATE inbox`, "NO [ALREADYEXISTS]"},
		{`DELETE INBOX`, "NO [CANNOT]"},
		{`DELETE Projects`, "NO [HASCHILDREN]"},
		{`DELETE Nope`, "NO [NONEXISTENT]"},
		{`RENAME Nope Other`, "NO [NONEXISTENT]"},
		{`RENAME Projects Archive`, "NO [ALREADYEXISTS]"},
		{`RENAME Projects Projects/Sub`, "NO [CANNOT]"},
		{`RENAME Sent INBOX`, "NO [ALREADYEXISTS]"},
		{`RENAME Projects Work`, "OK"},
		{`SELECT Work/2024/Q1`, "OK"},
		{`DELETE Work/2024/Q1`, "OK"},
		{`CREATE (USE (\Drafts \Sent)) Both`, "BAD"},
		{`CREATE Important (USE (\Flagged))`, "OK"},
		{`CREATE Two (USE (\Drafts \Sent))`, "NO [USEATTR]"},
		{`SUBSCRIBE Work`, "OK"},
		{`UNSUBSCRIBE Nope`, "NO [NONEXISTENT]"},
	}
	for _, s := range steps {
		w.expect(s.command, s.want)
	}
	lines := w.ok(`LIST "" Work*`)
	if !has(lines, `* LIST (\HasChildren) "/" "Work"`) || !has(lines, `"/" "Work/2024"`) || has(lines, "Q1") {
		t.Errorf("after renames: %q", lines)
	}
	if lines := w.ok(`LIST "" %`); has(lines, "Work/2024") || !has(lines, `"/" "Work"`) {
		t.Errorf(`LIST "" %%: %q`, lines)
	}
	if lines := w.ok(`LIST "" Important`); !has(lines, `\Flagged`) {
		t.Errorf("special use of a created folder: %q", lines)
	}
}

func TestRenameInboxMovesItsMessages(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver(t, "alice@example.com", "", "Subject: one\r\n\r\nbody\r\n")
	w := ts.login(t, "alice@example.com", "secret")
	w.ok("RENAME INBOX Old")
	if lines := w.ok("STATUS INBOX (MESSAGES)"); !has(lines, "MESSAGES 0") {
		t.Errorf("INBOX after rename: %q", lines)
	}
	if lines := w.ok("STATUS Old (MESSAGES)"); !has(lines, "MESSAGES 1") {
		t.Errorf("Old after rename: %q", lines)
	}
}

func TestListExtended(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver(t, "alice@example.com", "", "Subject: one\r\n\r\nbody\r\n")
	w := ts.login(t, "alice@example.com", "secret")
	w.ok("CREATE Lists/go")
	w.ok("UNSUBSCRIBE Lists")
	w.ok("SUBSCRIBE Lists/go")
	tests := map[string]struct {
		command   string
		want, not []string
	}{
		"special-use selection lists only special folders": {
			`LIST (SPECIAL-USE) "" *`, []string{`\Sent) "/" "Sent"`}, []string{"INBOX", "Lists"}},
		"LIST-STATUS returns counters": {
			`LIST "" INBOX RETURN (STATUS (MESSAGES UNSEEN UIDNEXT SIZE))`,
			[]string{`* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UNSEEN 1 SIZE 22)`}, nil},
		"subscribed selection marks subscriptions": {
			`LIST (SUBSCRIBED) "" Lists*`, []string{`(\HasNoChildren \Subscribed) "/" "Lists/go"`}, []string{`"/" "Lists"`}},
		"recursive match reports a parent with subscribed children": {
			`LIST (SUBSCRIBED RECURSIVEMATCH) "" Lists`, []string{`(\HasChildren) "/" "Lists" (CHILDINFO ("SUBSCRIBED"))`}, nil},
		"LSUB lists subscriptions": {
			`LSUB "" *`, []string{`* LSUB`, `Lists/go`}, nil},
		"a reference prefixes the pattern": {
			`LIST Lists %`, []string{`"/" "Lists/go"`}, []string{"INBOX"}},
		"inbox matches in any case": {
			`LIST "" inbox`, []string{`"/" INBOX`}, nil},
		// A backtracking matcher would take exponential time here.
		"a pattern of many wildcards is matched in linear passes": {
			`LIST "" "` + strings.Repeat("%*", 500) + `z"`, nil, []string{"INBOX", "Lists"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			lines := w.ok(tc.command)
			for _, want := range tc.want {
				if !has(lines, want) {
					t.Errorf("%s: lacks %q in %q", tc.command, want, lines)
				}
			}
			for _, not := range tc.not {
				if has(lines, not) {
					t.Errorf("%s: has %q in %q", tc.command, not, lines)
				}
			}
		})
	}
}

func TestStatusItems(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver(t, "alice@example.com", "", "Subject: one\r\n\r\nbody\r\n")
	ts.deliver(t, "alice@example.com", "", "Subject: two\r\n\r\nbody\r\n")
	w := ts.login(t, "alice@example.com", "secret")
	w.ok("SELECT INBOX")
	w.ok(`STORE 2 +FLAGS (\Deleted \Seen)`)
	lines := w.ok("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE APPENDLIMIT RECENT)")
	for _, want := range []string{"MESSAGES 2", "UIDNEXT 3", "UIDVALIDITY ", "UNSEEN 1", "DELETED 1", "SIZE 44", "APPENDLIMIT 52428800", "RECENT 0"} {
		if !has(lines, want) {
			t.Errorf("STATUS lacks %q: %q", want, lines)
		}
	}
	w.expect("STATUS Nope (MESSAGES)", "NO [NONEXISTENT]")
}

func TestInternationalFolderNames(t *testing.T) {
	ts := newTestServer(t)
	w := ts.login(t, "alice@example.com", "secret")
	// Modified UTF-7 (RFC 3501 §5.1.3): "Entwürfe".
	w.ok(`CREATE "Entw&APw-rfe"`)
	if lines := w.ok(`LIST "" Entw*`); !has(lines, `"Entw&APw-rfe"`) {
		t.Errorf("LIST in modified UTF-7: %q", lines)
	}
	w.ok("ENABLE UTF8=ACCEPT")
	if lines := w.ok(`LIST "" Entw*`); !has(lines, `"Entwürfe"`) {
		t.Errorf("LIST under UTF8=ACCEPT: %q", lines)
	}
	w.ok(`SELECT "Entwürfe"`)
}
