package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/kubemail/kubemail/mailserver/store"
)

var concurrencyTests = map[string]func(t *testing.T, e *env){
	"concurrent deliveries get distinct, gap-free UIDs and exact counters": func(t *testing.T, e *env) {
		a, b := e.account("a@example.org"), e.account("b@example.org")
		const writers, each = 16, 20
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		bodies := sync.Map{} // UID in a's INBOX -> body
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					msg := fmt.Appendf(nil, "Subject: writer %d message %d\r\n\r\nx\r\n", w, i)
					targets := []store.DeliveryTarget{{Account: a}}
					if i%2 == 0 {
						targets = append(targets, store.DeliveryTarget{Account: b, Folder: "Archive"})
					}
					res, err := e.s.Submit(e.ctx, store.Submission{Body: msg, Local: targets})
					if err == nil {
						err = errors.Join(res[0].Err, res[len(res)-1].Err)
					}
					if err != nil {
						errs <- err
						return
					}
					bodies.Store(res[0].UID, msg)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent delivery: %v", err)
		}
		var want []store.UID
		var size int64
		for u := store.UID(1); u <= writers*each; u++ {
			want = append(want, u)
			msg, ok := bodies.Load(u)
			if !ok {
				t.Fatalf("no delivery reported UID %d", u)
			}
			size += int64(len(msg.([]byte)))
			if got := e.body(inbox(a), u); string(got) != string(msg.([]byte)) {
				t.Fatalf("UID %d body %q, want %q", u, got, msg)
			}
		}
		wantUIDs(t, "INBOX", e.uids(inbox(a)), want)
		if u := e.usage(a); u != (store.Usage{Bytes: size, Messages: writers * each}) {
			t.Fatalf("usage %+v, want %d messages of %d bytes", u, writers*each, size)
		}
		if st := e.status(folder(b, "Archive")); st.Messages != writers*each/2 || st.UIDNext != writers*each/2+1 {
			t.Fatalf("b's Archive status %+v", st)
		}
	},
	"concurrent flag updates and expunges keep the mod-sequence strictly increasing": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		f := inbox(a)
		e.fill(f, 40)
		var mu sync.Mutex
		var seqs []store.ModSeq
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range 5 {
					uid := store.UID(w*5 + i + 1)
					res, err := e.s.UpdateFlags(e.ctx, store.FlagUpdate{Folder: f, UIDs: store.UIDSetOf(uid), Op: store.FlagsAdd,
						Flags: store.Flags{System: store.FlagDeleted}})
					if err != nil {
						t.Errorf("UpdateFlags: %v", err)
						return
					}
					x, err := e.s.Expunge(e.ctx, store.ExpungeRequest{Folder: f, UIDs: store.UIDSetOf(uid), OnlyDeleted: true})
					if err != nil {
						t.Errorf("Expunge: %v", err)
						return
					}
					mu.Lock()
					seqs = append(seqs, res.ModSeq, x.ModSeq)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(seqs)
		if len(slices.Compact(slices.Clone(seqs))) != len(seqs) || len(seqs) != 80 {
			t.Fatalf("mod-sequences are not distinct: %v", seqs)
		}
		if st := e.status(f); st.Messages != 0 || st.HighestModSeq != seqs[len(seqs)-1] {
			t.Fatalf("status %+v, want empty at mod-sequence %d", st, seqs[len(seqs)-1])
		}
	},
	"a cancelled context fails the call with the context's error": func(t *testing.T, e *env) {
		a := e.account("a@example.org")
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		_, err := e.s.Submit(ctx, store.Submission{Body: body(1), Local: []store.DeliveryTarget{{Account: a}}})
		wantErr(t, "Submit", err, context.Canceled)
		_, err = e.s.ListMessages(ctx, inbox(a), store.ListOptions{UIDs: store.AllUIDs()})
		wantErr(t, "ListMessages", err, context.Canceled)
		if st := e.status(inbox(a)); st.Messages != 0 {
			t.Fatalf("a call cancelled before it started stored a message: %+v", st)
		}
	},
}
