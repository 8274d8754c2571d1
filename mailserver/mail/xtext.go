package mail

import (
	"fmt"
	"strings"
)

// XText encodes a DSN parameter value as xtext (RFC 3461 §4): ENVID and
// ORCPT on the wire, Original-Envelope-Id in a report.
func XText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < '!' || ch > '~' || ch == '+' || ch == '=' {
			fmt.Fprintf(&b, "+%02X", ch)
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}
