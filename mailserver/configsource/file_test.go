package configsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/kubemail/kubemail/internal/testlog"
	"github.com/kubemail/kubemail/mailserver/config"
)

// waitFor polls cond until it holds; the limit only stops a broken test from
// hanging and asserts nothing about speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// configDoc renders a valid document whose hostname tells versions apart.
func configDoc(hostname string) []byte {
	return fmt.Appendf(nil, `apiVersion: server.kubemail.io/v1alpha1
kind: ServerConfig
hostname: %s
storage: {path: data}
domains: [{name: example.test}]
mailboxes:
- address: alice@example.test
  passwordHash: "%s"
`, hostname, testHash)
}

// badDoc fails validation at mailboxes[0].address.
var badDoc = bytes.Replace(configDoc("bad.example.test"), []byte("alice@example.test"), []byte("alice@"), 1)

// watchFixture runs a Watcher on path until the test ends.
type watchFixture struct {
	holder  *config.Holder
	watcher *Watcher
	logs    *testlog.Buffer
	changes chan string // new hostnames, from OnChange
	done    chan error
}

func startWatcher(t *testing.T, path string, customise func(*Watcher)) *watchFixture {
	t.Helper()
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	f := &watchFixture{holder: config.NewHolder(c), logs: &testlog.Buffer{}, changes: make(chan string, 16), done: make(chan error, 1)}
	f.holder.OnChange(func(old, new *config.Config) { f.changes <- new.Hostname })
	f.watcher, err = NewWatcher(WatcherOptions{
		Path: path, Holder: f.holder, Debounce: 20 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(f.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if customise != nil {
		customise(f.watcher)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { f.done <- f.watcher.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-f.done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
	return f
}

// expectChange waits for the next OnChange and checks the new hostname.
func (f *watchFixture) expectChange(t *testing.T, hostname string) {
	t.Helper()
	select {
	case got := <-f.changes:
		if got != hostname {
			t.Fatalf("changed to %q, want %q", got, hostname)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("gave up waiting for the change to %q", hostname)
	}
	if f.holder.Current().Hostname != hostname {
		t.Fatalf("Current().Hostname = %q, want %q", f.holder.Current().Hostname, hostname)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes data beside path and renames it over path, as editors
// and configuration tools do.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherAppliesValidChangesAndRefusesInvalidOnes(t *testing.T) {
	for name, notify := range map[string]func() (*fsnotify.Watcher, error){
		"with file notifications": nil,
		"when falling back to polling": func() (*fsnotify.Watcher, error) {
			return nil, errors.New("inotify unavailable")
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "server.yaml")
			writeFile(t, path, configDoc("one.example.test"))
			f := startWatcher(t, path, func(w *Watcher) {
				if notify != nil {
					w.notify = notify
				}
			})

			writeFile(t, path, configDoc("two.example.test"))
			f.expectChange(t, "two.example.test")
			good := f.holder.Current().Hash()

			replaceFile(t, path, badDoc)
			waitFor(t, "the refusal", func() bool { return f.watcher.LastError() != nil })
			if err := f.watcher.LastError(); !strings.Contains(err.Error(), `mailboxes[0].address: "alice@" is not a valid email address`) {
				t.Fatalf("LastError = %v, want the field named", err)
			}
			if f.holder.Current().Hash() != good {
				t.Fatal("an invalid file replaced the served configuration")
			}
			waitFor(t, "the refusal to be logged", func() bool {
				return strings.Contains(f.logs.String(), "Refusing configuration change") && strings.Contains(f.logs.String(), "mailboxes[0].address")
			})

			replaceFile(t, path, configDoc("three.example.test"))
			f.expectChange(t, "three.example.test")
			if err := f.watcher.LastError(); err != nil {
				t.Fatalf("LastError after a good file = %v", err)
			}
			if name == "when falling back to polling" && !strings.Contains(f.logs.String(), "polling") {
				t.Errorf("the fallback to polling was not logged:\n%s", f.logs)
			}
		})
	}
}

// Kubernetes mounts a ConfigMap or Secret as
//
//	server.yaml -> ..data/server.yaml
//	..data      -> ..2025_01_01_00_00_00.1
//
// and updates it by writing a new timestamped directory, pointing a new
// symlink ..data_tmp at it and renaming ..data_tmp over ..data.
func TestWatcherFollowsKubernetesSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	version := 0
	publish := func(data []byte) {
		version++
		ts := fmt.Sprintf("..2025_01_01_00_00_0%d.1", version)
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, ts, "server.yaml"), data)
		if err := os.Symlink(ts, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		if version > 1 {
			if err := os.RemoveAll(filepath.Join(dir, fmt.Sprintf("..2025_01_01_00_00_0%d.1", version-1))); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(configDoc("one.example.test"))
	path := filepath.Join(dir, "server.yaml")
	if err := os.Symlink(filepath.Join("..data", "server.yaml"), path); err != nil {
		t.Fatal(err)
	}
	f := startWatcher(t, path, nil)

	publish(configDoc("two.example.test"))
	f.expectChange(t, "two.example.test")
	publish(badDoc)
	waitFor(t, "the refusal", func() bool { return f.watcher.LastError() != nil })
	if f.holder.Current().Hostname != "two.example.test" {
		t.Fatal("an invalid file replaced the served configuration")
	}
	publish(configDoc("three.example.test"))
	f.expectChange(t, "three.example.test")
}

// A configuration file that is a symlink into another directory is followed
// when the target is edited in place.
func TestWatcherFollowsSymlinkTarget(t *testing.T) {
	real := filepath.Join(t.TempDir(), "real.yaml")
	writeFile(t, real, configDoc("one.example.test"))
	path := filepath.Join(t.TempDir(), "server.yaml")
	if err := os.Symlink(real, path); err != nil {
		t.Fatal(err)
	}
	f := startWatcher(t, path, nil)
	writeFile(t, real, configDoc("two.example.test"))
	f.expectChange(t, "two.example.test")
}

func TestWatcherIgnoresUnchangedContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.yaml")
	writeFile(t, path, configDoc("one.example.test"))
	f := startWatcher(t, path, nil)
	// Same content, reformatted: reloaded, but the hash is the same.
	writeFile(t, path, append([]byte("# a comment\n"), configDoc("ONE.example.test")...))
	writeFile(t, path, configDoc("two.example.test"))
	f.expectChange(t, "two.example.test") // the first change seen is the real one
}

func TestNewWatcherRequiresPathAndHolder(t *testing.T) {
	if _, err := NewWatcher(WatcherOptions{Path: "x"}); err == nil {
		t.Error("NewWatcher without Holder succeeded")
	}
	c, _ := config.New(validConfig())
	if _, err := NewWatcher(WatcherOptions{Holder: config.NewHolder(c)}); err == nil {
		t.Error("NewWatcher without Path succeeded")
	}
}

// testHash is a recognised password hash of "Hello world!" (SHA512-CRYPT).
const testHash = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"

// validConfig is a small valid configuration that test cases modify.
func validConfig() config.Config {
	return config.Config{
		APIVersion: config.APIVersion,
		Kind:       config.Kind,
		Hostname:   "mx.example.test",
		Listeners: config.Listeners{
			SMTP: config.Listener{Address: "127.0.0.1:2525"},
			IMAP: config.Listener{Address: "127.0.0.1:1143"},
		},
		Storage: config.Storage{Path: "data"},
		Domains: []config.Domain{{Name: "example.test"}, {Name: "example.org"}},
		Mailboxes: []config.Mailbox{
			{Address: "alice@example.test", PasswordHash: testHash},
			{Address: "bob@example.test", PasswordHash: testHash},
		},
		Aliases: []config.Alias{{Address: "team@example.test", Targets: []string{"alice@example.test"}}},
	}
}
