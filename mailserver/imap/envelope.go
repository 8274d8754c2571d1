package imap

import (
	"bytes"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// parseEnvelope builds the ENVELOPE (RFC 9051 §7.5.2) from a message's
// header (the rest of the body, if given, is ignored). The result is the
// library's imapserver.ExtractEnvelope of the header as go-message parses
// it; quickEnvelope computes the same for the header shapes nearly all mail
// has, about ten times faster, and everything else goes the library's way.
// FuzzQuickEnvelope checks that both always agree.
func parseEnvelope(body []byte) *imap.Envelope {
	if env, ok := quickEnvelope(body); ok {
		return env
	}
	return libraryEnvelope(body)
}

// libraryEnvelope is the reference: go-message's header parser and the
// library's envelope extraction.
func libraryEnvelope(body []byte) *imap.Envelope {
	return imapserver.ExtractEnvelope(parseHeader(body))
}

// The header fields an ENVELOPE is made of, in envelopeFields order.
const (
	fieldDate = iota
	fieldSubject
	fieldFrom
	fieldSender
	fieldReplyTo
	fieldTo
	fieldCc
	fieldBcc
	fieldInReplyTo
	fieldMessageID
	numEnvelopeFields
)

var envelopeFields = [numEnvelopeFields]string{
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "In-Reply-To", "Message-Id",
}

// quickEnvelope is parseEnvelope for headers it can read exactly as the
// library does; ok is false for anything else. It scans the header once,
// keeps the first occurrence of each ENVELOPE field unfolded as go-message
// does (each physical line trimmed of spaces and tabs, joined by one
// space), and refuses what go-message treats specially: a first line that
// is a continuation, a line without a colon or with a malformed field name
// (go-message stops reading there), and a CR not followed by LF.
func quickEnvelope(body []byte) (*imap.Envelope, bool) {
	// The scan ends at the empty line, where store.HeaderLen does.
	hdr := body
	if len(hdr) > 0 && isWSP(hdr[0]) {
		return nil, false
	}
	// The values are unfolded into one buffer, which becomes one string.
	var scratch [1024]byte
	buf := scratch[:0]
	var spans [numEnvelopeFields][2]int
	var seen [numEnvelopeFields]bool
	for i := 0; i < len(hdr); {
		lineEnd := indexByteFrom(hdr, i, '\n')
		line := hdr[i:lineEnd]
		if cr := bytes.IndexByte(line, '\r'); cr >= 0 && cr != len(line)-1 || cr >= 0 && lineEnd == len(hdr) {
			return nil, false // a CR that does not end the line
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // the empty line ending the header
		}
		// The field goes on over the lines that start with a space or tab.
		end := min(lineEnd+1, len(hdr))
		for end < len(hdr) && isWSP(hdr[end]) {
			next := indexByteFrom(hdr, end, '\n')
			if cr := bytes.IndexByte(hdr[end:next], '\r'); cr >= 0 && end+cr != next-1 || cr >= 0 && next == len(hdr) {
				return nil, false
			}
			end = min(next+1, len(hdr))
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return nil, false
		}
		name := trimWSP(line[:colon])
		for _, c := range name {
			if c < '!' || c > '~' {
				return nil, false
			}
		}
		if k := envelopeField(name); k >= 0 && !seen[k] {
			seen[k] = true
			start := len(buf)
			buf = appendUnfolded(buf, hdr[i+colon+1:end])
			spans[k] = [2]int{start, len(buf)}
		}
		i = end
	}
	all := string(buf)
	var values [numEnvelopeFields]string
	for k, sp := range spans {
		values[k] = all[sp[0]:sp[1]]
	}
	return envelopeOf(&values)
}

// envelopeOf parses the fields' values; ok is false when one of them needs
// the library.
func envelopeOf(v *[numEnvelopeFields]string) (*imap.Envelope, bool) {
	env := &imap.Envelope{}
	var ok bool
	if env.Date, ok = quickDate(v[fieldDate]); !ok {
		return nil, false
	}
	if strings.Contains(v[fieldSubject], "=?") {
		return nil, false // RFC 2047 encoded words
	}
	env.Subject = v[fieldSubject]
	// The address lists share one array, allocated at its final size.
	lists := [...]struct {
		field int
		dst   *[]imap.Address
	}{
		{fieldFrom, &env.From}, {fieldSender, &env.Sender}, {fieldReplyTo, &env.ReplyTo},
		{fieldTo, &env.To}, {fieldCc, &env.Cc}, {fieldBcc, &env.Bcc},
	}
	var scratch [16]imap.Address
	addrs := scratch[:0]
	var ends [len(lists)]int
	for i, l := range lists {
		if addrs, ok = appendAddressList(addrs, v[l.field]); !ok {
			return nil, false
		}
		ends[i] = len(addrs)
	}
	if len(addrs) > 0 {
		all := make([]imap.Address, len(addrs))
		copy(all, addrs)
		start := 0
		for i, l := range lists {
			if ends[i] > start {
				*l.dst = all[start:ends[i]:ends[i]]
			}
			start = ends[i]
		}
	}
	if env.InReplyTo, ok = quickMsgIDList(v[fieldInReplyTo]); !ok {
		return nil, false
	}
	if v[fieldMessageID] != "" {
		id, rest, ok := quickMsgID(v[fieldMessageID])
		if !ok || rest != "" {
			return nil, false
		}
		env.MessageID = id
	}
	return env, true
}

// envelopeField returns the index of an ENVELOPE field name (any case), or
// -1.
func envelopeField(name []byte) int {
	for k, f := range envelopeFields {
		if len(f) == len(name) && equalFoldASCII(name, f) {
			return k
		}
	}
	return -1
}

func equalFoldASCII(b []byte, s string) bool {
	for i := range b {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// appendUnfolded appends a field value unfolded as go-message does: each
// physical line without its line end, trimmed of spaces and tabs, empty
// ones left out, joined by one space.
func appendUnfolded(dst, v []byte) []byte {
	start := len(dst)
	for len(v) > 0 {
		line := v
		if i := bytes.IndexByte(v, '\n'); i >= 0 {
			line, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		line = trimWSP(bytes.TrimSuffix(line, []byte("\r")))
		if len(line) == 0 {
			continue
		}
		if len(dst) > start {
			dst = append(dst, ' ')
		}
		dst = append(dst, line...)
	}
	return dst
}

func indexByteFrom(b []byte, from int, c byte) int {
	if i := bytes.IndexByte(b[from:], c); i >= 0 {
		return from + i
	}
	return len(b)
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// The layouts net/mail.ParseDate tries first for a date with and without
// the day of the week (RFC 5322 §3.3).
const (
	dateLayoutDay   = "Mon, 2 Jan 2006 15:04:05 -0700"
	dateLayoutNoDay = "2 Jan 2006 15:04:05 -0700"
)

// quickDate parses a Date field as go-message (net/mail.ParseDate) does,
// for the RFC 5322 form with a numeric zone and nothing after it. ParseDate
// tries its layouts in order and the first that parses wins: a date that
// starts with a digit matches its very first layout or none of the few
// quickDate knows, one that starts with a letter can only match the layouts
// with a day of the week, of which dateLayoutDay is the first.
func quickDate(v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, true
	}
	if i := strings.IndexAny(v, "+-"); i < 0 || i+5 != len(v) {
		return time.Time{}, false
	}
	layout := dateLayoutNoDay
	if c := v[0]; c < '0' || c > '9' {
		layout = dateLayoutDay
	}
	t, err := time.Parse(layout, v)
	return t, err == nil
}

// appendAddressList appends an address list parsed as go-message
// (net/mail) does, for lists of "addr-spec" and "phrase <addr-spec>" in
// printable ASCII with no comment, group, escape, domain literal, encoded
// word or empty element; ok is false for anything else.
func appendAddressList(dst []imap.Address, v string) (_ []imap.Address, ok bool) {
	if v == "" {
		return dst, true
	}
	for i := 0; i < len(v); i++ {
		if !addressByte[v[i]] {
			return nil, false
		}
	}
	if strings.Contains(v, "=?") {
		return nil, false
	}
	p := v
	for {
		p = trimLeftWSP(p)
		if p == "" || p[0] == ',' {
			return nil, false
		}
		addr, rest, ok := quickAddress(p)
		if !ok {
			return nil, false
		}
		dst = append(dst, addr)
		p = trimLeftWSP(rest)
		if p == "" {
			return dst, true
		}
		if p[0] != ',' {
			return nil, false
		}
		if p = trimLeftWSP(p[1:]); p == "" {
			return dst, true // a trailing comma, as net/mail allows
		}
	}
}

// quickAddress parses one address at the start of p. Like net/mail it
// first tries a bare addr-spec, then a display name and an angle address.
func quickAddress(p string) (addr imap.Address, rest string, ok bool) {
	if j := atextRun(p); j < len(p) && p[j] == '@' {
		mailbox, host, rest, ok := quickAddrSpec(p)
		return imap.Address{Mailbox: mailbox, Host: host}, rest, ok
	}
	phrase := p
	for p != "" && p[0] != '<' {
		if _, p, ok = nextWord(p); !ok {
			return addr, "", false
		}
		p = trimLeftWSP(p)
	}
	if p == "" {
		return addr, "", false // a display name without an address
	}
	mailbox, host, rest, ok := quickAddrSpec(p[1:])
	if !ok || rest == "" || rest[0] != '>' {
		return addr, "", false
	}
	return imap.Address{Name: joinPhrase(phrase[:len(phrase)-len(p)]), Mailbox: mailbox, Host: host}, rest[1:], true
}

// nextWord returns the word (atom, or quoted string without its quotes) at
// the start of p.
func nextWord(p string) (word, rest string, ok bool) {
	if p[0] == '"' {
		end := strings.IndexByte(p[1:], '"')
		if end < 0 {
			return "", "", false
		}
		return p[1 : 1+end], p[end+2:], true
	}
	j := atextRun(p)
	return p[:j], p[j:], j > 0
}

// joinPhrase returns the words of a display name (checked by quickAddress)
// joined by one space, as net/mail does: a substring when they are atoms
// separated by single spaces already.
func joinPhrase(phrase string) string {
	phrase = strings.TrimRight(phrase, " \t")
	if !strings.ContainsAny(phrase, "\"\t") && !strings.Contains(phrase, "  ") {
		return phrase
	}
	var sb strings.Builder
	for p := phrase; p != ""; p = trimLeftWSP(p) {
		word, rest, _ := nextWord(p)
		if p != phrase {
			sb.WriteByte(' ')
		}
		sb.WriteString(word)
		p = rest
	}
	return sb.String()
}

// quickAddrSpec parses "local@domain" at the start of p, both dot-atoms
// with no leading, trailing or double dot.
func quickAddrSpec(p string) (mailbox, host, rest string, ok bool) {
	j := atextRun(p)
	if j == len(p) || p[j] != '@' || !dotAtom(p[:j]) {
		return "", "", "", false
	}
	k := j + 1 + atextRun(p[j+1:])
	if !dotAtom(p[j+1 : k]) {
		return "", "", "", false
	}
	return p[:j], p[j+1 : k], p[k:], true
}

// atextRun returns the length of the run of atext and dots (RFC 5322
// §3.2.3) at the start of p, in ASCII.
func atextRun(p string) int {
	for i := 0; i < len(p); i++ {
		if !atextByte[p[i]] {
			return i
		}
	}
	return len(p)
}

func dotAtom(s string) bool {
	return s != "" && s[0] != '.' && s[len(s)-1] != '.' && !strings.Contains(s, "..")
}

// quickMsgIDList parses In-Reply-To as go-message does, for "<left@right>"
// identifiers of printable ASCII separated by spaces.
func quickMsgIDList(v string) ([]string, bool) {
	if v == "" {
		return nil, true
	}
	var out []string
	for p := v; p != ""; p = trimLeftWSP(p) {
		id, rest, ok := quickMsgID(p)
		if !ok {
			return nil, false
		}
		out, p = append(out, id), rest
	}
	return out, true
}

// quickMsgID parses the "<left@right>" at the start of p (RFC 5322 §3.6.4)
// and returns it without the brackets, as go-message does.
func quickMsgID(p string) (id, rest string, ok bool) {
	if p == "" || p[0] != '<' {
		return "", "", false
	}
	end := strings.IndexByte(p, '>')
	if end < 0 {
		return "", "", false
	}
	id = p[1:end]
	at := strings.IndexByte(id, '@')
	if at <= 0 || at == len(id)-1 {
		return "", "", false
	}
	for i := 0; i < len(id); i++ {
		if !atextByte[id[i]] && i != at {
			return "", "", false
		}
	}
	return id, p[end+1:], true
}

// atextByte holds the ASCII atext characters and the dot (RFC 5322
// §3.2.3); addressByte the characters quickAddressList accepts at all:
// printable ASCII and tab, without comments, escapes, groups and domain
// literals.
var atextByte, addressByte = byteClasses()

func byteClasses() (atext, address [256]bool) {
	for c := byte('!'); c <= '~'; c++ {
		atext[c] = strings.IndexByte(`()<>[]:;@\,"`, c) < 0
		address[c] = strings.IndexByte(`()\:;[]`, c) < 0
	}
	address[' '], address['\t'] = true, true
	return atext, address
}

func trimLeftWSP(s string) string {
	for s != "" && isWSP(s[0]) {
		s = s[1:]
	}
	return s
}

func trimWSP(b []byte) []byte {
	for len(b) > 0 && isWSP(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isWSP(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
