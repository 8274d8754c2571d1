package config

import "testing"

// The operator compiles (New) and every replica joins and parses (Join)
// the whole configuration on each change; these bound what a change of one
// Mailbox costs among 10,000.

func BenchmarkNew10000Mailboxes(b *testing.B) {
	c := *bigConfig(b, 10000)
	for b.Loop() {
		if _, err := New(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJoin10000Mailboxes(b *testing.B) {
	shards, err := Split(bigConfig(b, 10000), "mx-config", 0)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]map[string][]byte, len(shards))
	for i, s := range shards {
		data[i] = s.Data
	}
	for b.Loop() {
		if _, err := Join(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplit10000Mailboxes(b *testing.B) {
	c := bigConfig(b, 10000)
	for b.Loop() {
		if _, err := Split(c, "mx-config", 0); err != nil {
			b.Fatal(err)
		}
	}
}
