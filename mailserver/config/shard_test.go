package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// bigConfig returns a configuration with n mailboxes, each with an alias.
func bigConfig(t testing.TB, n int) *Config {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2)) // distinct hashes, as with real salts, but the same every run
	b64 := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return base64.RawStdEncoding.EncodeToString(b)
	}
	c := Config{
		APIVersion: APIVersion, Kind: Kind, Hostname: "mx1.example.com",
		Listeners: Listeners{SMTP: Listener{Address: ":2525"}},
		Storage:   Storage{Path: "/var/lib/kubemail"},
		Domains:   []Domain{{Name: "example.com", DKIM: &DKIM{Selector: "k1", KeyFile: "/etc/kubemail/dkim/example.com.pem"}}},
	}
	for i := range n {
		c.Mailboxes = append(c.Mailboxes, Mailbox{
			Address:      fmt.Sprintf("user%06d@example.com", i),
			PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$" + b64(16) + "$" + b64(32),
			Aliases:      []string{fmt.Sprintf("u%06d@example.com", i)},
			QuotaBytes:   int64(i) << 20,
		})
	}
	cfg, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func shardData(shards []Shard) []map[string][]byte {
	out := make([]map[string][]byte, len(shards))
	for i, s := range shards {
		out[i] = s.Data
	}
	return out
}

func TestSplitJoinFiftyThousandMailboxes(t *testing.T) {
	n := shardTestMailboxes
	c := bigConfig(t, n)
	// Small shards under the race detector, so that there are several.
	shards, err := Split(c, "mx1-config", DefaultShardBytes*n/50_000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d mailboxes: %d shards", n, len(shards))
	if len(shards) < 2 {
		t.Errorf("got %d shard(s); %d mailboxes should need several (is the test too small?)", len(shards), n)
	}
	for i, s := range shards {
		if want := fmt.Sprintf("mx1-config-%d", i); s.Name != want {
			t.Errorf("shard %d is named %q, want %q", i, s.Name, want)
		}
		size := 0
		for k, v := range s.Data {
			size += len(k) + len(v)
		}
		if size > 1<<20-16<<10 {
			t.Errorf("shard %d holds %d bytes, too close to Kubernetes' 1 MiB", i, size)
		}
	}
	idx, err := ReadShardIndex(shards[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if idx.Hash != c.Hash() || len(idx.Shards) != len(shards) {
		t.Errorf("index %+v does not describe the %d shards of %s", idx, len(shards), c.Hash())
	}
	got, err := Join(shardData(shards))
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash() != c.Hash() || len(got.Mailboxes) != n {
		t.Errorf("joined %d mailboxes with hash %s, want %d with %s", len(got.Mailboxes), got.Hash(), n, c.Hash())
	}
	if m, ok := got.LookupMailbox(fmt.Sprintf("user%06d@example.com", n-1)); !ok || m.QuotaBytes != int64(n-1)<<20 {
		t.Errorf("the last mailbox did not survive: %+v %v", m, ok)
	}

	again, err := Split(c, "mx1-config", DefaultShardBytes*n/50_000)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, shards) {
		t.Error("splitting the same configuration twice gives different shards; every reconcile would rewrite them")
	}
}

func TestJoinRefusesMixedOrDamagedShards(t *testing.T) {
	c1, c2 := bigConfig(t, 3000), bigConfig(t, 3001)
	s1, err := Split(c1, "cfg", 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Split(c2, "cfg", 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if len(s1) < 3 {
		t.Fatalf("want at least 3 shards of 64 KiB, got %d", len(s1))
	}
	tests := map[string]struct {
		shards  func() []map[string][]byte
		want    error
		message string
	}{
		"a shard of another version": {
			shards: func() []map[string][]byte { d := shardData(s1); d[1] = s2[1].Data; return d },
			want:   ErrShardMismatch,
		},
		"a shard missing": {
			shards: func() []map[string][]byte { return shardData(s1)[:len(s1)-1] },
			want:   ErrShardMismatch,
		},
		"a piece altered but the hash kept": {
			shards: func() []map[string][]byte {
				d := shardData(s1)
				part := append([]byte(nil), d[1][ShardPartKey]...)
				part[10] ^= 0xff
				d[1] = map[string][]byte{ShardHashKey: d[1][ShardHashKey], ShardPartKey: part}
				return d
			},
			want: ErrShardMismatch,
		},
		"no index": {
			shards:  func() []map[string][]byte { return []map[string][]byte{{ShardPartKey: []byte("x")}} },
			message: "no index.json key",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Join(tc.shards())
			if err == nil {
				t.Fatal("Join accepted the shards")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if tc.message != "" && !strings.Contains(err.Error(), tc.message) {
				t.Errorf("got %v, want it to say %q", err, tc.message)
			}
		})
	}
}

func TestSplitSmallConfigIsOneShard(t *testing.T) {
	c := bigConfig(t, 1)
	shards, err := Split(c, "mx1-config", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 1 || shards[0].Name != "mx1-config-0" {
		t.Fatalf("got %d shards, first %q; want one named mx1-config-0", len(shards), shards[0].Name)
	}
	got, err := Join(shardData(shards))
	if err != nil || got.Hash() != c.Hash() {
		t.Fatalf("Join: %v (hash %v)", err, got)
	}
}
