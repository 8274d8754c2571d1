package msgauth

import (
	"bytes"
	"net/mail"
	"strings"
)

// Field is one header field of a message (RFC 5322 §2.2).
type Field struct {
	// Name is the field name as written.
	Name string
	// Raw is the whole field as written, with its folding and final CRLF.
	Raw []byte
}

// Value returns the unfolded value, without the name and colon.
func (f Field) Value() string {
	v := string(f.Raw[len(f.Name)+1:])
	v = strings.ReplaceAll(v, "\r\n", "")
	return strings.TrimSpace(v)
}

// SplitHeader returns the header fields of msg and the offset where the
// body starts (after the empty line; len(msg) when there is none). A line
// without a colon ends the header, as does the empty line.
func SplitHeader(msg []byte) ([]Field, int) {
	var fields []Field
	i := 0
	for i < len(msg) {
		if bytes.HasPrefix(msg[i:], []byte("\r\n")) {
			return fields, i + 2
		}
		end := lineEnd(msg, i)
		// Continuation lines start with WSP (RFC 5322 §2.2.3).
		for end < len(msg) && (msg[end] == ' ' || msg[end] == '\t') {
			end = lineEnd(msg, end)
		}
		colon := bytes.IndexByte(msg[i:end], ':')
		if colon <= 0 {
			return fields, i
		}
		// RFC 5322 §3.6.8 ftext, with the obsolete WSP before the colon.
		name := string(bytes.TrimRight(msg[i:i+colon], " \t"))
		if !validFieldName(name) {
			return fields, i
		}
		fields = append(fields, Field{Name: name, Raw: msg[i:end]})
		i = end
	}
	return fields, len(msg)
}

// validFieldName checks RFC 5322 §3.6.8's ftext: printable ASCII but ":".
func validFieldName(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] < 33 || name[i] > 126 {
			return false
		}
	}
	return name != ""
}

// lineEnd returns the offset after the CRLF (or LF) ending the line at i.
func lineEnd(msg []byte, i int) int {
	j := bytes.IndexByte(msg[i:], '\n')
	if j < 0 {
		return len(msg)
	}
	return i + j + 1
}

// FieldValues returns the unfolded values of every field named name
// (case-insensitive), in order.
func FieldValues(fields []Field, name string) []string {
	var out []string
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value())
		}
	}
	return out
}

// FromDomains returns the domains of the addresses in the From field
// (RFC 5322 §3.6.2), lower case; nil when there is no usable From field.
func FromDomains(fields []Field) []string {
	values := FieldValues(fields, "From")
	if len(values) != 1 {
		return nil
	}
	list, err := (&mail.AddressParser{}).ParseList(values[0])
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range list {
		if i := strings.LastIndexByte(a.Address, '@'); i > 0 {
			out = append(out, strings.ToLower(a.Address[i+1:]))
		}
	}
	return out
}
