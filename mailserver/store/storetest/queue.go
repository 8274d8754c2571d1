package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/kubemail/kubemail/mailserver/store"
)

// QueueStore is a backend that also implements the outbound queue.
type QueueStore interface {
	store.Store
	store.Queue
}

// QueueFactory opens a fresh, empty store for one queue test.
type QueueFactory func(t *testing.T) QueueStore

// RunQueue runs the outbound queue's conformance suite, each test with its
// own store.
func RunQueue(t *testing.T, newStore QueueFactory) {
	for _, name := range sortedKeys(queueTests) {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("closing store: %v", err)
				}
			})
			e := &env{t: t, s: s, ctx: t.Context()}
			queueTests[name](t, &qenv{env: e, q: s})
		})
	}
}

// qenv is a queue test's store with helpers.
type qenv struct {
	*env
	q store.Queue
}

// t0 is the queue tests' clock origin.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func outbound(id string, at time.Time, rcpts ...string) *store.Outbound {
	out := &store.Outbound{
		Message:     store.OutboundMessage{ID: id, Sender: "a@example.org", EnvelopeID: "env-" + id, Return: store.ReturnHeaders, RequireTLS: true, Created: t0},
		NextAttempt: at,
	}
	for _, r := range rcpts {
		out.Recipients = append(out.Recipients, store.OutboundRecipient{Address: r, ORCPT: "rfc822;" + r, Notify: store.NotifyFailure | store.NotifyDelay})
	}
	return out
}

func (e *qenv) submit(s store.Submission) []store.DeliveryResult {
	e.t.Helper()
	res, err := e.s.Submit(e.ctx, s)
	if err != nil {
		e.t.Fatalf("Submit: %v", err)
	}
	return res
}

func (e *qenv) due(now time.Time) []store.QueuedRecipient {
	e.t.Helper()
	due, err := e.q.DueRecipients(e.ctx, now, store.DuePosition{}, 100)
	if err != nil {
		e.t.Fatalf("DueRecipients: %v", err)
	}
	return due
}

func (e *qenv) lease(ids []int64, now, until time.Time) []store.QueuedRecipient {
	e.t.Helper()
	got, err := e.q.Lease(e.ctx, ids, now, until)
	if err != nil {
		e.t.Fatalf("Lease: %v", err)
	}
	return got
}

func (e *qenv) settle(s store.Settlement) store.SettleResult {
	e.t.Helper()
	res, err := e.q.Settle(e.ctx, s)
	if err != nil {
		e.t.Fatalf("Settle: %v", err)
	}
	return res
}

func (e *qenv) queue() []store.QueueEntry {
	e.t.Helper()
	l, err := e.q.ListQueue(e.ctx)
	if err != nil {
		e.t.Fatalf("ListQueue: %v", err)
	}
	return l
}

func ids(rs []store.QueuedRecipient) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func addresses(rs []store.QueuedRecipient) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Address
	}
	return out
}

var queueTests = map[string]func(t *testing.T, e *qenv){
	"Submit stores the local copies and queues the remote recipients together": func(t *testing.T, e *qenv) {
		a := e.account("a@example.org")
		msg := body(1)
		res := e.submit(store.Submission{Body: msg, Local: []store.DeliveryTarget{{Account: a}},
			Outbound: outbound("m1", t0, "x@Remote.test", "y@other.test")})
		if got := e.body(inbox(a), res[0].UID); !bytes.Equal(got, msg) {
			t.Fatal("local copy differs")
		}
		m, b, err := e.q.QueuedMessage(e.ctx, "m1")
		wantErr(t, "QueuedMessage", err, nil)
		if !bytes.Equal(b, msg) {
			t.Fatal("queued body differs")
		}
		want := store.OutboundMessage{ID: "m1", Sender: "a@example.org", EnvelopeID: "env-m1", Return: store.ReturnHeaders,
			RequireTLS: true, Created: t0, Size: int64(len(msg))}
		if !m.Created.Equal(want.Created) {
			t.Fatalf("queued at %v, want %v", m.Created, want.Created)
		}
		m.Created = want.Created
		if m != want {
			t.Fatalf("queued envelope %+v, want %+v", m, want)
		}
		due := e.due(t0)
		if got := addresses(due); !slices.Equal(got, []string{"x@Remote.test", "y@other.test"}) {
			t.Fatalf("due recipients %v", got)
		}
		if due[0].Domain != "remote.test" || due[0].ORCPT != "rfc822;x@Remote.test" ||
			due[0].Notify != store.NotifyFailure|store.NotifyDelay || due[0].Attempts != 0 || due[0].InFlight {
			t.Fatalf("first recipient %+v", due[0])
		}
	},
	"Submit with a failing local target stores nothing at all": func(t *testing.T, e *qenv) {
		a := e.account("a@example.org")
		res, err := e.s.Submit(e.ctx, store.Submission{Body: body(1),
			Local:    []store.DeliveryTarget{{Account: a}, {Account: "nobody@example.org"}},
			Outbound: outbound("m1", t0, "x@remote.test")})
		wantErr(t, "Submit", err, store.ErrAccountNotFound)
		if len(res) != 2 || res[0].Err != nil || res[0].UID != 0 {
			t.Fatalf("results %+v: the first target must read as not stored", res)
		}
		wantErr(t, "second target", res[1].Err, store.ErrAccountNotFound)
		if u := e.usage(a); u != (store.Usage{}) {
			t.Fatalf("a's usage %+v after a refused submission", u)
		}
		if q := e.queue(); len(q) != 0 {
			t.Fatalf("queue %+v after a refused submission", q)
		}
	},
	"Submit refuses a duplicate queue id and an empty submission": func(t *testing.T, e *qenv) {
		e.submit(store.Submission{Body: body(1), Outbound: outbound("m1", t0, "x@remote.test")})
		_, err := e.s.Submit(e.ctx, store.Submission{Body: body(2), Outbound: outbound("m1", t0, "y@remote.test")})
		wantErr(t, "duplicate", err, store.ErrInvalidArgument)
		_, err = e.s.Submit(e.ctx, store.Submission{Body: body(3)})
		wantErr(t, "empty", err, store.ErrInvalidArgument)
		if q := e.queue(); len(q) != 1 || len(q[0].Recipients) != 1 || q[0].Recipients[0].Address != "x@remote.test" {
			t.Fatalf("queue %+v", q)
		}
	},
	"DueRecipients pages by position: earliest first, each recipient once, none due later": func(t *testing.T, e *qenv) {
		// Two recipients share a NextAttempt, so the ID breaks the tie.
		e.submit(store.Submission{Body: body(1), Outbound: outbound("m1", t0.Add(time.Minute), "a@r.test", "b@r.test")})
		e.submit(store.Submission{Body: body(2), Outbound: outbound("m2", t0, "c@r.test")})
		e.submit(store.Submission{Body: body(3), Outbound: outbound("m3", t0.Add(2*time.Minute), "d@r.test")})
		e.submit(store.Submission{Body: body(4), Outbound: outbound("m4", t0.Add(time.Hour), "e@r.test")})
		now := t0.Add(2 * time.Minute)
		var got []string
		var after store.DuePosition
		for range 10 {
			page, err := e.q.DueRecipients(e.ctx, now, after, 1)
			wantErr(t, "DueRecipients", err, nil)
			if len(page) == 0 {
				break
			}
			got = append(got, page[0].Address)
			after = page[0].Position()
		}
		if want := []string{"c@r.test", "a@r.test", "b@r.test", "d@r.test"}; !slices.Equal(got, want) {
			t.Fatalf("pages listed %q, want %q", got, want)
		}
		page, err := e.q.DueRecipients(e.ctx, now, store.DuePosition{NextAttempt: t0.Add(time.Minute)}, 10)
		wantErr(t, "DueRecipients", err, nil)
		if got := addresses(page); !slices.Equal(got, []string{"a@r.test", "b@r.test", "d@r.test"}) {
			t.Fatalf("after a time alone listed %q", got)
		}
	},
	"Lease records the attempt and hides the recipient until the lease ends": func(t *testing.T, e *qenv) {
		e.submit(store.Submission{Body: body(1), Outbound: outbound("m1", t0.Add(time.Minute), "x@remote.test")})
		if due := e.due(t0); len(due) != 0 {
			t.Fatalf("recipient due before its time: %+v", due)
		}
		now := t0.Add(time.Minute)
		due := e.due(now)
		leased := e.lease(ids(due), now, now.Add(5*time.Minute))
		if len(leased) != 1 || leased[0].Attempts != 1 || !leased[0].InFlight || !leased[0].LastAttempt.Equal(now) ||
			!leased[0].NextAttempt.Equal(now.Add(5*time.Minute)) {
			t.Fatalf("leased %+v", leased)
		}
		if again := e.lease(ids(due), now, now.Add(5*time.Minute)); len(again) != 0 {
			t.Fatalf("a leased recipient was leased twice: %+v", again)
		}
		if due := e.due(now.Add(4 * time.Minute)); len(due) != 0 {
			t.Fatalf("leased recipient due during its lease: %+v", due)
		}
		if due := e.due(now.Add(5 * time.Minute)); len(due) != 1 || !due[0].InFlight {
			t.Fatalf("expired lease not due again: %+v", due)
		}
	},
	"Settle reschedules, removes finished recipients and then their message": func(t *testing.T, e *qenv) {
		e.submit(store.Submission{Body: body(1), Outbound: outbound("m1", t0, "x@remote.test", "y@remote.test")})
		leased := e.lease(ids(e.due(t0)), t0, t0.Add(time.Hour))
		e.settle(store.Settlement{Outcomes: []store.RecipientOutcome{
			{ID: leased[0].ID, Done: true},
			{ID: leased[1].ID, NextAttempt: t0.Add(5 * time.Minute), LastError: "451 4.3.0 try later", DelayNotified: true},
		}})
		q := e.queue()
		if len(q) != 1 || len(q[0].Recipients) != 1 {
			t.Fatalf("queue %+v", q)
		}
		r := q[0].Recipients[0]
		if r.Address != "y@remote.test" || r.InFlight || r.Attempts != 1 || r.LastError != "451 4.3.0 try later" ||
			!r.DelayNotified || !r.NextAttempt.Equal(t0.Add(5*time.Minute)) {
			t.Fatalf("rescheduled recipient %+v", r)
		}
		// An outcome for a recipient already gone is ignored.
		e.settle(store.Settlement{Outcomes: []store.RecipientOutcome{{ID: leased[0].ID, Done: true}, {ID: r.ID, Done: true}}})
		if q := e.queue(); len(q) != 0 {
			t.Fatalf("queue %+v after the last recipient finished", q)
		}
		_, _, err := e.q.QueuedMessage(e.ctx, "m1")
		wantErr(t, "QueuedMessage", err, store.ErrQueueEntryNotFound)
	},
	"Settle stores reports in the same step, skipping local targets that fail": func(t *testing.T, e *qenv) {
		a := e.account("a@example.org")
		e.submit(store.Submission{Body: body(1), Outbound: outbound("m1", t0, "x@remote.test")})
		leased := e.lease(ids(e.due(t0)), t0, t0.Add(time.Hour))
		report := body(99)
		dsn := outbound("dsn1", t0, "z@remote.test")
		dsn.Message.Sender = ""
		res := e.settle(store.Settlement{
			Outcomes: []store.RecipientOutcome{{ID: leased[0].ID, Done: true}},
			Reports: []store.Submission{
				{Body: report, Local: []store.DeliveryTarget{{Account: a}, {Account: "gone@example.org"}}},
				{Body: report, Outbound: dsn},
				{Body: report, Local: []store.DeliveryTarget{{Account: "gone@example.org"}}},
			},
		})
		if len(res.Reports) != 3 || res.Reports[0][0].Err != nil {
			t.Fatalf("report results %+v", res.Reports)
		}
		wantErr(t, "report to a missing account", res.Reports[0][1].Err, store.ErrAccountNotFound)
		wantErr(t, "report to a missing account alone", res.Reports[2][0].Err, store.ErrAccountNotFound)
		if got := e.body(inbox(a), res.Reports[0][0].UID); !bytes.Equal(got, report) {
			t.Fatal("local report differs")
		}
		q := e.queue()
		if len(q) != 1 || q[0].Message.ID != "dsn1" || q[0].Message.Sender != "" {
			t.Fatalf("queue %+v, want only the remote report", q)
		}
	},
	"RescheduleQueued moves waiting recipients, DeleteQueued removes a message": func(t *testing.T, e *qenv) {
		e.submit(store.Submission{Body: body(1), Outbound: outbound("m1", t0.Add(time.Hour), "x@remote.test")})
		e.submit(store.Submission{Body: body(2), Outbound: outbound("m2", t0.Add(time.Hour), "y@remote.test")})
		n, err := e.q.RescheduleQueued(e.ctx, "m1", t0)
		if err != nil || n != 1 {
			t.Fatalf("RescheduleQueued(m1) = %d, %v", n, err)
		}
		if got := addresses(e.due(t0)); !slices.Equal(got, []string{"x@remote.test"}) {
			t.Fatalf("due after rescheduling m1: %v", got)
		}
		if n, err := e.q.RescheduleQueued(e.ctx, "", t0); err != nil || n != 2 {
			t.Fatalf("RescheduleQueued(all) = %d, %v", n, err)
		}
		wantErr(t, "DeleteQueued(m1)", e.q.DeleteQueued(e.ctx, "m1"), nil)
		wantErr(t, "DeleteQueued(m1) again", e.q.DeleteQueued(e.ctx, "m1"), store.ErrQueueEntryNotFound)
		if q := e.queue(); len(q) != 1 || q[0].Message.ID != "m2" {
			t.Fatalf("queue %+v", q)
		}
	},
	"ReleaseLeases makes in-flight recipients due again at once": func(t *testing.T, e *qenv) {
		e.submit(store.Submission{Body: body(1), Outbound: outbound("m1", t0, "x@remote.test", "y@remote.test")})
		due := e.due(t0)
		e.lease(ids(due[:1]), t0, t0.Add(time.Hour))
		later := t0.Add(time.Minute)
		n, err := e.q.ReleaseLeases(e.ctx, later)
		if err != nil || n != 1 {
			t.Fatalf("ReleaseLeases = %d, %v", n, err)
		}
		got := e.due(later)
		if len(got) != 2 || got[0].InFlight || got[1].InFlight || got[0].Attempts+got[1].Attempts != 1 {
			t.Fatalf("due after release %+v: both due, the attempt kept", got)
		}
	},
}
