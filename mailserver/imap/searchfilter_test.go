package imap

import (
	"testing"
)

// TestHeaderQuickRejection checks that mayHold looks only at the fields
// named; FuzzHeaderContains checks it against the full match.
func TestHeaderQuickRejection(t *testing.T) {
	hdr := []byte("From: Quarterly <q@example.org>\r\nSubject: Message about\r\n\tthe Quarterly numbers\r\nX-Subject: needle\r\n\r\n")
	tests := map[string]struct {
		key, needle string
		want        bool
	}{
		"a word on a continuation line of the field":   {"Subject", "quarterly", true},
		"the field name in another case":               {"SUBJECT", "numbers", true},
		"a word only in another field":                 {"Subject", "needle", false},
		"a word only in the field's name":              {"Subject", "subject", false},
		"a field whose name ends like the one wanted":  {"Subject", "x-subject", false},
		"a field that is not there":                    {"Cc", "quarterly", false},
		"a word in the field named like a later field": {"X-Subject", "needle", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := mayHold(hdr, tc.key, tc.needle); got != tc.want {
				t.Fatalf("mayHold(%q, %q) = %v, want %v", tc.key, tc.needle, got, tc.want)
			}
		})
	}
}
