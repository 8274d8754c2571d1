package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubemail/kubemail/internal/devenv"
	"github.com/kubemail/kubemail/internal/testlog"
	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/configsource"
)

// The Secret source runs against a real kube-apiserver and etcd (make
// envtest-bins); like the other envtest suites it never skips: without the
// binaries it fails and says how to get them.

const testNamespace = "mail"

// startAPIServer starts a control plane for the test and returns a client.
func startAPIServer(t *testing.T) kubernetes.Interface {
	t.Helper()
	env, err := devenv.Start(devenv.Options{})
	if err != nil {
		t.Fatalf("starting the API server: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	})
	client, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return client
}

// writeShards writes c as the operator does: config.Split into small
// shards, shard 0 last. It returns the configuration's hash.
func writeShards(t *testing.T, client kubernetes.Interface, c *config.Config) string {
	t.Helper()
	shards, err := config.Split(c, "mx-config", 256)
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) < 2 {
		t.Fatalf("the test configuration fits in %d shard; want several", len(shards))
	}
	for i := len(shards) - 1; i >= 0; i-- {
		writeSecret(t, client, shards[i].Name, shards[i].Data)
	}
	return c.Hash()
}

// writeSecret creates or replaces a Secret of the test namespace.
func writeSecret(t *testing.T, client kubernetes.Interface, name string, data map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	secrets := client.CoreV1().Secrets(testNamespace)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}
	_, err := secrets.Update(ctx, sec, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		_, err = secrets.Create(ctx, sec, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatalf("writing Secret %s: %v", name, err)
	}
}

// statusHash reads data.configHash of the status ConfigMap.
func statusHash(t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps(testNamespace).Get(context.Background(), "mx-status-mx-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data[config.StatusHashKey]
}

func TestRunServesTheConfigurationOfTheSecrets(t *testing.T) {
	client := startAPIServer(t)
	ctx := context.Background()
	if _, err := client.CoreV1().ConfigMaps(testNamespace).Create(ctx,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mx-status-mx-0"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A free port for the ops endpoints served while the server waits.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	startupOps := probe.Addr().String()
	_ = probe.Close()

	logs := &testlog.Buffer{}
	s, err := New(Options{
		ConfigSecret: &configsource.SecretOptions{
			Client: client, Namespace: testNamespace, Name: config.ShardName("mx-config", 0),
			StatusConfigMap: "mx-status-mx-0", RetryInterval: 100 * time.Millisecond,
			StartupOpsAddress: startupOps,
		},
		Logger:          slog.New(slog.NewTextHandler(logs, nil)),
		ShutdownTimeout: 5 * time.Second, ConfigDebounce: 20 * time.Millisecond,
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

	// No Secret yet: the server waits, saying so, and does not give up.
	waitFor(t, "the server to say it waits for the Secret", func() bool {
		return strings.Count(logs.String(), "Waiting for a valid configuration") >= 3
	})
	select {
	case err := <-done:
		t.Fatalf("Run ended without a configuration: %v\n%s", err, logs.String())
	case <-s.Ready():
		t.Fatal("the server is ready without a configuration")
	default:
	}
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable} {
		resp, err := http.Get("http://" + startupOps + path) //nolint:noctx // a test's one-shot probe
		if err != nil {
			t.Fatalf("while waiting for the Secret, %s: %v", path, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("while waiting for the Secret, %s answered %d, want %d", path, resp.StatusCode, want)
		}
	}

	c := listeningConfig(t)
	first := writeShards(t, client, compile(t, c))
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run ended before it was ready: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not become ready\n%s", logs.String())
	}
	if conn, err := net.Dial("tcp", startupOps); err == nil {
		_ = conn.Close()
		t.Error("the startup ops endpoint still answers once the configuration serves its own")
	}
	if got := s.serving.Current().Hash(); got != first {
		t.Errorf("serving %.12s, want %.12s", got, first)
	}
	resp, err := http.Get("http://" + s.Addr("ops").String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /readyz: %d, want 200", resp.StatusCode)
	}
	greeting := dial(t, s.Addr("pop3").String())
	if got := greeting.line(t); !strings.HasPrefix(got, "+OK") {
		t.Errorf("POP3 greets %q", got)
	}
	_ = greeting.Close()
	waitFor(t, "the status ConfigMap to show the first hash", func() bool { return statusHash(t, client) == first })

	// A new mailbox is served, with its account, and reported.
	c.Mailboxes = append(c.Mailboxes, config.Mailbox{Address: "dave@example.test", PasswordHash: testHash})
	second := writeShards(t, client, compile(t, c))
	waitFor(t, "the new mailbox to be served", func() bool {
		if _, ok := s.serving.Current().LookupMailbox("dave@example.test"); !ok {
			return false
		}
		if _, err := s.store.Usage(ctx, "dave@example.test"); err != nil {
			t.Fatalf("dave is served but has no account: %v", err)
		}
		return true
	})
	if got := s.serving.Current().Hash(); got != second {
		t.Errorf("serving %.12s, want %.12s", got, second)
	}
	waitFor(t, "the status ConfigMap to show the new hash", func() bool { return statusHash(t, client) == second })

	// Shards of different versions and an invalid configuration are
	// refused; the configuration served stays.
	c.Mailboxes = append(c.Mailboxes, config.Mailbox{Address: "erin@example.test", PasswordHash: testHash})
	half, err := config.Split(compile(t, c), "mx-config", 256)
	if err != nil {
		t.Fatal(err)
	}
	writeSecret(t, client, half[0].Name, half[0].Data) // shard 0 first: the others are of the old version
	waitFor(t, "the mismatch to be refused", func() bool {
		return testutil.ToFloat64(s.metrics.reloads.WithLabelValues("failed")) >= 1
	})
	if got := s.serving.Current().Hash(); got != second {
		t.Errorf("half-written shards replaced the served configuration: %.12s", got)
	}
	for _, sh := range half[1:] {
		writeSecret(t, client, sh.Name, sh.Data)
	}
	// The refusal is retried; once the writer finishes the shards match.
	waitFor(t, "the completed change to be served", func() bool {
		_, ok := s.serving.Current().LookupMailbox("erin@example.test")
		return ok
	})
	third := s.serving.Current().Hash()

	failed := testutil.ToFloat64(s.metrics.reloads.WithLabelValues("failed"))
	bad := invalidShard(t, "apiVersion: "+config.APIVersion+"\nkind: "+config.Kind+"\n")
	writeSecret(t, client, bad.Name, bad.Data)
	waitFor(t, "the invalid configuration to be refused", func() bool {
		return testutil.ToFloat64(s.metrics.reloads.WithLabelValues("failed")) > failed
	})
	if got := s.serving.Current().Hash(); got != third {
		t.Errorf("an invalid configuration replaced the served one: %.12s", got)
	}
	if !strings.Contains(logs.String(), "hostname: required") {
		t.Errorf("the field error was not logged:\n%s", logs.String())
	}
	waitFor(t, "the status ConfigMap to show the hash served", func() bool { return statusHash(t, client) == third })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// invalidShard is shard 0 of a configuration that does not validate, as a
// broken writer would make it: its envelope (index, hash, digest) is
// consistent, so only validation refuses it.
func invalidShard(t *testing.T, doc string) config.Shard {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	const hash = "0123456789abcdef"
	name := config.ShardName("mx-config", 0)
	index, err := json.Marshal(config.ShardIndex{
		Hash: hash, Encoding: config.ShardEncoding, Size: buf.Len(),
		Digest: hex.EncodeToString(sum[:]), Shards: []string{name},
	})
	if err != nil {
		t.Fatal(err)
	}
	return config.Shard{Name: name, Data: map[string][]byte{
		config.ShardIndexKey: index, config.ShardHashKey: []byte(hash), config.ShardPartKey: buf.Bytes(),
	}}
}

func TestNewWantsExactlyOneSource(t *testing.T) {
	for name, opts := range map[string]Options{
		"neither a file nor a Secret": {},
		"both a file and a Secret":    {ConfigPath: "x.yaml", ConfigSecret: &configsource.SecretOptions{Namespace: "a", Name: "b"}},
		"a Secret without a client":   {ConfigSecret: &configsource.SecretOptions{Namespace: "a", Name: "b"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(opts); err == nil {
				t.Error("New accepted the options")
			}
		})
	}
}
