package main

import "testing"

func TestTrailingLiteral(t *testing.T) {
	tests := map[string]struct {
		line       string
		wantN      int64
		wantPrefix string
		wantOK     bool
	}{
		"a body literal":                 {line: "* 1 FETCH (BODY[] {10240}", wantN: 10240, wantPrefix: "* 1 FETCH (BODY[] ", wantOK: true},
		"a non-synchronising literal":    {line: `a LOGIN {3+}`, wantN: 3, wantPrefix: "a LOGIN ", wantOK: true},
		"a line without literal":         {line: "* 1 FETCH (FLAGS (\\Seen))"},
		"braces that are not a literal":  {line: "* OK {abc}"},
		"a closing brace and no opening": {line: "* OK }"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n, prefix, ok := trailingLiteral(tc.line)
			if n != tc.wantN || prefix != tc.wantPrefix || ok != tc.wantOK {
				t.Errorf("trailingLiteral(%q) = %d, %q, %v; want %d, %q, %v", tc.line, n, prefix, ok, tc.wantN, tc.wantPrefix, tc.wantOK)
			}
		})
	}
}

func TestSearchHits(t *testing.T) {
	tests := map[string]struct {
		line string
		want int
	}{
		"an IMAP4rev1 SEARCH response":        {"* SEARCH 1 101 201", 3},
		"an empty SEARCH response":            {"* SEARCH", 0},
		"an ESEARCH response with ranges":     {`* ESEARCH (TAG "b4") UID ALL 1,101:105,201`, 7},
		"an ESEARCH response without results": {`* ESEARCH (TAG "b4") UID`, 0},
		"an unrelated response":               {"* 3 EXISTS", 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := searchHits(tc.line); got != tc.want {
				t.Errorf("searchHits(%q) = %d, want %d", tc.line, got, tc.want)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	if got, want := quote(`p"a\ss`), `"p\"a\\ss"`; got != want {
		t.Errorf("quote = %s, want %s", got, want)
	}
}

func TestUntaggedNumber(t *testing.T) {
	if n, ok := untaggedNumber("* 10000 EXISTS", "EXISTS"); !ok || n != 10000 {
		t.Errorf("EXISTS = %d, %v; want 10000", n, ok)
	}
	if _, ok := untaggedNumber("* 3 RECENT", "EXISTS"); ok {
		t.Errorf("RECENT taken for EXISTS")
	}
}
