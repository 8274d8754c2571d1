package config

import (
	"strings"
	"sync"
	"testing"
)

func TestHolder(t *testing.T) {
	a, err := hostConfig("a.example.test")
	if err != nil {
		t.Fatal(err)
	}
	aAgain, _ := hostConfig("A.example.test")
	b, _ := hostConfig("b.example.test")
	h := NewHolder(a)

	var calls []string
	h.OnChange(func(old, new *Config) { calls = append(calls, "first "+old.Hostname+"→"+new.Hostname) })
	h.OnChange(func(old, new *Config) { panic("subsystem bug") })
	h.OnChange(func(old, new *Config) { calls = append(calls, "third "+old.Hostname+"→"+new.Hostname) })

	if changed, err := h.Store(aAgain); changed || err != nil || len(calls) != 0 {
		t.Fatalf("storing equal content: changed=%v err=%v calls=%v", changed, err, calls)
	}
	changed, err := h.Store(b)
	if !changed || h.Current() != b {
		t.Fatalf("Store(b): changed=%v, current %s", changed, h.Current().Hostname)
	}
	if err == nil || !strings.Contains(err.Error(), "callback 1: panic: subsystem bug") {
		t.Fatalf("Store(b) err = %v, want the panic reported", err)
	}
	want := []string{"first a.example.test→b.example.test", "third a.example.test→b.example.test"}
	if strings.Join(calls, ";") != strings.Join(want, ";") {
		t.Fatalf("calls = %v, want %v", calls, want)
	}
	if hash, _, ok := h.LookupPassword("alice@example.test"); !ok || hash != testHash {
		t.Fatalf("LookupPassword through the holder = %q, %v", hash, ok)
	}
}

func TestHolderConcurrentReadersSeeWholeConfigs(t *testing.T) {
	a, _ := hostConfig("a.example.test")
	b, _ := hostConfig("b.example.test")
	h := NewHolder(a)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := h.Current()
				if c != a && c != b {
					t.Error("Current returned neither configuration")
					return
				}
			}
		}()
	}
	for i := range 200 {
		if i%2 == 0 {
			_, _ = h.Store(b)
		} else {
			_, _ = h.Store(a)
		}
	}
	close(stop)
	wg.Wait()
}

// hostConfig is validConfig, compiled, with the given hostname.
func hostConfig(hostname string) (*Config, error) {
	c := validConfig()
	c.Hostname = hostname
	return New(c)
}
