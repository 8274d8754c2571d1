package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// manifest parses one YAML object.
func manifest(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(s), &u.Object); err != nil {
		t.Fatalf("bad test manifest: %v", err)
	}
	return u
}

const (
	goodServer = `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailServer
metadata: {name: mx}
spec:
  hostname: mx.example.com
`
	goodDomain = `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailDomain
metadata: {name: d}
spec:
  domain: example.com
  serverRef: {name: mx}
`
	goodMailbox = `
apiVersion: mail.kubemail.io/v1alpha1
kind: Mailbox
metadata: {name: m}
spec:
  address: alice@example.com
`
	goodAlias = `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailAlias
metadata: {name: a}
spec:
  address: sales@example.com
  targets: [alice@example.com]
`
	goodPolicy = `
apiVersion: mail.kubemail.io/v1alpha1
kind: RelayPolicy
metadata: {name: p}
spec:
  serverRef: {name: mx}
`
)

func TestBadManifestsAreRefused(t *testing.T) {
	tests := map[string]struct {
		manifest string
		want     []string // fragments the API server's message must contain
	}{
		"a mailbox address without a domain": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: Mailbox
metadata: {name: m}
spec: {address: alice}`,
			want: []string{"spec.address", "must be a lower-case email address"},
		},
		"a mailbox address in upper case": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: Mailbox
metadata: {name: m}
spec: {address: Alice@Example.com}`,
			want: []string{"spec.address", "must be a lower-case email address"},
		},
		"a mailbox without an address": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: Mailbox
metadata: {name: m}
spec: {suspended: true}`,
			want: []string{"spec.address", "Required value"},
		},
		"a negative quota": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: Mailbox
metadata: {name: m}
spec: {address: alice@example.com, quota: -1Gi}`,
			want: []string{"spec.quota", "quota must not be negative"},
		},
		"a malformed alias target": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailAlias
metadata: {name: a}
spec: {address: sales@example.com, targets: ["not an address"]}`,
			want: []string{"spec.targets[0]", "must be a lower-case email address"},
		},
		"an alias without targets": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailAlias
metadata: {name: a}
spec: {address: sales@example.com, targets: []}`,
			want: []string{"spec.targets", "should have at least 1 items"},
		},
		"a domain with a trailing dot": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailDomain
metadata: {name: d}
spec: {domain: example.com., serverRef: {name: mx}}`,
			want: []string{"spec.domain", "fully qualified domain name"},
		},
		"a domain without a server": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailDomain
metadata: {name: d}
spec: {domain: example.com}`,
			want: []string{"spec.serverRef", "Required value"},
		},
		"an unknown DMARC policy": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailDomain
metadata: {name: d}
spec: {domain: example.com, serverRef: {name: mx}, dns: {dmarc: {policy: bounce}}}`,
			want: []string{"spec.dns.dmarc.policy", "Unsupported value", `"reject"`},
		},
		"a smarthost mode without a smarthost": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: RelayPolicy
metadata: {name: p}
spec: {serverRef: {name: mx}, mode: Smarthost}`,
			want: []string{"mode Smarthost needs smarthost.host"},
		},
		"a smarthost without a host": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: RelayPolicy
metadata: {name: p}
spec: {serverRef: {name: mx}, mode: Smarthost, smarthost: {port: 587}}`,
			want: []string{"spec.smarthost.host", "Required value"},
		},
		"a smarthost route without a smarthost": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: RelayPolicy
metadata: {name: p}
spec: {serverRef: {name: mx}, routes: [{domains: [example.org], mode: Smarthost}]}`,
			want: []string{"spec.routes[0]", "a route with mode Smarthost needs smarthost.host"},
		},
		"an allowed network that is not a CIDR": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: RelayPolicy
metadata: {name: p}
spec: {serverRef: {name: mx}, allowedNetworks: [10.0.0.1]}`,
			want: []string{"spec.allowedNetworks[0]", "CIDR notation"},
		},
		"two replicas on the embedded store": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailServer
metadata: {name: mx}
spec: {hostname: mx.example.com, replicas: 2}`,
			want: []string{"the Embedded storage serves one replica"},
		},
		"PostgreSQL storage without a database": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailServer
metadata: {name: mx}
spec: {hostname: mx.example.com, storage: {type: PostgreSQL}}`,
			want: []string{"storage.postgreSQL is required when storage.type is PostgreSQL"},
		},
		"both a cert-manager issuer and a Secret": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailServer
metadata: {name: mx}
spec: {hostname: mx.example.com, tls: {secretName: s, issuerRef: {name: letsencrypt}}}`,
			want: []string{"set tls.issuerRef or tls.secretName, not both"},
		},
		"a zero message size limit": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailServer
metadata: {name: mx}
spec: {hostname: mx.example.com, limits: {maxMessageSize: "0"}}`,
			want: []string{"spec.limits.maxMessageSize", "maxMessageSize must be positive"},
		},
		"a server hostname that is not a name": {
			manifest: `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailServer
metadata: {name: mx}
spec: {hostname: "mx_1"}`,
			want: []string{"spec.hostname", "fully qualified domain name"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := create(context.Background(), newNamespace(t), manifest(t, tc.manifest))
			if err == nil {
				t.Fatal("the API server accepted it")
			}
			for _, frag := range tc.want {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("message %q lacks %q", err.Error(), frag)
				}
			}
		})
	}
}

func TestImmutableFieldsCannotChange(t *testing.T) {
	tests := map[string]struct {
		manifest string
		path     []string
		value    string
		want     string
	}{
		"a domain's name":     {goodDomain, []string{"spec", "domain"}, "example.org", "domain is immutable"},
		"a mailbox's address": {goodMailbox, []string{"spec", "address"}, "bob@example.com", "address is immutable"},
		"an alias's address":  {goodAlias, []string{"spec", "address"}, "info@example.com", "address is immutable"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			u := manifest(t, tc.manifest)
			if err := create(ctx, newNamespace(t), u); err != nil {
				t.Fatalf("creating: %v", err)
			}
			if err := unstructured.SetNestedField(u.Object, tc.value, tc.path...); err != nil {
				t.Fatal(err)
			}
			err := k8s.Update(ctx, u)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("update: got %v, want a refusal saying %q", err, tc.want)
			}
		})
	}
}

func TestGoodManifestsAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	for _, m := range []string{goodServer, goodDomain, goodMailbox, goodAlias, goodPolicy, `
apiVersion: mail.kubemail.io/v1alpha1
kind: MailAlias
metadata: {name: catch-all}
spec: {address: "@example.com", targets: [alice@example.com, someone@elsewhere.example]}`} {
		u := manifest(t, m)
		if err := create(context.Background(), ns, u); err != nil {
			t.Errorf("%s %s refused: %v", u.GetKind(), u.GetName(), err)
		}
	}
}
