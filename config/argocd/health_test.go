// Package argocd_test checks health.lua, the Argo CD health check of the
// kubemail kinds, with the Lua interpreter Argo CD embeds (gopher-lua).
package argocd_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

// toLua converts a decoded JSON value into a Lua value, as Argo CD does.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case bool:
		return lua.LBool(v)
	default:
		return lua.LNil
	}
}

// health runs the script on a manifest and returns status and message.
func health(t *testing.T, script, manifest string) (string, string) {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("running health.lua: %v", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health.lua returned %v, not a table", L.Get(-1))
	}
	return ret.RawGetString("status").String(), ret.RawGetString("message").String()
}

func TestHealth(t *testing.T) {
	script, err := os.ReadFile("health.lua")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		manifest      string
		status, inMsg string
	}{
		"a new object without status is progressing": {`
kind: MailServer
metadata: {generation: 1}
spec: {hostname: mx1.example.com}`, "Progressing", "report status"},
		"a Ready server is healthy": {`
kind: MailServer
metadata: {generation: 2}
status:
  observedGeneration: 2
  conditions:
  - {type: Available, status: "True", reason: Available, observedGeneration: 2}
  - {type: Ready, status: "True", reason: Ready, message: serving mx1.example.com, observedGeneration: 2}`, "Healthy", "Ready: serving mx1.example.com"},
		"a blocked mailbox is degraded and says why": {`
kind: Mailbox
metadata: {generation: 1}
status:
  observedGeneration: 1
  conditions:
  - {type: Ready, status: "False", reason: DomainNotFound, message: no MailDomain serves example.net, observedGeneration: 1}`, "Degraded", "DomainNotFound: no MailDomain serves example.net"},
		"a domain waiting for its rollout is progressing": {`
kind: MailDomain
metadata: {generation: 3}
status:
  observedGeneration: 3
  conditions:
  - {type: DNSPublished, status: "False", reason: ExternalDNSNotInstalled, observedGeneration: 3}
  - {type: Ready, status: Unknown, reason: ConfigPending, message: waiting, observedGeneration: 3}`, "Progressing", "ConfigPending"},
		"a status about an older spec is progressing, even if Ready": {`
kind: RelayPolicy
metadata: {generation: 4}
status:
  observedGeneration: 3
  conditions:
  - {type: Ready, status: "True", reason: Ready, observedGeneration: 3}`, "Progressing", "generation 4"},
		"a Ready condition about an older spec is progressing": {`
kind: MailAlias
metadata: {generation: 2}
status:
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "False", reason: AliasLoop, observedGeneration: 1}`, "Progressing", "generation 2"},
		"conditions without Ready are progressing": {`
kind: MailServer
metadata: {generation: 1}
status:
  observedGeneration: 1
  conditions:
  - {type: Available, status: "True", observedGeneration: 1}`, "Progressing", "Ready condition"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, msg := health(t, string(script), tc.manifest)
			if status != tc.status || !strings.Contains(msg, tc.inMsg) {
				t.Errorf("got %s %q, want %s containing %q", status, msg, tc.status, tc.inMsg)
			}
		})
	}
}

func TestSnippetCarriesTheScriptForEveryKind(t *testing.T) {
	script, err := os.ReadFile("health.lua")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("argocd-cm-snippet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Kind     string                `json:"kind"`
		Metadata struct{ Name string } `json:"metadata"`
		Data     map[string]string     `json:"data"`
	}
	if err := yaml.Unmarshal(data, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Kind != "ConfigMap" || cm.Metadata.Name != "argocd-cm" {
		t.Errorf("the snippet is a %s named %s, not the argocd-cm ConfigMap", cm.Kind, cm.Metadata.Name)
	}
	for _, kind := range []string{"MailServer", "MailDomain", "Mailbox", "MailAlias", "RelayPolicy"} {
		key := "resource.customizations.health.mail.kubemail.io_" + kind
		if cm.Data[key] != string(script) {
			t.Errorf("%s differs from health.lua (or is missing)", key)
		}
	}
}
