package config

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestUsageRoundTrip(t *testing.T) {
	at := time.Date(2026, 7, 1, 12, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	tests := map[string]map[string]int64{
		"no account":                             {},
		"one empty account":                      {"alice@example.com": 0},
		"several accounts, in any order":         {"zed@b.example": 5, "alice@a.example": 1 << 40, "bob@a.example": 7},
		"the largest count":                      {"big@example.com": math.MaxInt64},
		"an address with spaces (a quoted part)": {`"john  doe "@example.com`: 12, "x y@z": 3},
		"an internationalized address":           {"jörg@bücher.example": 42, "用户@例子.广告": 1},
	}
	for name, used := range tests {
		t.Run(name, func(t *testing.T) {
			enc, err := EncodeUsage(used, at)
			if err != nil {
				t.Fatal(err)
			}
			again, err := EncodeUsage(maps.Clone(used), at)
			if err != nil || !bytes.Equal(enc, again) {
				t.Errorf("the same measurement encodes to different bytes (%v)", err)
			}
			got, gotAt, err := DecodeUsage(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, used) || got == nil {
				t.Errorf("decoded %v, want %v", got, used)
			}
			if !gotAt.Equal(at) || gotAt.Location() != time.UTC {
				t.Errorf("decoded the time %v, want %v in UTC", gotAt, at)
			}
		})
	}
}

func TestUsageTextIsTheDocumentedFormat(t *testing.T) {
	enc, err := EncodeUsage(map[string]int64{"bob@example.com": 0, "alice@example.com": 123456},
		time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	const want = "kubemail-usage/v1 2026-07-01T12:00:00Z\nalice@example.com 123456\nbob@example.com 0\n"
	if got := gunzip(t, enc); got != want {
		t.Errorf("encoded text\n%s\nwant\n%s", got, want)
	}
}

func TestEncodeUsageRefuses(t *testing.T) {
	now := time.Now()
	tests := map[string]struct {
		used map[string]int64
		at   time.Time
	}{
		"an empty address":                {map[string]int64{"": 1}, now},
		"an address with a newline":       {map[string]int64{"a\nb@example.com 5": 1}, now},
		"an address with a carriage ret.": {map[string]int64{"a@example.com\r": 1}, now},
		"an address with a tab":           {map[string]int64{"a\t@example.com": 1}, now},
		"an address that is not UTF-8":    {map[string]int64{"a\xff@example.com": 1}, now},
		"a negative count":                {map[string]int64{"a@example.com": -1}, now},
		"a year RFC 3339 cannot write":    {map[string]int64{"a@example.com": 1}, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if enc, err := EncodeUsage(tc.used, tc.at); err == nil {
				t.Errorf("EncodeUsage accepted it: %q", gunzip(t, enc))
			}
		})
	}
}

func TestDecodeUsageRefuses(t *testing.T) {
	tests := map[string]string{
		"an empty text":                 "",
		"another format":                "kubemail-usage/v2 2026-07-01T12:00:00Z\n",
		"no time":                       "kubemail-usage/v1\n",
		"a malformed time":              "kubemail-usage/v1 yesterday\n",
		"a time before year 0 in UTC":   "kubemail-usage/v1 0000-01-01T00:00:00+01:00\n",
		"a last line without a newline": "kubemail-usage/v1 2026-07-01T12:00:00Z\na@example.com 1",
		"a line without a count":        "kubemail-usage/v1 2026-07-01T12:00:00Z\na@example.com\n",
		"an empty line":                 "kubemail-usage/v1 2026-07-01T12:00:00Z\n\n",
		"an empty address":              "kubemail-usage/v1 2026-07-01T12:00:00Z\n 5\n",
		"an empty count":                "kubemail-usage/v1 2026-07-01T12:00:00Z\na@example.com \n",
		"a negative count":              "kubemail-usage/v1 2026-07-01T12:00:00Z\na@example.com -5\n",
		"a count too large for int64":   "kubemail-usage/v1 2026-07-01T12:00:00Z\na@example.com 9223372036854775808\n",
		"a count that is not a number":  "kubemail-usage/v1 2026-07-01T12:00:00Z\na@example.com 5k\n",
		"an address listed twice":       "kubemail-usage/v1 2026-07-01T12:00:00Z\na@example.com 5\na@example.com 6\n",
		"a control character":           "kubemail-usage/v1 2026-07-01T12:00:00Z\na\x00@example.com 5\n",
		"text that is not UTF-8":        "kubemail-usage/v1 2026-07-01T12:00:00Z\na\xff@example.com 5\n",
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			if used, _, err := DecodeUsage(gzipped(t, []byte(text))); err == nil {
				t.Errorf("DecodeUsage accepted it: %v", used)
			}
		})
	}
	t.Run("a value that is not gzip", func(t *testing.T) {
		if _, _, err := DecodeUsage([]byte("kubemail-usage/v1 2026-07-01T12:00:00Z\n")); err == nil {
			t.Error("DecodeUsage accepted uncompressed text")
		}
	})
	t.Run("a corrupt gzip stream", func(t *testing.T) {
		enc, err := EncodeUsage(map[string]int64{"a@example.com": 1}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		enc[len(enc)-5] ^= 0xff // the CRC-32 of the text
		if _, _, err := DecodeUsage(enc); err == nil {
			t.Error("DecodeUsage accepted a stream whose checksum does not match")
		}
	})
	t.Run("a value that decompresses without bound", func(t *testing.T) {
		text := make([]byte, maxUsageText+1)
		copy(text, "kubemail-usage/v1 2026-07-01T12:00:00Z\n")
		if _, _, err := DecodeUsage(gzipped(t, text)); err == nil || !strings.Contains(err.Error(), "decompressed") {
			t.Errorf("DecodeUsage of a %d MiB text: %v, want a refusal of its size", len(text)>>20, err)
		}
	})
}

// tenThousandAccounts is 10,000 addresses of 30 characters, random local
// parts (the worst case for compression) in a handful of domains, each
// using a random count of bytes up to 10 GiB.
func tenThousandAccounts() map[string]int64 {
	r := rand.New(rand.NewPCG(1, 2))
	domains := []string{"example.com", "mail.example.org", "corp.example.net", "example.co.uk", "shop.example.de"}
	used := make(map[string]int64, 10000)
	for len(used) < 10000 {
		domain := domains[r.IntN(len(domains))]
		local := make([]byte, 29-len(domain))
		for i := range local {
			local[i] = "abcdefghijklmnopqrstuvwxyz0123456789._-"[r.IntN(39)]
		}
		used[string(local)+"@"+domain] = r.Int64N(10 << 30)
	}
	return used
}

func TestUsageOfTenThousandAccountsFits(t *testing.T) {
	used := tenThousandAccounts()
	enc, err := EncodeUsage(used, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	plain := len(gunzip(t, enc))
	js, err := json.Marshal(used)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("10,000 accounts of 30-character addresses: %d bytes encoded (%d as plain lines, %d as JSON); the limit is %d",
		len(enc), plain, len(js), MaxUsageBytes)
	// Random local parts barely compress (real names do better); still
	// half of the limit leaves room for twice as many accounts.
	if len(enc) > MaxUsageBytes/2 {
		t.Errorf("10,000 accounts take %d bytes, more than half of MaxUsageBytes (%d)", len(enc), MaxUsageBytes)
	}
	got, _, err := DecodeUsage(enc)
	if err != nil || !maps.Equal(got, used) {
		t.Errorf("the 10,000 accounts do not round-trip: %v", err)
	}
}

func TestEncodeUsageRefusesMoreThanAConfigMapHolds(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	used := make(map[string]int64, 60000)
	for i := range 60000 {
		used[fmt.Sprintf("%016x%016x@example.com", r.Uint64(), r.Uint64())] = int64(i)
	}
	if enc, err := EncodeUsage(used, time.Now()); err == nil {
		t.Errorf("EncodeUsage accepted %d accounts taking %d bytes", len(used), len(enc))
	}
}

func BenchmarkEncodeUsage(b *testing.B) {
	used := tenThousandAccounts()
	now := time.Now()
	for b.Loop() {
		if _, err := EncodeUsage(used, now); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeUsage feeds arbitrary values to DecodeUsage, both as they are
// and gzip-compressed (so the mutations reach the text parser rather than
// breaking the stream's checksum). It must never panic, and whatever it
// accepts must survive a round trip through EncodeUsage.
func FuzzDecodeUsage(f *testing.F) {
	for _, text := range []string{
		"kubemail-usage/v1 2026-07-01T12:00:00Z\n",
		"kubemail-usage/v1 2026-07-01T12:00:00.5+02:00\nalice@example.com 123456\nbob@example.com 0\n",
		"kubemail-usage/v1 2026-07-01T12:00:00Z\n\"a b\"@example.com 1\n",
		"kubemail-usage/v1 2026-07-01T12:00:00Z\na@example.com +7\n",
	} {
		f.Add([]byte(text))
	}
	enc, err := EncodeUsage(map[string]int64{"alice@example.com": 1, "bob@example.com": 2}, time.Unix(0, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(value []byte) {
			used, at, err := DecodeUsage(value)
			if err != nil {
				return
			}
			if used == nil {
				t.Fatal("DecodeUsage returned a nil map without an error")
			}
			again, err := EncodeUsage(used, at)
			if err != nil {
				if errors.Is(err, errUsageTooLarge) {
					return
				}
				t.Fatalf("EncodeUsage refuses what DecodeUsage accepted: %v", err)
			}
			used2, at2, err := DecodeUsage(again)
			if err != nil {
				t.Fatalf("DecodeUsage refuses what EncodeUsage wrote: %v\n%q", err, gunzip(t, again))
			}
			if !maps.Equal(used, used2) || !at.Equal(at2) {
				t.Fatalf("round trip changed the report: %v at %v, then %v at %v", used, at, used2, at2)
			}
		}
		check(data)
		if len(data) < 1<<16 {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(data)
			_ = zw.Close()
			check(buf.Bytes())
		}
	})
}

func gzipped(t testing.TB, text []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(text); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gunzip(t testing.TB, enc []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(enc))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
