package verdicts

import (
	"slices"
	"testing"
)

func TestSetUsageReportsWhatChanged(t *testing.T) {
	s := New()
	if got := s.SetUsage("ns", "mx1", map[string]int64{"a@example.com": 1}); got != nil {
		t.Fatalf("usage recorded before the namespace was published: %v", got)
	}
	s.Publish("ns", "mx1", Objects{}, Judgement{}, &Config{Hash: "h1"})
	steps := []struct {
		name string
		used map[string]int64
		want []string
	}{
		{"the first report changes every address", map[string]int64{"a@example.com": 1, "b@example.com": 0}, []string{"a@example.com", "b@example.com"}},
		{"the same report changes nothing", map[string]int64{"a@example.com": 1, "b@example.com": 0}, nil},
		{"no measurement changes nothing", nil, nil},
		{"a grown mailbox changes", map[string]int64{"a@example.com": 5, "b@example.com": 0}, []string{"a@example.com"}},
		{"an address no longer reported changes", map[string]int64{"a@example.com": 5}, []string{"b@example.com"}},
	}
	for _, st := range steps {
		got := s.SetUsage("ns", "mx1", st.used)
		slices.Sort(got)
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: changed %v, want %v", st.name, got, st.want)
		}
	}
	if n, ok := s.Usage("ns", "a@example.com"); !ok || n != 5 {
		t.Errorf("Usage(a) = %d, %v; want 5", n, ok)
	}
	if _, ok := s.Usage("ns", "b@example.com"); ok {
		t.Error("an address no longer reported still has a usage")
	}
	s.Publish("ns", "mx1", Objects{}, Judgement{}, &Config{Hash: "h2"})
	if n, ok := s.Usage("ns", "a@example.com"); !ok || n != 5 {
		t.Errorf("a new Publish lost the usage: %d, %v", n, ok)
	}
	s.Forget("ns", "mx1")
	if _, ok := s.Usage("ns", "a@example.com"); ok {
		t.Error("a forgotten MailServer's usage is still reported")
	}
}
