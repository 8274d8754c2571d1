package config

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("30s",
// "10m", "1h30m") in the configuration file. A value that does not parse is
// kept aside and reported by validation with its field path.
type Duration struct {
	time.Duration

	invalid string // what failed to parse, for validation to report
}

// Dur returns a Duration of d, for building configurations in code.
func Dur(d time.Duration) Duration { return Duration{Duration: d} }

// MarshalJSON writes the duration as a string such as "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.Duration.String())
}

// UnmarshalJSON reads a duration string. It never fails: an unusable value
// is remembered and reported by validation, which knows the field's path.
func (d *Duration) UnmarshalJSON(b []byte) error {
	*d = Duration{}
	if string(b) == "null" {
		return nil // absent: the default applies
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		if len(b) > 40 {
			b = append(b[:40:40], "…"...)
		}
		d.invalid = fmt.Sprintf("%s is not a duration string like \"30s\"", b)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.invalid = fmt.Sprintf("%q is not a duration like \"30s\" or \"10m\"", s)
		return nil //nolint:nilerr // reported with its field path by validation
	}
	d.Duration = v
	return nil
}
