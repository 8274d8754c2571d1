package server

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubemail/kubemail/internal/testlog"
	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/configsource"
	"github.com/kubemail/kubemail/mailserver/store"
	"github.com/kubemail/kubemail/mailserver/store/sqlite"
)

func TestServedUsageListsOnlyTheServedMailboxes(t *testing.T) {
	cfg := compile(t, baseConfig())
	got := servedUsage(cfg, []store.Account{
		{Address: "alice@example.test", Usage: store.Usage{Bytes: 100, Messages: 1}},
		{Address: "bob@example.test", Usage: store.Usage{Bytes: 0}},
		{Address: "deleted@example.test", Usage: store.Usage{Bytes: 5000, Messages: 3}}, // its mailbox was removed
		{Address: "team@example.test", Usage: store.Usage{Bytes: 7}},                    // an alias, not a mailbox
	})
	// carol's mailbox has no store account (yet): nothing is known of it.
	want := map[string]int64{"alice@example.test": 100, "bob@example.test": 0}
	if !maps.Equal(got, want) {
		t.Errorf("servedUsage = %v, want %v", got, want)
	}
}

func TestReportUsageWithoutAStatusConfigMapOnlyWaits(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)} // no status reporter, no store
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.reportUsage(ctx); close(done) }()
	select {
	case <-done:
		t.Fatal("reportUsage returned before ctx was done: the supervisor would count it as a failure")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	<-done
}

// statusConfigMap reads the status ConfigMap of the usage test.
func statusConfigMap(t *testing.T, client kubernetes.Interface) *corev1.ConfigMap {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps(testNamespace).Get(context.Background(), "mx-status-mx-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// statusUsage decodes the usage of the status ConfigMap; nil when there is
// none yet.
func statusUsage(t *testing.T, client kubernetes.Interface) (map[string]int64, time.Time) {
	t.Helper()
	enc, ok := statusConfigMap(t, client).BinaryData[config.StatusUsageKey]
	if !ok {
		return nil, time.Time{}
	}
	used, at, err := config.DecodeUsage(enc)
	if err != nil {
		t.Fatalf("the status ConfigMap's usage does not decode: %v", err)
	}
	return used, at
}

func TestRunReportsTheUsageOfTheServedMailboxes(t *testing.T) {
	client := startAPIServer(t)
	ctx := context.Background()
	if _, err := client.CoreV1().ConfigMaps(testNamespace).Create(ctx,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mx-status-mx-0"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := listeningConfig(t)

	// The store holds the account of a mailbox no longer configured.
	old, err := sqlite.Open(c.Storage.Path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.EnsureAccount(ctx, "deleted@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	hash := writeShards(t, client, compile(t, c))

	logs := &testlog.Buffer{}
	s, err := New(Options{
		ConfigSecret: &configsource.SecretOptions{
			Client: client, Namespace: testNamespace, Name: config.ShardName("mx-config", 0),
			StatusConfigMap: "mx-status-mx-0", RetryInterval: 100 * time.Millisecond,
		},
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ShutdownTimeout: 5 * time.Second, ConfigDebounce: 20 * time.Millisecond,
		UsageInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	var once sync.Once
	var result error
	stop := func() error { once.Do(func() { cancel(); result = <-done }); return result }
	t.Cleanup(func() { _ = stop() })
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run ended before it was ready: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not become ready\n%s", logs.String())
	}

	// Every served mailbox is reported, empty; the deleted one is not.
	empty := map[string]int64{"alice@example.test": 0, "bob@example.test": 0, "carol@example.test": 0}
	before := time.Now()
	waitFor(t, "the status ConfigMap to report the empty mailboxes", func() bool {
		used, _ := statusUsage(t, client)
		return maps.Equal(used, empty)
	})
	waitFor(t, "the status ConfigMap to show the hash", func() bool { return statusHash(t, client) == hash })

	// A message of 100 KiB for alice, over SMTP.
	c2, err := gosmtp.Dial(s.Addr("smtp").String())
	if err != nil {
		t.Fatal(err)
	}
	body := "From: someone@elsewhere.test\r\nTo: alice@example.test\r\nSubject: big\r\n\r\n" +
		strings.Repeat(strings.Repeat("x", 78)+"\r\n", 1300)
	if err := c2.SendMail("someone@elsewhere.test", []string{"alice@example.test"}, strings.NewReader(body)); err != nil {
		t.Fatalf("sending to alice: %v\n%s", err, logs.String())
	}
	_ = c2.Quit()
	stored, err := s.store.Usage(ctx, "alice@example.test")
	if err != nil || stored.Bytes < int64(len(body)) {
		t.Fatalf("alice's account holds %+v (%v), want at least the %d bytes sent", stored, err, len(body))
	}

	want := maps.Clone(empty)
	want["alice@example.test"] = stored.Bytes
	var at time.Time
	waitFor(t, "the status ConfigMap to report alice's message", func() bool {
		var used map[string]int64
		used, at = statusUsage(t, client)
		return maps.Equal(used, want)
	})
	if at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
		t.Errorf("the usage was measured at %v, not while the test ran (since %v)", at, before)
	}
	if got := statusHash(t, client); got != hash {
		t.Errorf("writing the usage changed the hash to %q, want %q", got, hash)
	}

	// Nothing changes: ten more measurements, no write.
	rv := statusConfigMap(t, client).ResourceVersion
	time.Sleep(10 * s.opts.UsageInterval)
	if got := statusConfigMap(t, client).ResourceVersion; got != rv {
		used, _ := statusUsage(t, client)
		t.Errorf("the status ConfigMap was written while nothing changed (resourceVersion %s, then %s): %v", rv, got, used)
	}
	if strings.Contains(logs.String(), "Cannot report the usage") || strings.Contains(logs.String(), "Cannot list the usage") {
		t.Errorf("the usage reporting logged an error:\n%s", logs.String())
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
