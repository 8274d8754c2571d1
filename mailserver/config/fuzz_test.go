package config

import (
	"testing"
)

// FuzzParse feeds arbitrary documents to Parse. It must never panic, and
// whatever it accepts must survive a round trip through its canonical form
// with the same hash, and resolve every configured address without panicking.
// Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		y, err := c.YAML()
		if err != nil {
			t.Fatalf("YAML of an accepted configuration: %v", err)
		}
		again, err := Parse(y)
		if err != nil {
			t.Fatalf("the canonical form of an accepted configuration is refused: %v\n%s", err, y)
		}
		if again.Hash() != c.Hash() {
			t.Fatalf("round trip changed the hash\n%s", y)
		}
		for _, m := range c.Mailboxes {
			if _, err := c.Resolve(m.Address); err != nil {
				t.Fatalf("Resolve(%q) of a configured mailbox: %v", m.Address, err)
			}
			if !c.SenderAllowed(m.Address, m.Address) {
				t.Fatalf("%q may not send as itself", m.Address)
			}
			for _, a := range m.Aliases {
				_, _ = c.Resolve(a)
			}
		}
		for _, a := range c.Aliases {
			_, _ = c.Resolve(a.Address) // may be unknown if every target dangles
		}
	})
}
