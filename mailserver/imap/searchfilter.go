package imap

import (
	"bytes"
	"encoding/binary"
)

// mayHold is the quick rejection of SEARCH HEADER key value (value
// lower-cased, without spaces): it reports false only when no field named
// key in the raw header section hdr can hold value, so the header need not
// be parsed. textproto.ReadHeader, which messageText uses, makes a field
// of a line and the lines after it that start with a space or a tab, takes
// its name from before the first colon, trimmed of spaces and tabs, and
// joins the lines of its value with spaces; it stops at a malformed line,
// so it finds a subset of the fields found here. A needle without spaces
// found in a value therefore lies on one line of its field, where
// lower-casing maps each rune alike (the lines are cut at ASCII bytes),
// unless the value holds RFC 2047 words ("=?"), which decode to other
// text. Only the fields named key are looked at: a SEARCH HEADER over a
// folder scans each header's lines, not its bytes.
func mayHold(hdr []byte, key, value string) bool {
	for len(hdr) > 0 {
		end := fieldEnd(hdr)
		f := hdr[:end]
		hdr = hdr[end:]
		colon := bytes.IndexByte(f, ':')
		if colon < 0 {
			continue
		}
		// equalFoldASCII (envelope.go) compares names of equal length.
		if name := trimBlanks(f[:colon]); len(name) != len(key) || !equalFoldASCII(name, key) {
			continue
		}
		v := f[colon+1:]
		switch {
		case bytes.Contains(v, []byte("=?")):
			return true
		case isASCII(v) && isASCII([]byte(value)):
			if containsFoldASCII(v, value) {
				return true
			}
		case bytes.Contains(bytes.ToLower(v), []byte(value)):
			return true
		}
	}
	return false
}

// fieldEnd is the length of the field at the start of hdr: its first line
// and the lines after it that start with a space or a tab, with their
// line ends.
func fieldEnd(hdr []byte) int {
	n := 0
	for {
		i := bytes.IndexByte(hdr[n:], '\n')
		if i < 0 {
			return len(hdr)
		}
		n += i + 1
		if n == len(hdr) || (hdr[n] != ' ' && hdr[n] != '\t') {
			return n
		}
	}
}

// trimBlanks trims spaces and tabs, as textproto does around a field name.
func trimBlanks(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// isASCII reports whether b holds only ASCII bytes, eight at a time.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// containsFoldASCII reports whether ASCII s, lower-cased, contains lower,
// an ASCII string already lower-cased, without copying s.
func containsFoldASCII(s []byte, lower string) bool {
	n := len(lower)
	first, firstUp := lower[0], lower[0]
	if 'a' <= first && first <= 'z' {
		firstUp -= 'a' - 'A'
	}
next:
	for i := 0; i+n <= len(s); i++ {
		if s[i] != first && s[i] != firstUp {
			continue
		}
		for j := 1; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				continue next
			}
		}
		return true
	}
	return false
}
