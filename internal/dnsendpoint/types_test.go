package dnsendpoint

import (
	"encoding/json"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

// sample is a DNSEndpoint as external-dns documents it (docs/sources/crd.md).
const sample = `apiVersion: externaldns.k8s.io/v1alpha1
kind: DNSEndpoint
metadata:
  name: examplednsrecord
spec:
  endpoints:
  - dnsName: foo.bar.com
    recordTTL: 180
    recordType: A
    targets:
    - 192.168.99.216
    labels:
      owner: me
    providerSpecific:
    - name: aws/weight
      value: "10"
    setIdentifier: one
status:
  observedGeneration: 2
`

func TestWireFormatMatchesExternalDNS(t *testing.T) {
	var ep DNSEndpoint
	if err := yaml.UnmarshalStrict([]byte(sample), &ep); err != nil {
		t.Fatalf("the sample does not decode strictly: %v", err)
	}
	e := ep.Spec.Endpoints[0]
	if e.DNSName != "foo.bar.com" || e.RecordTTL != 180 || e.RecordType != "A" || e.Targets[0] != "192.168.99.216" ||
		e.Labels["owner"] != "me" || e.ProviderSpecific[0].Value != "10" || e.SetIdentifier != "one" || ep.Status.ObservedGeneration != 2 {
		t.Errorf("decoded %+v", e)
	}
	out, err := json.Marshal(&ep)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	j, _ := yaml.YAMLToJSON([]byte(sample))
	_ = json.Unmarshal(j, &a)
	_ = json.Unmarshal(out, &b)
	delete(b["metadata"].(map[string]any), "creationTimestamp")
	if !reflect.DeepEqual(a, b) {
		t.Errorf("round trip changed the object:\n%s", out)
	}
	if c := ep.DeepCopy(); !reflect.DeepEqual(c, &ep) || &c.Spec.Endpoints[0] == &ep.Spec.Endpoints[0] || c.Spec.Endpoints[0] == ep.Spec.Endpoints[0] {
		t.Error("DeepCopy does not copy the endpoints")
	}
}
