package v1alpha1_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

func TestCategoriesAndShortNamesAreServed(t *testing.T) {
	dc, err := discovery.NewDiscoveryClientForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	list, err := dc.ServerResourcesForGroupVersion("mail.kubemail.io/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"mailservers": "ms", "maildomains": "md", "mailboxes": "mbx", "mailaliases": "mal", "relaypolicies": "rp"}
	for _, r := range list.APIResources {
		short, ok := want[r.Name]
		if !ok {
			continue
		}
		delete(want, r.Name)
		if !slices.Contains(r.Categories, "mail") {
			t.Errorf("%s: categories %v lack \"mail\" (kubectl get mail)", r.Name, r.Categories)
		}
		if !slices.Contains(r.ShortNames, short) {
			t.Errorf("%s: short names %v lack %q", r.Name, r.ShortNames, short)
		}
		if !r.Namespaced {
			t.Errorf("%s is not namespaced", r.Name)
		}
	}
	for name := range want {
		t.Errorf("%s is not served", name)
	}
}

func TestPrinterColumnsAreServed(t *testing.T) {
	ns := newNamespace(t)
	for _, m := range []string{goodServer, goodDomain, goodMailbox, goodAlias, goodPolicy} {
		if err := create(context.Background(), ns, manifest(t, m)); err != nil {
			t.Fatal(err)
		}
	}
	tests := map[string]struct {
		resource string
		columns  []string
	}{
		"MailServer shows hostname, readiness, replicas, domains and address": {"mailservers", []string{"Name", "Hostname", "Ready", "Replicas", "Domains", "Address", "Age"}},
		"MailDomain shows domain, server, readiness, mailboxes, DNS and DKIM": {"maildomains", []string{"Name", "Domain", "Server", "Ready", "Mailboxes", "DNS", "DKIM", "Age"}},
		"Mailbox shows address, readiness, quota and usage":                   {"mailboxes", []string{"Name", "Address", "Ready", "Quota", "Used", "Age"}},
		"MailAlias shows address, targets and readiness":                      {"mailaliases", []string{"Name", "Address", "Targets", "Ready", "Age"}},
		"RelayPolicy shows server, mode and readiness":                        {"relaypolicies", []string{"Name", "Server", "Mode", "Ready", "Age"}},
	}
	cfg := rest.CopyConfig(restConfig)
	cfg.GroupVersion = nil
	rc, err := rest.UnversionedRESTClientFor(withNegotiation(cfg))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			body, err := rc.Get().AbsPath("/apis/mail.kubemail.io/v1alpha1/namespaces", ns, tc.resource).
				SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var table struct {
				ColumnDefinitions []struct{ Name string } `json:"columnDefinitions"`
				Rows              []json.RawMessage       `json:"rows"`
			}
			if err := json.Unmarshal(body, &table); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range table.ColumnDefinitions {
				got = append(got, c.Name)
			}
			if !slices.Equal(got, tc.columns) {
				t.Errorf("columns %v, want %v", got, tc.columns)
			}
			if len(table.Rows) != 1 {
				t.Errorf("%d rows, want 1", len(table.Rows))
			}
		})
	}
}

// withNegotiation gives an unversioned REST client a serializer.
func withNegotiation(cfg *rest.Config) *rest.Config {
	cfg.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
	return cfg
}
