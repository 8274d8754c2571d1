package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// needleWord is the Subject word that the IMAP search looks for; every needleEvery-th message carries it.
const (
	needleWord  = "needle"
	needleEvery = 100
)

// words fill subjects and bodies. None starts with a dot (so no line needs dot-stuffing) and none
// contains needleWord.
var words = strings.Fields(`alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike
november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu invoice meeting
report quarterly budget review schedule project deadline update weekly summary agenda minutes draft
proposal contract customer support ticket release server network storage backup archive message`)

// messageSpec says what one generated message looks like.
type messageSpec struct {
	seq  int    // position of the message in its mailbox, from 0; decides the Subject word
	from string // header and envelope sender
	to   string // header and envelope recipient
	size int    // exact size in bytes, headers included, CRLF line endings
	run  string // identifies the benchmark run in Message-ID, so reruns never collide
}

// hasNeedle reports whether the message at position seq carries needleWord in its Subject.
func hasNeedle(seq int) bool { return seq%needleEvery == 0 }

// needlesBelow is how many of the messages 0..n-1 carry needleWord.
func needlesBelow(n int) int {
	if n <= 0 {
		return 0
	}
	return (n-1)/needleEvery + 1
}

// buildMessage returns an RFC 5322 message of exactly spec.size bytes (when size leaves room for the
// headers) with CRLF line endings, text lines of at most 78 characters (RFC 5322 §2.1.1) and a body of
// pseudo-random words seeded by seq, so every message differs but a rerun produces the same bytes.
func buildMessage(spec messageSpec) []byte {
	rng := rand.New(rand.NewPCG(uint64(spec.seq), 0x6d61696c62656e63))
	word := needleWord
	if !hasNeedle(spec.seq) {
		word = words[rng.IntN(len(words))]
	}
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(spec.seq) * time.Second)
	var b strings.Builder
	b.Grow(spec.size)
	fmt.Fprintf(&b, "From: Mail Bench <%s>\r\n", spec.from)
	fmt.Fprintf(&b, "To: <%s>\r\n", spec.to)
	fmt.Fprintf(&b, "Subject: mailbench message %d %s\r\n", spec.seq, word)
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s.%d@mailbench.test>\r\n", spec.run, spec.seq)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	// Word lines of at most 76 characters until the last ~90 bytes, then filler lines of exact length.
	for spec.size-b.Len() > 90 {
		var line strings.Builder
		for line.Len() < 66 {
			if line.Len() > 0 {
				line.WriteByte(' ')
			}
			line.WriteString(words[rng.IntN(len(words))])
		}
		b.WriteString(line.String())
		b.WriteString("\r\n")
	}
	if rest := spec.size - b.Len(); rest >= 2 {
		if rest > 78 {
			b.WriteString(strings.Repeat("x", rest/2-2) + "\r\n")
			rest -= rest / 2
		}
		b.WriteString(strings.Repeat("x", rest-2) + "\r\n")
	}
	return []byte(b.String())
}
