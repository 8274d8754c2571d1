package imap

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"

	"github.com/kubemail/kubemail/mailserver/store"
)

// delimiter is the hierarchy delimiter as the library wants it.
const delimiter = '/'

// Limits on folder names and LIST patterns.
const (
	// MaxFolderNameBytes bounds a folder name (UTF-8).
	MaxFolderNameBytes = 512
	// MaxFolderDepth bounds the hierarchy levels of a folder name.
	MaxFolderDepth = 32
	// maxPatternBytes bounds a LIST pattern after joining the reference.
	maxPatternBytes = 1024
)

// folderName checks a folder name as decoded by the library (modified
// UTF-7, RFC 3501 §5.1.3, or UTF-8 under UTF8=ACCEPT, RFC 6855 §3) and
// returns its stored spelling: "INBOX" in any case becomes "INBOX", also as
// the first level of a hierarchical name (RFC 9051 §5.1). Refused, with a
// tagged NO [CANNOT] that says why: empty names and empty levels (a leading,
// doubled or — unless trailingOK — trailing "/"), "." and ".." levels,
// control characters, invalid UTF-8, the LIST wildcards "*" and "%", and
// names longer than MaxFolderNameBytes or deeper than MaxFolderDepth.
// With trailingOK one trailing "/" is dropped: RFC 9051 §6.3.4 lets CREATE
// name a folder that way.
func folderName(name string, trailingOK bool) (string, error) {
	if trailingOK && len(name) > 1 && strings.HasSuffix(name, store.Delimiter) {
		name = name[:len(name)-1]
	}
	if reason := folderNameProblem(name); reason != "" {
		return "", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
			Text: "Invalid folder name: " + reason}
	}
	first, rest, hasRest := strings.Cut(name, store.Delimiter)
	if strings.EqualFold(first, store.Inbox) {
		name = store.Inbox
		if hasRest {
			name += store.Delimiter + rest
		}
	}
	return name, nil
}

// folderNameProblem returns why name is not a valid folder name, or "".
func folderNameProblem(name string) string {
	switch {
	case name == "":
		return "empty name"
	case len(name) > MaxFolderNameBytes:
		return "name too long"
	case !utf8.ValidString(name):
		return "invalid UTF-8"
	}
	levels := strings.Split(name, store.Delimiter)
	if len(levels) > MaxFolderDepth {
		return "too many hierarchy levels"
	}
	for _, level := range levels {
		switch level {
		case "":
			return "empty hierarchy level (leading, trailing or doubled \"/\")"
		case ".", "..":
			return "\".\" and \"..\" are not allowed as hierarchy levels"
		}
	}
	for _, r := range name {
		switch {
		case unicode.IsControl(r), r == utf8.RuneError:
			return "control characters are not allowed"
		case r == '*' || r == '%':
			return "\"*\" and \"%\" are not allowed"
		}
	}
	return ""
}

// listPattern joins a LIST reference and pattern (RFC 9051 §6.3.9): a
// pattern starting with the delimiter ignores the reference, a reference
// not ending with it gets one. "INBOX" in any case is spelled "INBOX" at
// the start of the result, as folderName does for names.
func listPattern(ref, pattern string) string {
	switch {
	case strings.HasPrefix(pattern, store.Delimiter):
		pattern = pattern[1:]
	case ref != "":
		if !strings.HasSuffix(ref, store.Delimiter) {
			ref += store.Delimiter
		}
		pattern = ref + pattern
	}
	if len(pattern) >= len(store.Inbox) && strings.EqualFold(pattern[:len(store.Inbox)], store.Inbox) &&
		(len(pattern) == len(store.Inbox) || pattern[len(store.Inbox)] == delimiter) {
		pattern = store.Inbox + pattern[len(store.Inbox):]
	}
	return pattern
}

// matchPattern reports whether name matches a LIST pattern, where "*"
// matches any characters and "%" any characters but the delimiter
// (RFC 9051 §6.3.9). It runs in O(len(name)·len(pattern)) time and
// O(len(name)) space, unlike backtracking matchers that a pattern of many
// wildcards makes exponential.
func matchPattern(name, pattern string) bool {
	// cur[j] reports whether pattern[:i] matches name[:j].
	cur := make([]bool, len(name)+1)
	next := make([]bool, len(name)+1)
	cur[0] = true
	for i := 0; i < len(pattern); i++ {
		p := pattern[i]
		clear(next)
		switch p {
		case '*', '%':
			// next[j] = cur[k] for some k <= j with name[k:j] free of the
			// delimiter when p is '%'.
			reach := false
			for j := 0; j <= len(name); j++ {
				if p == '%' && j > 0 && name[j-1] == delimiter {
					reach = false
				}
				reach = reach || cur[j]
				next[j] = reach
			}
		default:
			for j := 1; j <= len(name); j++ {
				next[j] = cur[j-1] && name[j-1] == p
			}
		}
		cur, next = next, cur
	}
	return cur[len(name)]
}
