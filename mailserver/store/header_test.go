package store

import "testing"

func TestHeaderLen(t *testing.T) {
	tests := map[string]struct {
		body  string
		n     int
		found bool
	}{
		"a CRLF header ends after its empty line":      {"A: 1\r\nB: 2\r\n\r\nbody", 14, true},
		"a bare LF header ends after its empty line":   {"A: 1\nB: 2\n\nbody", 11, true},
		"mixed line ends: LF then CRLF empty line":     {"A: 1\n\r\nbody", 7, true},
		"an empty header is only the empty line, CRLF": {"\r\nbody", 2, true},
		"an empty header is only the empty line, LF":   {"\nbody", 1, true},
		"no empty line: all header":                    {"A: 1\r\nB: 2\r\n", 12, false},
		"no line end at all: all header":               {"A: 1", 4, false},
		"an empty message has an empty header":         {"", 0, false},
		"a lone CR is not a line end":                  {"A: 1\r\r\nbody", 11, false},
		"the first empty line ends the header":         {"A: 1\r\n\r\nb\r\n\r\nc", 8, true},
		"a CR at the end may start an empty line":      {"A: 1\r\n\r", 7, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n, found := FindHeaderEnd([]byte(tc.body))
			if n != tc.n || found != tc.found {
				t.Fatalf("FindHeaderEnd(%q) = %d, %v; want %d, %v", tc.body, n, found, tc.n, tc.found)
			}
			if got := HeaderLen([]byte(tc.body)); got != tc.n {
				t.Fatalf("HeaderLen(%q) = %d, want %d", tc.body, got, tc.n)
			}
		})
	}
}

// FuzzFindHeaderEnd checks what a reader of a bounded prefix relies on: a
// header end found in any prefix is the header end of the whole message.
func FuzzFindHeaderEnd(f *testing.F) {
	f.Add([]byte("A: 1\r\nB: 2\r\n\r\nbody"), 5)
	f.Add([]byte("A: 1\n\nbody"), 6)
	f.Add([]byte("\r\n"), 1)
	f.Fuzz(func(t *testing.T, body []byte, cut int) {
		if cut < 0 || cut > len(body) {
			return
		}
		whole := HeaderLen(body)
		if whole < 0 || whole > len(body) {
			t.Fatalf("HeaderLen %d out of range for %d bytes", whole, len(body))
		}
		if n, found := FindHeaderEnd(body[:cut]); found && n != whole {
			t.Fatalf("prefix of %d bytes: header end %d, whole message: %d", cut, n, whole)
		}
	})
}
