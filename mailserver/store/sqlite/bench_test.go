package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store"
)

// BenchmarkDeliver measures durable 10 KiB deliveries to one INBOX at 1, 10
// and 50 concurrent writers, into an empty mailbox and into one already
// holding 10,000 messages (per-delivery work must not grow with it).
func BenchmarkSubmit(b *testing.B) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 640) // 10 KiB
	for _, prefill := range []int{0, 10000} {
		for _, writers := range []int{1, 10, 50} {
			b.Run(fmt.Sprintf("writers=%d/prefill=%d", writers, prefill), func(b *testing.B) {
				s := openTest(b, Options{})
				defer s.Close()
				ctx := context.Background()
				const account = "bench@example.org"
				if _, err := s.EnsureAccount(ctx, account); err != nil {
					b.Fatal(err)
				}
				if prefill > 0 {
					deliverN(b, s, account, prefill, 32, body[:1024])
				}
				b.SetBytes(int64(len(body)))
				b.ResetTimer()
				done := reportCPU(b)
				deliverN(b, s, account, b.N, writers, body)
				b.StopTimer()
				done()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
			})
		}
	}
}

// deliverN makes n deliveries from the given number of goroutines.
func deliverN(tb testing.TB, s *Store, account string, n, writers int, body []byte) {
	tb.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			d := store.Submission{Body: body, Local: []store.DeliveryTarget{{Account: account}}}
			for next.Add(1) <= int64(n) {
				res, err := s.Submit(context.Background(), d)
				if err == nil {
					err = res[0].Err
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

// BenchmarkListMessages lists the metadata of a 10,000-message folder.
func BenchmarkListMessages(b *testing.B) {
	s := openTest(b, Options{})
	defer s.Close()
	ctx := context.Background()
	const account = "bench@example.org"
	if _, err := s.EnsureAccount(ctx, account); err != nil {
		b.Fatal(err)
	}
	deliverN(b, s, account, 10000, 32, []byte("Subject: x\r\n\r\nbody\r\n"))
	f := store.FolderRef{Account: account, Folder: store.Inbox}
	defer reportCPU(b)()
	for b.Loop() {
		l, err := s.ListMessages(ctx, f, store.ListOptions{UIDs: store.AllUIDs()})
		if err != nil {
			b.Fatal(err)
		}
		if len(l.Messages) != 10000 {
			b.Fatalf("listed %d messages", len(l.Messages))
		}
	}
}

// BenchmarkFolderIndex reads what SELECT needs of a 10,000-message folder.
func BenchmarkFolderIndex(b *testing.B) {
	s := openTest(b, Options{})
	defer s.Close()
	ctx := context.Background()
	const account = "bench@example.org"
	if _, err := s.EnsureAccount(ctx, account); err != nil {
		b.Fatal(err)
	}
	deliverN(b, s, account, 10000, 32, []byte("Subject: x\r\n\r\nbody\r\n"))
	f := store.FolderRef{Account: account, Folder: store.Inbox}
	defer reportCPU(b)()
	for b.Loop() {
		idx, err := s.FolderIndex(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		if len(idx.UIDs) != 10000 || idx.FirstUnseen != 1 {
			b.Fatalf("index of %d messages, first unseen %d", len(idx.UIDs), idx.FirstUnseen)
		}
	}
}
