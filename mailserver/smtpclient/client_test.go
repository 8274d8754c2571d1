package smtpclient

import (
	"strings"
	"testing"
)

func TestReplyParsing(t *testing.T) {
	cases := map[string]struct {
		code int
		msg  string
		want Reply
	}{
		"an enhanced code":                  {550, "5.1.1 No such user", Reply{550, "5.1.1", "No such user"}},
		"no enhanced code":                  {250, "OK", Reply{250, "", "OK"}},
		"a code of another class is text":   {451, "5.1.1 odd", Reply{451, "", "5.1.1 odd"}},
		"multi-line replies are joined":     {421, "4.7.0 Try\nlater", Reply{421, "4.7.0", "Try later"}},
		"a bare enhanced code":              {250, "2.0.0", Reply{250, "2.0.0", ""}},
		"a malformed enhanced code is text": {550, "5.x.1 text", Reply{550, "", "5.x.1 text"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := ParseReply(tc.code, tc.msg); got != tc.want {
				t.Fatalf("ParseReply = %+v, want %+v", got, tc.want)
			}
		})
	}
	if got := HelloExtensions("mx.test greets you\nPIPELINING\nSIZE 1000\nauth PLAIN LOGIN"); got["SIZE"] != "1000" ||
		got["AUTH"] != "PLAIN LOGIN" || len(got) != 3 {
		t.Fatalf("HelloExtensions = %v", got)
	}
}

func FuzzReply(f *testing.F) {
	for _, s := range []string{"2.0.0 OK", "5.1.1 No such user", "mx greets\nSIZE 10\nAUTH PLAIN", "", "4.", "\n\n"} {
		f.Add(250, s)
		f.Add(550, s)
	}
	f.Fuzz(func(t *testing.T, code int, msg string) {
		r := ParseReply(code, msg)
		if r.Code != code || strings.Contains(r.Text, "\n") {
			t.Fatalf("ParseReply(%d, %q) = %+v", code, msg, r)
		}
		if r.Enhanced != "" && !isEnhancedCode(r.Enhanced, code) {
			t.Fatalf("enhanced code %q for %d", r.Enhanced, code)
		}
		_ = HelloExtensions(msg)
		_ = r.String()
	})
}
