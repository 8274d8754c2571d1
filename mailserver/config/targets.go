package config

import (
	"encoding/json"
	"reflect"
)

// Targets is a list of addresses that the configuration file may write as
// one string when it holds one ("catchAll: postmaster@example.com") or as a
// list.
type Targets []string

// MarshalJSON writes one address as a string (as configurations written
// before lists were allowed, so their hashes stay the same), several as a
// list.
func (t Targets) MarshalJSON() ([]byte, error) {
	if len(t) == 1 {
		return json.Marshal(t[0])
	}
	return json.Marshal([]string(t))
}

// UnmarshalJSON reads a string or a list of strings.
func (t *Targets) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*t = Targets{one}
		if one == "" {
			*t = nil // as before lists: an empty string is none
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return &json.UnmarshalTypeError{Value: "a value that is neither an address nor a list of them", Type: reflect.TypeFor[Targets]()}
	}
	*t = list
	return nil
}
