package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kubemail/kubemail/mailserver/auth"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const samplePath = "../../config/standalone/server.yaml"

func TestStandaloneSample(t *testing.T) {
	c, err := Load(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ got, want any }{
		"hostname":    {c.Hostname, "localhost"},
		"smtp":        {c.Listeners.SMTP.Address, "127.0.0.1:2525"},
		"submission":  {c.Listeners.Submission.Address, "127.0.0.1:2587"},
		"submissions": {c.Listeners.Submissions.Address, "127.0.0.1:2465"},
		"imap":        {c.Listeners.IMAP.Address, "127.0.0.1:1143"},
		"imaps":       {c.Listeners.IMAPS.Address, "127.0.0.1:1993"},
		"pop3":        {c.Listeners.POP3.Address, "127.0.0.1:1110"},
		"pop3s":       {c.Listeners.POP3S.Address, "127.0.0.1:1995"},
		"ops":         {c.Listeners.Ops.Address, "127.0.0.1:9380"},
		"self-signed": {c.TLS.SelfSigned(), true},
		"driver":      {c.Storage.Driver, DriverSQLite},
		"path":        {c.Storage.Path, "./.kubemail-data"},
		"local":       {c.IsLocalDomain("example.test"), true},
	}
	for name, w := range want {
		if w.got != w.want {
			t.Errorf("%s = %v, want %v", name, w.got, w.want)
		}
	}
	hash, suspended, ok := c.LookupPassword("demo@example.test")
	if !ok || suspended {
		t.Fatalf("demo account: found %v, suspended %v", ok, suspended)
	}
	if ok, err := auth.Verify(hash, "demo-password"); !ok || err != nil {
		t.Fatalf("the documented demo password does not verify: %v, %v", ok, err)
	}
	res, err := c.Resolve("postmaster@example.test")
	if err != nil || len(res.Accounts) != 1 || res.Accounts[0] != "demo@example.test" {
		t.Fatalf("postmaster resolves to %+v, %v; want demo", res, err)
	}
}

// The sample's canonical form (with defaults) and hash, refreshed with
// `go test ./mailserver/config -run TestSampleGolden -update`.
func TestSampleGolden(t *testing.T) {
	c, err := Load(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	got := append([]byte("# hash: "+c.Hash()+"\n"), y...)
	golden := filepath.Join("testdata", "standalone.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("canonical form differs from %s (run with -update if intended):\n%s", golden, got)
	}
	// The canonical form reads back to the same configuration.
	again, err := Parse(y)
	if err != nil {
		t.Fatalf("parsing the canonical form: %v", err)
	}
	if again.Hash() != c.Hash() {
		t.Errorf("round trip changed the hash: %s → %s", c.Hash(), again.Hash())
	}
}

func TestHashIsStable(t *testing.T) {
	orig, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	base, err := Parse(orig)
	if err != nil {
		t.Fatal(err)
	}
	if len(base.Hash()) != 64 {
		t.Fatalf("Hash = %q, want 64 hex digits", base.Hash())
	}
	again, _ := Parse(orig)
	asJSON, err := yaml.YAMLToJSON(orig)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := Parse(asJSON)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(asJSON, &generic); err != nil {
		t.Fatal(err)
	}
	// Defaults written out explicitly and addresses in upper case are the same content.
	generic["limits"] = map[string]any{"maxMessageBytes": 26214400, "commandTimeout": "300s", "maxRecipients": 100}
	generic["mailboxes"].([]any)[0].(map[string]any)["address"] = "DEMO@Example.TEST"
	explicit, _ := json.Marshal(generic)
	fromExplicit, err := Parse(explicit)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := Parse(bytes.Replace(orig, []byte("hostname: localhost"), []byte("hostname: mx.example.test"), 1))
	if err != nil {
		t.Fatal(err)
	}

	for name, tc := range map[string]struct {
		c    *Config
		same bool
	}{
		"the same file parsed twice":                   {again, true},
		"the same content as JSON":                     {fromJSON, true},
		"defaults spelt out and addresses upper-cased": {fromExplicit, true},
		"a different hostname":                         {changed, false},
	} {
		if (tc.c.Hash() == base.Hash()) != tc.same {
			t.Errorf("%s: hash %s vs %s, want same=%v", name, tc.c.Hash(), base.Hash(), tc.same)
		}
	}
	if !strings.Contains(string(orig), "demo-password") {
		t.Errorf("the sample no longer states its demo password in a comment")
	}
}
