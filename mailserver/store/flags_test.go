package store

import (
	"errors"
	"slices"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := map[string]struct {
		in      []string
		want    Flags
		wantErr bool
	}{
		"system flags match in any case": {
			in:   []string{`\SEEN`, `\answered`, `\Flagged`, `\Deleted`, `\Draft`},
			want: Flags{System: AllSystemFlags}},
		"keywords are sorted and deduplicated ignoring case, keeping the first spelling": {
			in:   []string{"Work", "$Forwarded", "work", "$forwarded"},
			want: Flags{Keywords: []string{"$Forwarded", "Work"}}},
		"\\Recent is dropped": {
			in:   []string{`\Recent`, `\Seen`},
			want: Flags{System: FlagSeen}},
		"an unknown system flag is refused": {
			in: []string{`\Important`}, wantErr: true},
		"a keyword that is not an atom is refused": {
			in: []string{"two words"}, wantErr: true},
		"an empty keyword is refused": {
			in: []string{""}, wantErr: true},
		"no flags": {
			in: nil, want: Flags{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseFlags(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("ParseFlags(%q) = %v, %v; want ErrInvalidArgument", tc.in, got, err)
				}
				return
			}
			if err != nil || got.System != tc.want.System || !slices.Equal(got.Keywords, tc.want.Keywords) {
				t.Fatalf("ParseFlags(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestFlagsSetOperations(t *testing.T) {
	a := Flags{System: FlagSeen | FlagFlagged, Keywords: []string{"a", "B"}}
	b := Flags{System: FlagSeen | FlagDraft, Keywords: []string{"b", "c"}}
	tests := map[string]struct {
		got, want Flags
	}{
		"union keeps every flag once":  {a.Union(b), Flags{System: FlagSeen | FlagFlagged | FlagDraft, Keywords: []string{"a", "B", "c"}}},
		"minus removes ignoring case":  {a.Minus(b), Flags{System: FlagFlagged, Keywords: []string{"a"}}},
		"minus of nothing is identity": {a.Minus(Flags{}), a},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !tc.got.Equal(tc.want) || !slices.Equal(tc.got.Keywords, tc.want.Keywords) {
				t.Fatalf("got %+v, want %+v", tc.got, tc.want)
			}
		})
	}
	if !a.Has(FlagSeen|FlagFlagged) || a.Has(FlagSeen|FlagDraft) || !a.HasKeyword("b") || a.HasKeyword("c") {
		t.Fatal("Has/HasKeyword answer wrongly")
	}
	if got := a.String(); got != `\Seen \Flagged a B` {
		t.Fatalf("String() = %q", got)
	}
	if err := (Flags{System: 1 << 7}).Validate(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Validate accepted an unknown system bit: %v", err)
	}
}

func FuzzParseFlags(f *testing.F) {
	f.Add(`\Seen`, "Work", `\Recent`)
	f.Add(`\Draft`, "$Junk", "x")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		flags, err := ParseFlags([]string{a, b, c})
		if err != nil {
			return
		}
		if err := flags.Validate(); err != nil {
			t.Fatalf("ParseFlags returned flags that do not validate: %+v: %v", flags, err)
		}
		again, err := ParseFlags(flags.Strings())
		if err != nil || !again.Equal(flags) {
			t.Fatalf("flags %+v do not survive Strings and ParseFlags: %+v, %v", flags, again, err)
		}
	})
}
