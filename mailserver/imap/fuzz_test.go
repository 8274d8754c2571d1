package imap

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"

	"github.com/kubemail/kubemail/mailserver/store"
)

// FuzzFolderName checks that every accepted folder name is one the store
// can hold and that cannot escape the account's hierarchy.
func FuzzFolderName(f *testing.F) {
	for _, s := range []string{"INBOX", "inbox/Sub", "a/b/c", "../x", "a//b", "/a", "a/", "Entwürfe", "a\x00b", "a/./b", "*"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, name string, trailingOK bool) {
		got, err := folderName(name, trailingOK)
		if err != nil {
			if !strings.Contains(err.Error(), "NO [CANNOT] Invalid folder name") {
				t.Fatalf("error %q", err)
			}
			return
		}
		if err := store.ValidateFolderName(got); err != nil {
			t.Fatalf("%q accepted as %q, which the store refuses: %v", name, got, err)
		}
		if !utf8.ValidString(got) || len(got) > MaxFolderNameBytes {
			t.Fatalf("%q accepted as %q", name, got)
		}
		for _, level := range strings.Split(got, "/") {
			if level == "" || level == "." || level == ".." {
				t.Fatalf("%q accepted with level %q", name, level)
			}
		}
		for _, r := range got {
			if unicode.IsControl(r) || r == '*' || r == '%' {
				t.Fatalf("%q accepted with %q", name, r)
			}
		}
		if again, err := folderName(got, false); err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q → %q, %v", name, got, again, err)
		}
	})
}

// matchReference is the obvious backtracking matcher, exponential in the
// number of wildcards: the oracle for matchPattern on short inputs.
func matchReference(name, pattern string) bool {
	if pattern == "" {
		return name == ""
	}
	switch pattern[0] {
	case '*', '%':
		for i := 0; i <= len(name); i++ {
			if matchReference(name[i:], pattern[1:]) {
				return true
			}
			if i < len(name) && pattern[0] == '%' && name[i] == '/' {
				return false
			}
		}
		return false
	default:
		return name != "" && name[0] == pattern[0] && matchReference(name[1:], pattern[1:])
	}
}

// FuzzListPattern compares the LIST wildcard matcher with the oracle.
func FuzzListPattern(f *testing.F) {
	for _, s := range [][2]string{{"INBOX", "*"}, {"a/b/c", "a/%"}, {"a/b/c", "a/%/c"}, {"a/b", "%"},
		{"Lists/go", "*go"}, {"abc", "a%c"}, {"a/c", "a%c"}, {"", "%"}, {"x", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, pattern string) {
		if len(name) > 40 || len(pattern) > 12 {
			return
		}
		if got, want := matchPattern(name, pattern), matchReference(name, pattern); got != want {
			t.Fatalf("matchPattern(%q, %q) = %v, want %v", name, pattern, got, want)
		}
	})
}

// FuzzBodySection checks BODY[section]<partial> on arbitrary messages:
// HEADER and TEXT split BODY[] exactly, partial ranges are substrings, and
// part paths never panic.
func FuzzBodySection(f *testing.F) {
	f.Add([]byte(plainMessage), "subject", uint8(1), int64(3), int64(10))
	f.Add([]byte(multipartMessage), "content-type", uint8(2), int64(0), int64(-1))
	f.Add([]byte("no header at all"), "", uint8(0), int64(100), int64(1))
	f.Add([]byte("\r\nbody only"), "x", uint8(3), int64(0), int64(0))
	f.Add([]byte("A: 1\n B: folded\nA: 2\n\nbody"), "a", uint8(1), int64(1), int64(2))
	f.Fuzz(func(t *testing.T, body []byte, field string, part uint8, offset, size int64) {
		whole := bodySection(body, &imap.FetchItemBodySection{})
		header := bodySection(body, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader})
		text := bodySection(body, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText})
		if !bytes.Equal(whole, body) || !bytes.Equal(append(bytes.Clone(header), text...), body) {
			t.Fatalf("HEADER %q + TEXT %q != BODY[] %q", header, text, body)
		}
		fields := bodySection(body, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{field}})
		if !bytes.HasSuffix(fields, []byte("\r\n")) || len(fields) > len(header)+4 {
			t.Fatalf("HEADER.FIELDS (%q) of %q: %q", field, header, fields)
		}
		p := bodySection(body, &imap.FetchItemBodySection{Partial: &imap.SectionPartial{Offset: offset, Size: size}})
		if !bytes.Contains(body, p) {
			t.Fatalf("partial <%d.%d> %q is not part of the body", offset, size, p)
		}
		for _, spec := range []imap.PartSpecifier{imap.PartSpecifierNone, imap.PartSpecifierHeader, imap.PartSpecifierText, imap.PartSpecifierMIME} {
			bodySection(body, &imap.FetchItemBodySection{Part: []int{int(part%4) + 1, int(part / 64)}, Specifier: spec})
		}
		parseEnvelope(body)
	})
}

// FuzzSearchCriteria builds SEARCH programs from bytes and checks the
// evaluator's logic on arbitrary messages: NOT inverts, OR of a criterion
// with itself is the criterion, and nothing panics.
func FuzzSearchCriteria(f *testing.F) {
	f.Add([]byte(plainMessage), []byte{0, 1, 2, 3})
	f.Add([]byte(multipartMessage), []byte{5, 9, 7, 200, 3})
	f.Add([]byte("Subject: x\r\n\r\n"), []byte{4, 4, 4, 8})
	f.Fuzz(func(t *testing.T, body, program []byte) {
		m := &mailbox{uids: newUIDList([]store.UID{3, 5, 9})}
		msg := &fetched{target: target{seq: 2, uid: 5}, meta: store.MessageMeta{
			UID: 5, Size: int64(len(body)), Flags: store.Flags{System: store.FlagSeen, Keywords: []string{"$Work"}},
			InternalDate: time.Date(2024, 5, 14, 23, 30, 0, 0, time.FixedZone("", -7*3600)),
		}}
		crit := criteriaFromBytes(program, 0)
		eval := func(c *imap.SearchCriteria) bool {
			compiled, err := compileCriteria(m, c, 0)
			if err != nil {
				t.Fatal(err)
			}
			cand := &candidate{msg: msg, load: func(store.UID) ([]byte, error) { return body, nil }}
			return compiled.match(cand)
		}
		got := eval(crit)
		if not := eval(&imap.SearchCriteria{Not: []imap.SearchCriteria{*crit}}); not == got {
			t.Fatalf("NOT did not invert %+v", crit)
		}
		if or := eval(&imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{*crit, *crit}}}); or != got {
			t.Fatalf("OR with itself changed %+v", crit)
		}
	})
}

// criteriaFromBytes decodes a small SEARCH program, one criterion per byte.
func criteriaFromBytes(p []byte, depth int) *imap.SearchCriteria {
	c := &imap.SearchCriteria{}
	words := []string{"alice", "bob", "grüße", "köln", "quarterly", "", "x"}
	for i := 0; i < len(p) && i < 8; i++ {
		b := p[i]
		w := words[int(b>>4)%len(words)]
		switch b % 12 {
		case 0:
			c.Flag = append(c.Flag, imap.FlagSeen)
		case 1:
			c.NotFlag = append(c.NotFlag, imap.Flag("$work"))
		case 2:
			c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: "From", Value: w})
		case 3:
			c.Body = append(c.Body, w)
		case 4:
			c.Text = append(c.Text, w)
		case 5:
			c.Since = time.Date(2024, 5, 14, 0, 0, 0, 0, time.UTC)
		case 6:
			c.SentBefore = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
		case 7:
			c.Larger = int64(b) * 4
		case 8:
			var set imap.SeqSet
			set.AddRange(uint32(b%4), 0)
			c.SeqNum = append(c.SeqNum, set)
		case 9:
			var set imap.UIDSet
			set.AddNum(imap.UID(binary.BigEndian.Uint16([]byte{b, b}) % 11))
			c.UID = append(c.UID, set)
		case 10:
			if depth < 4 {
				c.Not = append(c.Not, *criteriaFromBytes(p[i+1:], depth+1))
			}
		case 11:
			if depth < 4 {
				c.Or = append(c.Or, [2]imap.SearchCriteria{*criteriaFromBytes(p[i+1:], depth+1), *criteriaFromBytes(p[min(i+2, len(p)):], depth+1)})
			}
		}
	}
	return c
}

// FuzzResolve checks sequence-set and UID-set resolution against a view.
func FuzzResolve(f *testing.F) {
	f.Add([]byte{1, 3, 4, 9, 10}, uint32(1), uint32(0), true)
	f.Add([]byte{2, 5}, uint32(3), uint32(1), false)
	f.Add([]byte{}, uint32(0), uint32(0), true)
	f.Fuzz(func(t *testing.T, gaps []byte, start, stop uint32, uid bool) {
		// Each byte is a gap and a run of UIDs long enough to cross the
		// view's blocks.
		var uids []store.UID
		var u store.UID
		for _, g := range gaps {
			u += store.UID(g % 7)
			for range int(g)*3 + 1 {
				u++
				uids = append(uids, u)
			}
		}
		m := &mailbox{uids: newUIDList(slices.Clone(uids))}
		var targets []target
		if uid {
			var set imap.UIDSet
			set.AddRange(imap.UID(start), imap.UID(stop))
			targets = m.resolve(set)
		} else {
			var set imap.SeqSet
			set.AddRange(start, stop)
			targets = m.resolve(set)
		}
		for i, tg := range targets {
			if tg.seq == 0 || int(tg.seq) > len(uids) || uids[tg.seq-1] != tg.uid {
				t.Fatalf("target %+v does not match the view %v", tg, uids)
			}
			if i > 0 && tg.seq <= targets[i-1].seq {
				t.Fatalf("targets not ascending: %+v", targets)
			}
		}
		set := storeSet(targets)
		n := 0
		for _, u := range uids {
			if set.Contains(u) {
				n++
			}
		}
		if n != len(targets) {
			t.Fatalf("store set %v holds %d view messages, want %d", set, n, len(targets))
		}
	})
}
