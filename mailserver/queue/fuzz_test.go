package queue

import (
	"testing"
)

// FuzzSTSPolicy parses arbitrary policy bodies: no panics, and a policy
// that parses is usable.
func FuzzSTSPolicy(f *testing.F) {
	for _, s := range []string{
		"version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\n",
		"version: STSv1\r\nmode: testing\r\nmx: *.example.net\r\nmax_age: 1\r\n",
		"version: STSv1\nmode: none\nmax_age: 0\n",
		"mode:\n:\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		p, err := parseSTSPolicy(body)
		if err != nil {
			return
		}
		if p.Mode == "" || p.MaxAge < 0 || (p.Mode != STSModeNone && len(p.MX) == 0) {
			t.Fatalf("accepted an unusable policy %+v", p)
		}
		_ = p.Matches("mail.example.com")
	})
}

// FuzzReply parses arbitrary server replies and EHLO extension lists.
