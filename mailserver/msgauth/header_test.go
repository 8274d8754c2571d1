package msgauth

import (
	"bytes"
	"slices"
	"testing"
)

func TestSplitHeader(t *testing.T) {
	msg := []byte("From: A <a@x.test>,\r\n b@y.test\r\nSubject:  hi \r\n\r\nBody: not a field\r\n")
	fields, body := SplitHeader(msg)
	if len(fields) != 2 || fields[0].Name != "From" || fields[1].Value() != "hi" || string(msg[body:]) != "Body: not a field\r\n" {
		t.Fatalf("fields %q, body at %d", fields, body)
	}
	if got := FromDomains(fields); !slices.Equal(got, []string{"x.test", "y.test"}) {
		t.Fatalf("FromDomains = %v", got)
	}
	if got := FromDomains(append(fields, fields[0])); got != nil {
		t.Fatalf("FromDomains with two From fields = %v, want nil", got)
	}
}

// FuzzSplitHeader checks that the fields are contiguous from the start
// and end where the body starts.
func FuzzSplitHeader(f *testing.F) {
	for _, s := range []string{"A: b\r\n\r\nbody", "A: b\r\n c\r\nD:e\r\n", "no colon\r\n\r\n", ": empty name\r\n", "\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		fields, body := SplitHeader(msg)
		if body < 0 || body > len(msg) {
			t.Fatalf("body offset %d outside the message", body)
		}
		var joined []byte
		for _, fl := range fields {
			if fl.Name == "" || len(fl.Raw) <= len(fl.Name) {
				t.Fatalf("field %q", fl.Raw)
			}
			_ = fl.Value()
			joined = append(joined, fl.Raw...)
		}
		if !bytes.HasPrefix(msg, joined) || len(joined) > body {
			t.Fatalf("fields %q are not the start of %q (body at %d)", joined, msg, body)
		}
	})
}
