package imap

import (
	"bytes"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kubemail/kubemail/mailserver/store"
)

// bodySection returns a BODY[section]<partial> of a message (RFC 9051
// §6.4.5). Sections of the top-level message are cut from the stored
// bytes, so BODY[] is exactly the RFC822.SIZE octets the store holds and
// BODY[HEADER] followed by BODY[TEXT] is BODY[]; sections inside MIME parts
// come from the library's parser.
func bodySection(body []byte, item *imap.FetchItemBodySection) []byte {
	if len(item.Part) > 0 {
		return imapserver.ExtractBodySection(bytes.NewReader(body), item)
	}
	end := store.HeaderLen(body)
	var out []byte
	switch item.Specifier {
	case imap.PartSpecifierNone:
		out = body
	case imap.PartSpecifierText:
		out = body[end:]
	case imap.PartSpecifierHeader:
		switch {
		case len(item.HeaderFields) > 0:
			out = filterHeader(body[:end], item.HeaderFields, true)
		case len(item.HeaderFieldsNot) > 0:
			out = filterHeader(body[:end], item.HeaderFieldsNot, false)
		default:
			out = body[:end]
		}
	default:
		// MIME needs a part number; the library's parser says so.
		return imapserver.ExtractBodySection(bytes.NewReader(body), item)
	}
	return partial(out, item.Partial)
}

// partial applies <offset.size> (RFC 9051 §6.4.5): an offset beyond the
// end gives an empty string.
func partial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset < 0 || p.Offset >= int64(len(b)) {
		return []byte{}
	}
	end := int64(len(b))
	if p.Size >= 0 && p.Offset+p.Size < end {
		end = p.Offset + p.Size
	}
	return b[p.Offset:end]
}

// filterHeader keeps (or, with keep false, drops) the header fields named
// in names, compared case-insensitively, with their exact bytes and
// continuation lines, and ends the result with the empty line as RFC 9051
// §6.4.5 requires for HEADER.FIELDS.
func filterHeader(hdr []byte, names []string, keep bool) []byte {
	var out []byte
	include := false
	for len(hdr) > 0 {
		line := hdr
		if i := bytes.IndexByte(hdr, '\n'); i >= 0 {
			line = hdr[:i+1]
		}
		hdr = hdr[len(line):]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // the empty line ending the header
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, _ := bytes.Cut(line, []byte(":"))
			include = keep == containsFold(names, string(bytes.TrimSpace(name)))
		}
		if include {
			out = append(out, line...)
			if !bytes.HasSuffix(line, []byte("\n")) {
				out = append(out, '\r', '\n')
			}
		}
	}
	return append(out, '\r', '\n')
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}
