package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store"
)

// TestHeadersAroundThePrefixBoundaries places the empty line that ends the
// header at every position around headerPrefixMin and headerPrefixMax,
// where Headers must read more of the body, with CRLF and bare LF. Each
// message is read alone (with the prefix at its start) and all together
// (with the prefix grown by the long headers before).
func TestHeadersAroundThePrefixBoundaries(t *testing.T) {
	s := openTest(t, Options{})
	defer s.Close()
	ctx := t.Context()
	const account = "a@example.org"
	if _, err := s.EnsureAccount(ctx, account); err != nil {
		t.Fatal(err)
	}
	f := store.FolderRef{Account: account, Folder: store.Inbox}
	var want [][]byte
	for _, limit := range []int{headerPrefixMin, headerPrefixMax} {
		for _, eol := range []string{"\r\n", "\n"} {
			for end := limit - 4; end <= limit+4; end++ {
				// A header of `end` bytes including its empty line, then a body.
				first := fmt.Sprintf("Subject: ends at %d%s", end, eol)
				filler := end - len(first) - 2*len(eol) - len("X: ")
				hdr := first + "X: " + strings.Repeat("x", filler) + eol + eol
				if len(hdr) != end {
					t.Fatalf("test header of %d bytes, want %d", len(hdr), end)
				}
				want = append(want, []byte(hdr))
				deliver(t, s, account, hdr+"body"+eol)
			}
		}
		// Exactly limit bytes with no empty line: all header.
		whole := bytes.Repeat([]byte("X"), limit)
		want = append(want, whole)
		deliver(t, s, account, string(whole))
	}
	check := func(what string, set store.UIDSet, want [][]byte) {
		t.Helper()
		var got [][]byte
		var last store.UID
		err := s.Headers(ctx, f, set, func(uid store.UID, header []byte) error {
			if !set.Contains(uid) || uid <= last {
				t.Errorf("%s: UID %d after UID %d", what, uid, last)
			}
			last = uid
			got = append(got, bytes.Clone(header))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d headers, want %d", what, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s: header %d of %d bytes, want %d", what, i+1, len(got[i]), len(want[i]))
			}
		}
	}
	for i := range want {
		check(fmt.Sprintf("UID %d alone", i+1), store.UIDSetOf(store.UID(i+1)), want[i:i+1])
	}
	check("all UIDs", store.AllUIDs(), want)
}

func deliver(t *testing.T, s *Store, account, body string) {
	t.Helper()
	res, err := s.Submit(t.Context(), store.Submission{Body: []byte(body), Local: []store.DeliveryTarget{{Account: account}}})
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkHeaders reads the headers of a 10,000-message folder of 10 KiB
// messages, with Headers and, for comparison, with one Body per message.
func BenchmarkHeaders(b *testing.B) {
	s := openTest(b, Options{})
	defer s.Close()
	ctx := context.Background()
	const account = "bench@example.org"
	if _, err := s.EnsureAccount(ctx, account); err != nil {
		b.Fatal(err)
	}
	msg := []byte("Received: from mx.example.org\r\n\tby imap.example.com; Tue, 14 May 2024 10:00:00 +0000\r\n" +
		"From: Sender <sender@example.org>\r\nTo: a@example.org\r\nSubject: hello\r\n\r\n")
	msg = append(msg, bytes.Repeat([]byte("0123456789abcdef"), 640-len(msg)/16)...)
	const n = 10000
	deliverN(b, s, account, n, 32, msg)
	f := store.FolderRef{Account: account, Folder: store.Inbox}
	b.Run("headers", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			count := 0
			err := s.Headers(ctx, f, store.AllUIDs(), func(store.UID, []byte) error {
				count++
				return nil
			})
			if err != nil || count != n {
				b.Fatalf("%d headers, %v", count, err)
			}
		}
	})
	b.Run("bodies", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			for uid := store.UID(1); uid <= n; uid++ {
				if _, err := s.Body(ctx, f, uid); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
