package configsource

import (
	"testing"
)

func TestParseSecretRef(t *testing.T) {
	tests := map[string]struct {
		ref      string
		ns, name string
		wantErr  bool
	}{
		"a namespace and a name are split":    {ref: "mail/mx-config-0", ns: "mail", name: "mx-config-0"},
		"a name without namespace is refused": {ref: "mx-config-0", wantErr: true},
		"an empty name is refused":            {ref: "mail/", wantErr: true},
		"an empty namespace is refused":       {ref: "/mx", wantErr: true},
		"a name with a slash is refused":      {ref: "a/b/c", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns, n, err := ParseSecretRef(tc.ref)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseSecretRef(%q) error %v, want error %v", tc.ref, err, tc.wantErr)
			}
			if ns != tc.ns || n != tc.name {
				t.Errorf("ParseSecretRef(%q) = %q, %q; want %q, %q", tc.ref, ns, n, tc.ns, tc.name)
			}
		})
	}
}
