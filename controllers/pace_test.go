package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

func TestPacer(t *testing.T) {
	a, b := types.NamespacedName{Namespace: "n", Name: "a"}, types.NamespacedName{Namespace: "n", Name: "b"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		key  types.NamespacedName
		at   time.Duration // after t0
		wait time.Duration
	}
	tests := map[string]struct {
		interval time.Duration
		forget   bool // forget a before the last step
		steps    []step
	}{
		"the first reconcile of a server runs at once": {time.Second, false, []step{{a, 0, 0}}},
		"a second one within the interval waits for its rest": {time.Second, false, []step{
			{a, 0, 0}, {a, 300 * time.Millisecond, 700 * time.Millisecond}, {a, 999 * time.Millisecond, time.Millisecond}}},
		"a wait does not move the interval; after it the reconcile runs": {time.Second, false, []step{
			{a, 0, 0}, {a, 500 * time.Millisecond, 500 * time.Millisecond}, {a, time.Second, 0}, {a, 1500 * time.Millisecond, 500 * time.Millisecond}}},
		"servers are paced apart":             {time.Second, false, []step{{a, 0, 0}, {b, 10 * time.Millisecond, 0}}},
		"a forgotten server runs at once":     {time.Second, true, []step{{a, 0, 0}, {a, 10 * time.Millisecond, 0}}},
		"a clock stepped back does not stall": {time.Second, false, []step{{a, time.Hour, 0}, {a, 0, 0}}},
		"no interval, no waiting":             {-1, false, []step{{a, 0, 0}, {a, 0, 0}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := newPacer(tc.interval)
			for i, s := range tc.steps {
				if tc.forget && i == len(tc.steps)-1 {
					p.forget(a)
				}
				if got := p.wait(s.key, t0.Add(s.at)); got != s.wait {
					t.Fatalf("step %d (%s at %v): wait %v, want %v", i, s.key.Name, s.at, got, s.wait)
				}
			}
		})
	}
}

func TestHoldFirstStatus(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	wait := readiness{metav1.ConditionUnknown, mailv1.ReasonConfigPending, "waiting"}
	readyNow := readiness{metav1.ConditionTrue, mailv1.ReasonReady, "served"}
	had := []metav1.Condition{{Type: mailv1.ConditionReady, Status: metav1.ConditionUnknown}}
	tests := map[string]struct {
		age      time.Duration
		before   []metav1.Condition
		s        readiness
		hold     bool
		lookBack time.Duration
	}{
		"a new object that only waits is held until the grace ends": {2 * time.Second, nil, wait, true, 8 * time.Second},
		"Ready is written at once":                                  {2 * time.Second, nil, readyNow, false, 0},
		"a problem is written at once": {2 * time.Second, nil,
			readiness{metav1.ConditionFalse, mailv1.ReasonDomainNotFound, "no domain"}, false, 0},
		"an object past the grace gets its waiting status":         {firstStatusGrace, nil, wait, false, 0},
		"an object that has a status is always kept current":       {time.Second, had, wait, false, 0},
		"a creation time ahead of the clock holds the whole grace": {-time.Minute, nil, wait, true, firstStatusGrace},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := &mailv1.Mailbox{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(t0)}}
			d, hold := holdFirstStatus(m, tc.before, tc.s, t0.Add(tc.age))
			if hold != tc.hold || d != tc.lookBack {
				t.Fatalf("holdFirstStatus = %v, %v; want %v, %v", d, hold, tc.lookBack, tc.hold)
			}
		})
	}
}
