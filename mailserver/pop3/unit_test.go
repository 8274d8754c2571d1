package pop3

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseCommand(t *testing.T) {
	tests := map[string]struct {
		line string
		want command
		ok   bool
	}{
		"a keyword alone is upper-cased":        {"stat", command{keyword: "STAT"}, true},
		"arguments are split on spaces":         {"TOP 1 10", command{keyword: "TOP", args: []string{"1", "10"}}, true},
		"repeated spaces are tolerated":         {"TOP  1   10 ", command{keyword: "TOP", args: []string{"1", "10"}}, true},
		"PASS keeps spaces in the password":     {"PASS  a b ", command{keyword: "PASS", args: []string{" a b "}}, true},
		"PASS without an argument":              {"PASS", command{keyword: "PASS"}, true},
		"an empty line is not a command":        {"", command{}, false},
		"a two-letter keyword is not a command": {"NO", command{}, false},
		"a five-letter keyword is not":          {"HELLO", command{}, false},
		"a keyword with a digit is not":         {"LI5T", command{}, false},
		"a NUL byte is refused":                 {"USER a\x00b", command{}, false},
		"a CR inside the line is refused":       {"USER a\rb", command{}, false},
		"a leading space is refused":            {" STAT", command{}, false},
		"UTF-8 arguments are kept":              {"USER jörg", command{keyword: "USER", args: []string{"jörg"}}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := parseCommand([]byte(tc.line))
			if ok != tc.ok || got.keyword != tc.want.keyword || !slices.Equal(got.args, tc.want.args) {
				t.Errorf("parseCommand(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestDotWriter(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"an empty body is just the terminator":       {"", ".\r\n"},
		"CRLF lines pass through":                    {"a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
		"bare LF becomes CRLF":                       {"a\nb\n", "a\r\nb\r\n.\r\n"},
		"an unterminated last line is terminated":    {"a\r\nb", "a\r\nb\r\n.\r\n"},
		"a trailing CR is completed":                 {"a\r", "a\r\n.\r\n"},
		"lines starting with a dot are stuffed":      {".a\r\n..b\r\n.\r\n", "..a\r\n...b\r\n..\r\n.\r\n"},
		"a dot on the first line is stuffed":         {".", "..\r\n.\r\n"},
		"a dot inside a line is not":                 {"a.b\r\n", "a.b\r\n.\r\n"},
		"a lone CR inside a line is kept":            {"a\rb\n", "a\rb\r\n.\r\n"},
		"empty lines survive":                        {"\n\r\n\n", "\r\n\r\n\r\n.\r\n"},
		"a dot after an empty LF line is stuffed":    {"\n.x", "\r\n..x\r\n.\r\n"},
		"a line of only a CR before LF stays CRLF":   {"\r\n.", "\r\n..\r\n.\r\n"},
		"a lone CR does not start a new line":        {"a\r.b", "a\r.b\r\n.\r\n"},
		"a long line needs no buffering to stuff":    {strings.Repeat("x", 10000) + "\n.", strings.Repeat("x", 10000) + "\r\n..\r\n.\r\n"},
		"mixed endings in one body are normalized":   {"h: v\n\r\nbody\r\n.\n", "h: v\r\n\r\nbody\r\n..\r\n.\r\n"},
		"a body ending with a dot line terminates":   {"a\r\n.", "a\r\n..\r\n.\r\n"},
		"CR CR LF keeps both CRs in front of the LF": {"a\r\r\n", "a\r\r\n.\r\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Whole, and split at every byte: the result must not depend
			// on how the backend's reads are cut.
			for _, chunk := range []int{len(tc.in) + 1, 1, 2, 3} {
				var out bytes.Buffer
				dw := &dotWriter{w: &out}
				in := []byte(tc.in)
				for len(in) > 0 {
					n := min(chunk, len(in))
					if _, err := dw.Write(in[:n]); err != nil {
						t.Fatal(err)
					}
					in = in[n:]
				}
				if err := dw.Close(); err != nil {
					t.Fatal(err)
				}
				if out.String() != tc.want {
					t.Errorf("chunks of %d: got %q, want %q", chunk, out.String(), tc.want)
				}
			}
		})
	}
}

func TestCopyTop(t *testing.T) {
	msg := "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"
	long := "H: " + strings.Repeat("h", 3*readBufferSize) + "\r\n\r\n" + strings.Repeat("b", 2*readBufferSize) + "\r\nl2\r\n"
	tests := map[string]struct {
		msg  string
		n    int
		want string
	}{
		"zero lines is the header and the blank line": {msg, 0, "A: 1\r\nB: 2\r\n\r\n"},
		"two lines":                       {msg, 2, "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n"},
		"more lines than the body":        {msg, 99, msg},
		"a header without a body":         {"A: 1\r\n", 5, "A: 1\r\n"},
		"an unterminated last line":       {"A: 1\r\n\r\nx", 5, "A: 1\r\n\r\nx"},
		"bare LF separators":              {"A: 1\n\nl1\nl2\n", 1, "A: 1\n\nl1\n"},
		"lines longer than the buffer":    {long, 1, strings.TrimSuffix(long, "l2\r\n")},
		"a long header line is not blank": {"H: " + strings.Repeat("h", readBufferSize-4) + "\r\n\r\nx\r\n", 0, "H: " + strings.Repeat("h", readBufferSize-4) + "\r\n\r\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := copyTop(&out, iotest.OneByteReader(strings.NewReader(tc.msg)), tc.n); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}

func TestCopyTopReportsReadErrors(t *testing.T) {
	err := copyTop(io.Discard, iotest.ErrReader(errors.New("disk gone")), 1)
	var re *readError
	if !errors.As(err, &re) {
		t.Fatalf("copyTop = %v, want a *readError", err)
	}
}

func TestErrorResponse(t *testing.T) {
	tests := map[string]struct {
		err  error
		code ResponseCode
	}{
		"invalid credentials":          {ErrInvalidCredentials, CodeAuth},
		"wrapped invalid credentials":  {fmt.Errorf("user alice: %w", ErrInvalidCredentials), CodeAuth},
		"in use":                       {fmt.Errorf("locked: %w", ErrInUse), CodeInUse},
		"permanent":                    {PermanentError(errors.New("suspended")), CodeSysPerm},
		"temporary":                    {TemporaryError(errors.New("db down")), CodeSysTemp},
		"an *Error without a kind":     {&Error{Err: errors.New("x")}, CodeSysTemp},
		"unknown errors are temporary": {errors.New("boom"), CodeSysTemp},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, text := errorResponse(tc.err)
			if code != tc.code {
				t.Errorf("code = %q, want %q", code, tc.code)
			}
			if strings.Contains(text, "suspended") || strings.Contains(text, "db down") || strings.Contains(text, "boom") {
				t.Errorf("client text %q leaks the cause", text)
			}
		})
	}
	if !errors.Is(fmt.Errorf("x: %w", &Error{Kind: ErrorInUse, Err: errors.New("held by replica 2")}), ErrInUse) {
		t.Error("an in-use *Error with a cause does not match ErrInUse")
	}
	if errors.Is(PermanentError(errors.New("x")), ErrInvalidCredentials) {
		t.Error("a permanent error matches ErrInvalidCredentials")
	}
}

func TestValidUID(t *testing.T) {
	for uid, want := range map[string]bool{
		"abc":                   true,
		strings.Repeat("x", 70): true,
		strings.Repeat("x", 71): false,
		"":                      false,
		"a b":                   false,
		"a\r\n+OK":              false,
		"\x7f":                  false,
		"!~":                    true,
	} {
		if got := validUID(uid); got != want {
			t.Errorf("validUID(%q) = %v, want %v", uid, got, want)
		}
	}
}

func TestRedactedArgs(t *testing.T) {
	tests := map[string]struct {
		keyword string
		args    []string
		want    string
	}{
		"USER shows the user name":               {"USER", []string{"alice"}, "alice"},
		"PASS is redacted":                       {"PASS", []string{"secret"}, "[redacted]"},
		"AUTH shows the mechanism":               {"AUTH", []string{"PLAIN"}, "PLAIN"},
		"AUTH hides the initial response":        {"AUTH", []string{"PLAIN", "AGFsaWNlAHNlY3JldA=="}, "PLAIN [redacted]"},
		"AUTH hides a credential in place of it": {"AUTH", []string{"AGFsaWNlAHNlY3JldA=="}, "[redacted]"},
		"other commands show their arguments":    {"TOP", []string{"1", "5"}, "1 5"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := redactedArgs(tc.keyword, tc.args); got != tc.want {
				t.Errorf("redactedArgs = %q, want %q", got, tc.want)
			}
		})
	}
}
