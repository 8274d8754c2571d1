package imap

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// sameEnvelope compares envelopes as the wire sees them: dates by instant
// and zone offset (each parse makes its own *time.Location).
func sameEnvelope(a, b *imap.Envelope) bool {
	if a == nil || b == nil {
		return a == b
	}
	_, oa := a.Date.Zone()
	_, ob := b.Date.Zone()
	if !a.Date.Equal(b.Date) || oa != ob || a.Date.IsZero() != b.Date.IsZero() {
		return false
	}
	ca, cb := *a, *b
	ca.Date, cb.Date = time.Time{}, time.Time{}
	return reflect.DeepEqual(ca, cb)
}

// envelopeCases are headers with whether quickEnvelope must handle them
// itself (true) or leave them to the library (false); either way the
// result must be the library's.
var envelopeCases = map[string]struct {
	header string
	quick  bool
}{
	"a typical message with trace and signature fields": {benchMessage(7), true},
	"display names quoted, dotted and in several words": {
		"From: \"Doe, Jane\" <jane@example.org>\r\nTo: J. R. Smith <jrs@example.org>, \"A\" B <ab@example.org>\r\n" +
			"Cc: bare@example.org,  other.name@sub.example.org ,\r\nSubject: hi\r\n\r\n", true},
	"display names with tabs, runs of spaces and empty quoted words": {
		"From: a\t b <x@example.org>, \"\" <y@example.org>, a \"\"  \"b c\"d <z@example.org>\r\n" +
			"To: \"a\"\"b\" <w@example.org>,J.  R. <v@example.org>\r\n\r\n", true},
	"folded fields are unfolded with one space": {
		"Subject: a long\r\n subject\r\n\t  folded\r\nTo: a@example.org,\r\n b@example.org\r\n\r\n", true},
	"field names in any case, first occurrence wins": {
		"SUBJECT: first\r\nsubject: second\r\nfrom: a@example.org\r\nFROM: b@example.org\r\n\r\n", true},
	"bare LF line ends":                             {"From: a@example.org\nSubject: x\nDate: 1 Jan 2024 00:00:00 -0500\n\nbody", true},
	"no empty line: the whole message is header":    {"From: a@example.org\r\nSubject: x", true},
	"an empty message":                              {"", true},
	"an empty header":                               {"\r\nbody", true},
	"In-Reply-To with several identifiers":          {"In-Reply-To: <a@b> <c.d@e.f>\r\nMessage-ID: <x.y@z>\r\n\r\n", true},
	"empty field values":                            {"From:\r\nTo: \r\nSubject:\r\nDate:\r\nMessage-ID:\r\n\r\n", true},
	"an encoded word in the subject":                {"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\n", false},
	"an encoded word in a display name":             {"From: =?utf-8?q?Jos=C3=A9?= <j@example.org>\r\n\r\n", false},
	"a comment in an address":                       {"From: a@example.org (Alice)\r\n\r\n", false},
	"a group":                                       {"To: undisclosed-recipients:;\r\n\r\n", false},
	"an obsolete date with a named zone":            {"Date: Tue, 14 May 2024 10:00:00 GMT\r\n\r\n", false},
	"a date with a trailing comment":                {"Date: Tue, 14 May 2024 10:00:00 +0000 (UTC)\r\n\r\n", false},
	"a malformed date":                              {"Date: yesterday\r\n\r\n", false},
	"a line without a colon stops go-message":       {"Subject: kept\r\nno colon here\r\nFrom: a@example.org\r\n\r\n", false},
	"a field name with a space stops go-message":    {"Subject: kept\r\nBad Name: x\r\nFrom: a@example.org\r\n\r\n", false},
	"a header starting with a continuation line":    {" From: a@example.org\r\n\r\n", false},
	"a lone CR inside a value":                      {"Subject: a\rb\r\n\r\n", false},
	"non-ASCII in a display name":                   {"From: José <j@example.org>\r\n\r\n", false},
	"raw UTF-8 in the subject passes as it is":      {"Subject: café\r\n\r\n", true},
	"an address list with an empty element":         {"To: a@example.org,,b@example.org\r\n\r\n", false},
	"an address with a dot at the end of the local": {"To: a.@example.org\r\n\r\n", false},
	"a display name without an address":             {"To: Just A Name\r\n\r\n", false},
	"a message-id without angle brackets":           {"Message-ID: abc@example.org\r\n\r\n", false},
}

func TestQuickEnvelopeAgreesWithTheLibrary(t *testing.T) {
	for name, tc := range envelopeCases {
		t.Run(name, func(t *testing.T) {
			want := libraryEnvelope([]byte(tc.header))
			got, ok := quickEnvelope([]byte(tc.header))
			if ok != tc.quick {
				t.Fatalf("quickEnvelope handled it: %v, want %v", ok, tc.quick)
			}
			if ok && !sameEnvelope(got, want) {
				t.Fatalf("quickEnvelope\n%+v\nlibrary\n%+v", got, want)
			}
			if env := parseEnvelope([]byte(tc.header)); !sameEnvelope(env, want) {
				t.Fatalf("parseEnvelope\n%+v\nlibrary\n%+v", env, want)
			}
		})
	}
}

// FuzzQuickEnvelope is a differential test: whatever quickEnvelope
// accepts, it must read exactly as go-message and the library do.
func FuzzQuickEnvelope(f *testing.F) {
	for _, tc := range envelopeCases {
		f.Add([]byte(tc.header))
	}
	f.Add([]byte("From: \"a\" <b@c>\r\nTo: d@e, \"f g\" h <i@j>,\r\nDate: 2 Jan 2006 15:04:05 +0100\r\n\r\n"))
	f.Fuzz(func(t *testing.T, header []byte) {
		got, ok := quickEnvelope(header)
		if !ok {
			return
		}
		if want := libraryEnvelope(header); !sameEnvelope(got, want) {
			t.Fatalf("header %q\nquickEnvelope\n%#v\nlibrary\n%#v", header, got, want)
		}
	})
}

func BenchmarkParseEnvelope(b *testing.B) {
	header := []byte(benchMessage(7))
	header = header[:strings.Index(string(header), "\r\n\r\n")+4]
	b.Run("quick", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := quickEnvelope(header); !ok {
				b.Fatal("not handled")
			}
		}
	})
	b.Run("library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			libraryEnvelope(header)
		}
	})
}
