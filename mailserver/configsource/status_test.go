package configsource

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubemail/kubemail/internal/testlog"
	"github.com/kubemail/kubemail/mailserver/config"
)

func TestUsageDue(t *testing.T) {
	t0 := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	const MiB = 1 << 20
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	written := func(used map[string]int64) usageReport { return usageReport{used: used, at: t0} }
	tests := map[string]struct {
		last usageReport
		next usageReport
		want bool
	}{
		"the first measurement is written": {
			usageReport{}, usageReport{used: map[string]int64{"a@x": 0}, at: t0}, true,
		},
		"the first measurement is written even without accounts": {
			usageReport{}, usageReport{used: map[string]int64{}, at: t0}, true,
		},
		"an unchanged measurement is dropped": {
			written(map[string]int64{"a@x": 5 * MiB, "b@x": 0}), usageReport{map[string]int64{"a@x": 5 * MiB, "b@x": 0}, at(30 * time.Second)}, false,
		},
		"an unchanged measurement is dropped however old the written one": {
			written(map[string]int64{"a@x": 5}), usageReport{map[string]int64{"a@x": 5}, at(24 * time.Hour)}, false,
		},
		"a new mailbox's empty account is written": {
			written(map[string]int64{"a@x": 5}), usageReport{map[string]int64{"a@x": 5, "b@x": 0}, at(30 * time.Second)}, true,
		},
		"an account whose mailbox went is written": {
			written(map[string]int64{"a@x": 5, "b@x": 0}), usageReport{map[string]int64{"a@x": 5}, at(30 * time.Second)}, true,
		},
		"an account replaced by another is written": {
			written(map[string]int64{"a@x": 5}), usageReport{map[string]int64{"b@x": 5}, at(30 * time.Second)}, true,
		},
		"the last mailbox going is written": {
			written(map[string]int64{"a@x": 5}), usageReport{map[string]int64{}, at(30 * time.Second)}, true,
		},
		"64 KiB more in a small account is written": {
			written(map[string]int64{"a@x": 1000}), usageReport{map[string]int64{"a@x": 1000 + 64<<10}, at(30 * time.Second)}, true,
		},
		"64 KiB less (an expunge) is written": {
			written(map[string]int64{"a@x": 1 * MiB}), usageReport{map[string]int64{"a@x": 1*MiB - 64<<10}, at(30 * time.Second)}, true,
		},
		"the first message into an empty account is written at once": {
			written(map[string]int64{"a@x": 0}), usageReport{map[string]int64{"a@x": 5000}, at(30 * time.Second)}, true,
		},
		"an account emptied is written at once": {
			written(map[string]int64{"a@x": 5000}), usageReport{map[string]int64{"a@x": 0}, at(30 * time.Second)}, true,
		},
		"a small message into an account that holds mail waits": {
			written(map[string]int64{"a@x": 1000}), usageReport{map[string]int64{"a@x": 6000}, at(30 * time.Second)}, false,
		},
		"just under 64 KiB waits": {
			written(map[string]int64{"a@x": 1}), usageReport{map[string]int64{"a@x": 64 << 10}, at(30 * time.Second)}, false,
		},
		"1% of a large account is written": {
			written(map[string]int64{"a@x": 1000 * MiB}), usageReport{map[string]int64{"a@x": 1010 * MiB}, at(30 * time.Second)}, true,
		},
		"64 KiB of a large account, under 1%, waits": {
			written(map[string]int64{"a@x": 1000 * MiB}), usageReport{map[string]int64{"a@x": 1000*MiB + 64<<10}, at(30 * time.Second)}, false,
		},
		"one significant change among many small ones is written": {
			written(map[string]int64{"a@x": 1, "b@x": 1, "c@x": 1}), usageReport{map[string]int64{"a@x": 10, "b@x": 100 << 10, "c@x": 10}, at(30 * time.Second)}, true,
		},
		"small changes add up since the last write, not since the last measurement": {
			written(map[string]int64{"a@x": 1}), usageReport{map[string]int64{"a@x": 70 << 10}, at(time.Minute)}, true,
		},
		"a small change is written once the written measurement is 5 minutes old": {
			written(map[string]int64{"a@x": 1000}), usageReport{map[string]int64{"a@x": 6000}, at(5 * time.Minute)}, true,
		},
		"a small change just before 5 minutes waits": {
			written(map[string]int64{"a@x": 1000}), usageReport{map[string]int64{"a@x": 6000}, at(5*time.Minute - time.Second)}, false,
		},
		"a clock that went back does not count as 5 minutes": {
			written(map[string]int64{"a@x": 1000}), usageReport{map[string]int64{"a@x": 6000}, at(-time.Hour)}, false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := usageDue(tc.last, tc.next); got != tc.want {
				t.Errorf("usageDue(%v, %v) = %v, want %v", tc.last, tc.next, got, tc.want)
			}
		})
	}
}

// newTestReporter is the reporter of ConfigMap mail/mx-status-mx-0 in a
// fake API server, which holds it unless missing.
func newTestReporter(t *testing.T, missing bool) (*StatusReporter, *fake.Clientset, *testlog.Buffer) {
	t.Helper()
	var client *fake.Clientset
	if missing {
		client = fake.NewClientset()
	} else {
		client = fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "mx-status-mx-0"}})
	}
	logs := &testlog.Buffer{}
	r := NewStatusReporter(SecretOptions{
		Client: client, Namespace: "mail", Name: "mx-config-0",
		StatusConfigMap: "mx-status-mx-0", RetryInterval: 10 * time.Millisecond,
	}, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return r, client, logs
}

func statusMap(t *testing.T, client *fake.Clientset) *corev1.ConfigMap {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps("mail").Get(context.Background(), "mx-status-mx-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// reportedUsage decodes the usage in the status ConfigMap; nil when none.
func reportedUsage(t *testing.T, client *fake.Clientset) (map[string]int64, time.Time) {
	t.Helper()
	enc, ok := statusMap(t, client).BinaryData[config.StatusUsageKey]
	if !ok {
		return nil, time.Time{}
	}
	used, at, err := config.DecodeUsage(enc)
	if err != nil {
		t.Fatalf("the status ConfigMap's usage: %v", err)
	}
	return used, at
}

// updates counts the Updates of the fake API server.
func updates(client *fake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "update" {
			n++
		}
	}
	return n
}

func TestReportUsageWritesOnlyWhatMatters(t *testing.T) {
	r, client, _ := newTestReporter(t, false)
	ctx := context.Background()
	t0 := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

	first := map[string]int64{"alice@example.com": 1000, "bob@example.com": 1 << 20}
	r.reportUsage(ctx, usageReport{maps.Clone(first), t0})
	if got, at := reportedUsage(t, client); !maps.Equal(got, first) || !at.Equal(t0) {
		t.Fatalf("reported %v at %v, want %v at %v", got, at, first, t0)
	}
	if n := updates(client); n != 1 {
		t.Fatalf("%d updates for the first measurement, want 1", n)
	}

	// A small message for alice: dropped, and the report stays.
	r.reportUsage(ctx, usageReport{map[string]int64{"alice@example.com": 4000, "bob@example.com": 1 << 20}, t0.Add(30 * time.Second)})
	if n := updates(client); n != 1 {
		t.Errorf("a small change was written (%d updates)", n)
	}
	// A large one for bob: written, with alice's small change.
	second := map[string]int64{"alice@example.com": 4000, "bob@example.com": 2 << 20}
	r.reportUsage(ctx, usageReport{maps.Clone(second), t0.Add(time.Minute)})
	if got, at := reportedUsage(t, client); !maps.Equal(got, second) || !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("reported %v at %v, want %v", got, at, second)
	}
	if n := updates(client); n != 2 {
		t.Errorf("%d updates after a significant change, want 2", n)
	}
}

func TestReportUsageTriesAgainWithTheNextMeasurement(t *testing.T) {
	r, client, logs := newTestReporter(t, true)
	ctx := context.Background()
	used := map[string]int64{"alice@example.com": 7}
	r.reportUsage(ctx, usageReport{used, time.Now()})
	if !strings.Contains(logs.String(), "Cannot report the usage") || !strings.Contains(logs.String(), "the operator creates it") {
		t.Errorf("the missing ConfigMap was not logged:\n%s", logs.String())
	}
	if _, err := client.CoreV1().ConfigMaps("mail").Create(ctx,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mx-status-mx-0"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The same usage, measured again: not written before, so written now.
	r.reportUsage(ctx, usageReport{maps.Clone(used), time.Now()})
	if got, _ := reportedUsage(t, client); !maps.Equal(got, used) {
		t.Errorf("reported %v once the ConfigMap exists, want %v", got, used)
	}
}

func TestReportUsageRefusesWhatCannotBeEncoded(t *testing.T) {
	r, client, logs := newTestReporter(t, false)
	r.reportUsage(context.Background(), usageReport{map[string]int64{"bad\naddress": 1}, time.Now()})
	if got, _ := reportedUsage(t, client); got != nil {
		t.Errorf("reported %v", got)
	}
	if !strings.Contains(logs.String(), "Cannot encode the usage") {
		t.Errorf("the refusal was not logged:\n%s", logs.String())
	}
}

func TestStatusReporterWritesTheHashAndTheUsageSide(t *testing.T) {
	r, client, logs := newTestReporter(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	used := map[string]int64{"alice@example.com": 12345}
	r.Set("hash-1")
	r.SetUsage(maps.Clone(used), time.Now())
	waitFor(t, "the hash and the usage to be reported", func() bool {
		got, _ := reportedUsage(t, client)
		return statusMap(t, client).Data[config.StatusHashKey] == "hash-1" && maps.Equal(got, used)
	})
	r.Set("hash-2")
	waitFor(t, "the new hash to be reported", func() bool {
		return statusMap(t, client).Data[config.StatusHashKey] == "hash-2"
	})
	if got, _ := reportedUsage(t, client); !maps.Equal(got, used) {
		t.Errorf("writing the hash lost the usage: %v", got)
	}
	more := map[string]int64{"alice@example.com": 12345, "bob@example.com": 0}
	r.SetUsage(maps.Clone(more), time.Now())
	waitFor(t, "the new usage to be reported", func() bool {
		got, _ := reportedUsage(t, client)
		return maps.Equal(got, more)
	})
	if got := statusMap(t, client).Data[config.StatusHashKey]; got != "hash-2" {
		t.Errorf("writing the usage changed the hash to %q", got)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors were logged:\n%s", logs.String())
	}
}

func TestSetUsageNeverBlocks(t *testing.T) {
	r, _, _ := newTestReporter(t, false) // not running
	for i := range 3 {
		r.SetUsage(map[string]int64{"a@x": int64(i)}, time.Now())
	}
	if u := <-r.usage; u.used["a@x"] != 2 {
		t.Errorf("the reporter kept %v, want the latest measurement", u.used)
	}
	r.SetUsage(nil, time.Now())
	if u := <-r.usage; u.used == nil {
		t.Error("a nil measurement is not a measurement of no accounts")
	}
	var none *StatusReporter
	none.SetUsage(map[string]int64{"a@x": 1}, time.Now()) // reports nothing, does not panic
}
