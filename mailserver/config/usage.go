package config

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The usage report: what each account of a pod takes in its store, which
// the server writes into its status ConfigMap's binaryData under
// StatusUsageKey and the operator reads into each Mailbox's status.used.
//
// The value is gzip (RFC 1952) of UTF-8 text lines, each ending in "\n":
//
//	kubemail-usage/v1 2026-07-01T12:00:00.123456789Z
//	alice@example.com 123456
//	bob@example.com 0
//
// The first line is UsageFormat, one space and the time of the measurement
// (RFC 3339, UTC, with nanoseconds when there are any). Every other line is
// one account: its address, one space and the bytes its messages take, in
// decimal. An address never contains a control character but may contain
// spaces (a quoted local part), so the count is what follows the line's
// last space. EncodeUsage writes the accounts sorted by address, so one
// measurement always encodes to the same bytes.
//
// 10,000 accounts of 30-character addresses with random local parts, the
// worst case for compression, take about 180 KB (420 KB uncompressed, 440
// KB as JSON; TestUsageOfTenThousandAccountsFits measures it), about a
// third of MaxUsageBytes. To read it by hand:
//
//	kubectl get configmap NAME -o jsonpath='{.binaryData.usage}' | base64 -d | gunzip

// UsageFormat is the first word of an encoded usage report; DecodeUsage
// refuses a report of another format, so a later format gets a new name.
const UsageFormat = "kubemail-usage/v1"

// MaxUsageBytes bounds an encoded usage report: half of the 1 MiB a
// ConfigMap may hold, the rest staying free for its other keys.
// EncodeUsage refuses to produce a larger one.
const MaxUsageBytes = 512 << 10

// maxUsageText bounds the text DecodeUsage decompresses, so a small
// hostile value cannot make it allocate without limit. Real reports
// compress two- to threefold; this allows sixty-fold.
const maxUsageText = 32 << 20

// errUsageTooLarge is EncodeUsage's refusal of a report larger than
// MaxUsageBytes.
var errUsageTooLarge = errors.New("more than a status ConfigMap has room for")

// EncodeUsage encodes the bytes used by each account, keyed by address, as
// measured at at, into the value of StatusUsageKey (see the format above).
// It refuses an empty address or one with a control character or invalid
// UTF-8, a negative count, a time RFC 3339 cannot write (a year outside
// 0–9999) and a result larger than MaxUsageBytes.
func EncodeUsage(used map[string]int64, at time.Time) ([]byte, error) {
	stamp, err := usageStamp(at)
	if err != nil {
		return nil, fmt.Errorf("encoding the usage: %w", err)
	}
	var text bytes.Buffer
	text.Grow(len(UsageFormat) + len(stamp) + 2 + 40*len(used))
	text.WriteString(UsageFormat)
	text.WriteByte(' ')
	text.WriteString(stamp)
	text.WriteByte('\n')
	for _, addr := range slices.Sorted(maps.Keys(used)) {
		n := used[addr]
		if err := checkUsageAddress(addr); err != nil {
			return nil, fmt.Errorf("encoding the usage: %w", err)
		}
		if n < 0 {
			return nil, fmt.Errorf("encoding the usage: %q uses %d bytes, a negative count", addr, n)
		}
		text.WriteString(addr)
		text.WriteByte(' ')
		text.WriteString(strconv.FormatInt(n, 10))
		text.WriteByte('\n')
	}

	var out bytes.Buffer
	zw := gzip.NewWriter(&out) // BestCompression saves 1% for twice the time
	if _, err := zw.Write(text.Bytes()); err != nil {
		return nil, fmt.Errorf("encoding the usage: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encoding the usage: %w", err)
	}
	if out.Len() > MaxUsageBytes {
		return nil, fmt.Errorf("encoding the usage: %d accounts take %d bytes, %w (%d)",
			len(used), out.Len(), errUsageTooLarge, MaxUsageBytes)
	}
	return out.Bytes(), nil
}

// DecodeUsage decodes the value of StatusUsageKey written by EncodeUsage:
// the bytes used by each account, keyed by address as the served
// configuration holds it (a Mailbox's canonical address), and the time of
// the measurement, in UTC. It refuses a value that is not gzip, another
// format than UsageFormat, a malformed or duplicate line and a negative
// count. The map is never nil when the error is.
func DecodeUsage(data []byte) (map[string]int64, time.Time, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("decoding the usage: %w", err)
	}
	text, err := io.ReadAll(io.LimitReader(zr, maxUsageText+1))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("decoding the usage: %w", err)
	}
	if len(text) > maxUsageText {
		return nil, time.Time{}, fmt.Errorf("decoding the usage: more than %d bytes once decompressed", maxUsageText)
	}
	used, at, err := decodeUsageText(text)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("decoding the usage: %w", err)
	}
	return used, at, nil
}

// decodeUsageText parses the decompressed text of a usage report.
func decodeUsageText(text []byte) (map[string]int64, time.Time, error) {
	if !utf8.Valid(text) {
		return nil, time.Time{}, errors.New("not UTF-8")
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return nil, time.Time{}, errors.New("the last line does not end in a newline")
	}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, len(text)+1)
	sc.Scan()
	format, stamp, _ := strings.Cut(sc.Text(), " ")
	if format != UsageFormat {
		return nil, time.Time{}, fmt.Errorf("the format is %.40q, want %q", format, UsageFormat)
	}
	at, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("the time of the measurement: %w", err)
	}
	if _, err := usageStamp(at); err != nil { // 0000-01-01T00:00:00+01:00
		return nil, time.Time{}, err
	}
	used := map[string]int64{}
	for line := 2; sc.Scan(); line++ {
		l := sc.Text()
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			return nil, time.Time{}, fmt.Errorf("line %d: no space between address and count", line)
		}
		addr := l[:i]
		if err := checkUsageAddress(addr); err != nil {
			return nil, time.Time{}, fmt.Errorf("line %d: %w", line, err)
		}
		n, err := strconv.ParseInt(l[i+1:], 10, 64)
		if err != nil || n < 0 {
			return nil, time.Time{}, fmt.Errorf("line %d: the count %.24q of %q is not a non-negative integer", line, l[i+1:], addr)
		}
		if _, dup := used[addr]; dup {
			return nil, time.Time{}, fmt.Errorf("line %d: %q is listed twice", line, addr)
		}
		used[addr] = n
	}
	if err := sc.Err(); err != nil {
		return nil, time.Time{}, err
	}
	return used, at.UTC(), nil
}

// usageStamp writes the time of a measurement: RFC 3339 in UTC, which
// cannot write a year outside 0–9999.
func usageStamp(at time.Time) (string, error) {
	stamp := at.UTC().Format(time.RFC3339Nano)
	if _, err := time.Parse(time.RFC3339Nano, stamp); err != nil {
		return "", fmt.Errorf("the time %v cannot be written in RFC 3339 in UTC", at)
	}
	return stamp, nil
}

// checkUsageAddress refuses an address a usage line cannot hold.
func checkUsageAddress(addr string) error {
	if addr == "" {
		return errors.New("an empty address")
	}
	if !utf8.ValidString(addr) {
		return fmt.Errorf("the address %q is not UTF-8", addr)
	}
	if strings.ContainsFunc(addr, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("the address %q has a control character", addr)
	}
	return nil
}
