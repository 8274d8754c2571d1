package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDurationJSON(t *testing.T) {
	cases := map[string]struct {
		in      string
		want    time.Duration
		invalid string
	}{
		"a duration string":           {in: `"1m30s"`, want: 90 * time.Second},
		"null means absent":           {in: `null`},
		"a number is refused":         {in: `30`, invalid: `30 is not a duration string like "30s"`},
		"an unparsable string":        {in: `"soon"`, invalid: `"soon" is not a duration like "30s" or "10m"`},
		"a long bad value is clipped": {in: `[` + strings.Repeat("1,", 50) + `1]`, invalid: `…`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var d Duration
			if err := json.Unmarshal([]byte(tc.in), &d); err != nil {
				t.Fatal(err)
			}
			if d.Duration != tc.want || !strings.Contains(d.invalid, tc.invalid) || (tc.invalid == "") != (d.invalid == "") {
				t.Fatalf("got %v / %q, want %v / %q", d.Duration, d.invalid, tc.want, tc.invalid)
			}
		})
	}
	out, err := json.Marshal(Dur(90 * time.Second))
	if err != nil || string(out) != `"1m30s"` {
		t.Fatalf("Marshal = %s, %v", out, err)
	}
}
