package imap

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/kubemail/kubemail/mailserver/store"
)

// maxSearchText bounds the decoded text of one message that SEARCH BODY
// and TEXT look at.
const maxSearchText = 16 << 20

// wordDecoder decodes RFC 2047 encoded words in any charset go-message
// knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// messageText is a message's text as SEARCH sees it, decoded on first use.
type messageText struct {
	body []byte

	hdr       *textproto.Header
	hdrText   *string
	text      *string
	sent      time.Time
	sentValid bool
	sentDone  bool
}

func newMessageText(body []byte) *messageText {
	return &messageText{body: body}
}

func (t *messageText) header() *textproto.Header {
	if t.hdr == nil {
		h := parseHeader(t.body)
		t.hdr = &h
	}
	return t.hdr
}

// headerContains reports whether a field named key holds value (already
// lower-cased) in its raw or decoded form; an empty value matches any
// field of that name (RFC 9051 §6.4.4 HEADER).
func (t *messageText) headerContains(key, value string) bool {
	h := t.header()
	for f := h.FieldsByKey(key); f.Next(); {
		if value == "" {
			return true
		}
		raw := f.Value()
		if strings.Contains(strings.ToLower(raw), value) || strings.Contains(strings.ToLower(decodeWords(raw)), value) {
			return true
		}
	}
	return false
}

// headerText is every field as "Key: decoded value", lower-cased.
func (t *messageText) headerText() string {
	if t.hdrText == nil {
		var sb strings.Builder
		for f := t.header().Fields(); f.Next(); {
			sb.WriteString(f.Key())
			sb.WriteString(": ")
			sb.WriteString(decodeWords(f.Value()))
			sb.WriteByte('\n')
		}
		s := strings.ToLower(sb.String())
		t.hdrText = &s
	}
	return *t.hdrText
}

// bodyText is the decoded text of the message's text parts (or of the
// whole body when it cannot be parsed as MIME), lower-cased.
func (t *messageText) bodyText() string {
	if t.text == nil {
		s := strings.ToLower(decodedText(t.body))
		t.text = &s
	}
	return *t.text
}

// sentDate is the Date header field's date.
func (t *messageText) sentDate() (time.Time, bool) {
	if !t.sentDone {
		t.sentDone = true
		mh := mail.Header{Header: gomessage.Header{Header: *t.header()}}
		d, err := mh.Date()
		t.sent, t.sentValid = d, err == nil && !d.IsZero()
	}
	return t.sent, t.sentValid
}

func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// decodedText extracts the text parts of a message, decoding transfer
// encodings and charsets (go-message's charset package).
func decodedText(body []byte) string {
	var sb strings.Builder
	e, _ := gomessage.Read(bytes.NewReader(body))
	if e == nil { // not even a header: search the raw text
		return string(body[store.HeaderLen(body):])
	}
	_ = e.Walk(func(_ []int, part *gomessage.Entity, _ error) error {
		mt, _, _ := part.Header.ContentType()
		if mt != "" && !strings.HasPrefix(mt, "text/") && mt != "message/rfc822" {
			return nil
		}
		left := maxSearchText - sb.Len()
		if left <= 0 {
			return nil
		}
		// A broken part keeps what could be decoded.
		_, _ = io.Copy(&sb, io.LimitReader(part.Body, int64(left)))
		sb.WriteByte('\n')
		return nil
	})
	return sb.String()
}
