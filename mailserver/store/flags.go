package store

import (
	"fmt"
	"slices"
	"strings"
)

// SystemFlags is the bitmask of the IMAP system flags a message can carry
// (RFC 9051 §2.3.2). \Recent is session state and is not stored.
type SystemFlags uint8

// The system flags. The values are stored on disk: never renumber them.
const (
	FlagSeen SystemFlags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft

	// AllSystemFlags is every system flag the store keeps.
	AllSystemFlags = FlagSeen | FlagAnswered | FlagFlagged | FlagDeleted | FlagDraft
)

var systemFlagNames = [...]struct {
	flag SystemFlags
	name string
}{
	{FlagSeen, `\Seen`},
	{FlagAnswered, `\Answered`},
	{FlagFlagged, `\Flagged`},
	{FlagDeleted, `\Deleted`},
	{FlagDraft, `\Draft`},
}

// flagRecent is accepted by ParseFlags and dropped: RFC 9051 removed it and
// RFC 3501 §2.3.2 forbids clients to set it.
const flagRecent = `\Recent`

// Flags is the set of flags of a message: system flags as a bitmask plus
// keywords. Keywords are compared case-insensitively; a normalized Flags
// (as returned by the store) holds them sorted, without duplicates.
type Flags struct {
	System   SystemFlags
	Keywords []string
}

// ParseFlags converts IMAP flag names into Flags. System flags are matched
// case-insensitively, \Recent is ignored, any other name starting with a
// backslash is refused, and everything else is a keyword.
func ParseFlags(names []string) (Flags, error) {
	var f Flags
	for _, name := range names {
		if strings.HasPrefix(name, `\`) {
			if strings.EqualFold(name, flagRecent) {
				continue
			}
			sf, ok := systemFlagByName(name)
			if !ok {
				return Flags{}, fmt.Errorf("parsing flag %q: %w", name, ErrInvalidArgument)
			}
			f.System |= sf
			continue
		}
		if err := validKeyword(name); err != nil {
			return Flags{}, fmt.Errorf("parsing flag %q: %w", name, err)
		}
		f.Keywords = append(f.Keywords, name)
	}
	return f.Normalize(), nil
}

func systemFlagByName(name string) (SystemFlags, bool) {
	for _, sf := range systemFlagNames {
		if strings.EqualFold(name, sf.name) {
			return sf.flag, true
		}
	}
	return 0, false
}

// validKeyword refuses keywords that cannot be an IMAP atom; the store's
// encoding relies on keywords holding no space.
func validKeyword(k string) error {
	if k == "" || strings.ContainsAny(k, " \t\r\n(){%*\"\\]") {
		return ErrInvalidArgument
	}
	return nil
}

// Validate reports whether every keyword is a valid IMAP atom.
func (f Flags) Validate() error {
	for _, k := range f.Keywords {
		if err := validKeyword(k); err != nil {
			return fmt.Errorf("checking keyword %q: %w", k, err)
		}
	}
	if f.System&^AllSystemFlags != 0 {
		return fmt.Errorf("checking system flags %#x: %w", uint8(f.System), ErrInvalidArgument)
	}
	return nil
}

// Normalize returns f with its keywords sorted and deduplicated
// case-insensitively (the first spelling is kept).
func (f Flags) Normalize() Flags {
	if len(f.Keywords) == 0 {
		return Flags{System: f.System}
	}
	kw := make([]string, 0, len(f.Keywords))
	for _, k := range f.Keywords {
		if !containsFold(kw, k) {
			kw = append(kw, k)
		}
	}
	slices.SortFunc(kw, compareFold)
	return Flags{System: f.System, Keywords: kw}
}

// Has reports whether every flag in sf is set.
func (f Flags) Has(sf SystemFlags) bool { return f.System&sf == sf }

// HasKeyword reports whether the keyword is set (case-insensitively).
func (f Flags) HasKeyword(k string) bool { return containsFold(f.Keywords, k) }

// Union returns the flags set in f or o, normalized.
func (f Flags) Union(o Flags) Flags {
	kw := make([]string, 0, len(f.Keywords)+len(o.Keywords))
	kw = append(append(kw, f.Keywords...), o.Keywords...)
	return Flags{System: f.System | o.System, Keywords: kw}.Normalize()
}

// Minus returns the flags set in f and not in o, normalized.
func (f Flags) Minus(o Flags) Flags {
	var kw []string
	for _, k := range f.Keywords {
		if !containsFold(o.Keywords, k) {
			kw = append(kw, k)
		}
	}
	return Flags{System: f.System &^ o.System, Keywords: kw}.Normalize()
}

// Equal reports whether f and o hold the same flags.
func (f Flags) Equal(o Flags) bool {
	if f.System != o.System {
		return false
	}
	a, b := f.Normalize().Keywords, o.Normalize().Keywords
	return slices.EqualFunc(a, b, strings.EqualFold)
}

// Strings returns the IMAP names of the flags: system flags first, in a
// fixed order, then the keywords.
func (f Flags) Strings() []string {
	out := make([]string, 0, len(f.Keywords)+5)
	for _, sf := range systemFlagNames {
		if f.System&sf.flag != 0 {
			out = append(out, sf.name)
		}
	}
	return append(out, f.Keywords...)
}

// String formats the flags as an IMAP flag list without parentheses.
func (f Flags) String() string { return strings.Join(f.Strings(), " ") }

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(e string) bool { return strings.EqualFold(e, s) })
}

func compareFold(a, b string) int {
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}
