// Command bundlegen writes the OLM bundle (bundle/manifests and
// bundle/metadata) from the generated CRDs, the operator's RBAC and its
// Deployment, so `make bundle` needs no tool from outside the module proxy.
// `make verify` regenerates it and fails on any difference.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	root := flag.String("root", ".", "repository root")
	version := flag.String("version", "0.1.0", "bundle version")
	image := flag.String("image", "kubemail/kubemail:latest", "operator image")
	flag.Parse()
	if err := run(*root, *version, *image); err != nil {
		fmt.Fprintln(os.Stderr, "bundlegen:", err)
		os.Exit(1)
	}
}

func run(root, version, image string) error {
	crdFiles, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil {
		return err
	}
	sort.Strings(crdFiles)
	manifests := filepath.Join(root, "bundle", "manifests")
	if err := os.RemoveAll(manifests); err != nil {
		return err
	}
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		return err
	}
	var owned []map[string]any
	for _, f := range crdFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &crd); err != nil {
			return fmt.Errorf("reading %s: %w", f, err)
		}
		desc := ""
		if len(crd.Spec.Versions) > 0 && crd.Spec.Versions[0].Schema != nil {
			desc = firstSentence(crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Description)
		}
		owned = append(owned, map[string]any{
			"name": crd.Name, "kind": crd.Spec.Names.Kind, "version": crd.Spec.Versions[0].Name,
			"displayName": crd.Spec.Names.Kind, "description": desc,
		})
		if err := os.WriteFile(filepath.Join(manifests, filepath.Base(f)), data, 0o644); err != nil {
			return err
		}
	}

	var role rbacv1.ClusterRole
	if err := readYAML(filepath.Join(root, "config", "rbac", "role.yaml"), &role); err != nil {
		return err
	}
	var leader rbacv1.Role
	if err := readYAML(filepath.Join(root, "config", "rbac", "leader_election_role.yaml"), &leader); err != nil {
		return err
	}
	deploy, err := readDeployment(filepath.Join(root, "config", "manager", "manager.yaml"))
	if err != nil {
		return err
	}
	for i := range deploy.Spec.Template.Spec.Containers {
		c := &deploy.Spec.Template.Spec.Containers[i]
		c.Image = image
		for j := range c.Env {
			if c.Env[j].Name == "KUBEMAIL_IMAGE" {
				c.Env[j].Value = image
			}
		}
	}
	const sa = "kubemail-controller-manager"
	deploy.Spec.Template.Spec.ServiceAccountName = sa

	csv := map[string]any{
		"apiVersion": "operators.coreos.com/v1alpha1",
		"kind":       "ClusterServiceVersion",
		"metadata": map[string]any{
			"name": "kubemail.v" + version,
			"annotations": map[string]any{
				"capabilities":   "Basic Install",
				"categories":     "Networking",
				"containerImage": image,
				"description":    "Kubernetes-native mail: SMTP, IMAP and POP3 from manifests.",
			},
		},
		"spec": map[string]any{
			"displayName": "kubemail",
			"description": "kubemail reconciles MailServer, MailDomain, Mailbox, MailAlias and RelayPolicy objects into a running mail server with TLS from cert-manager and DNS records through external-dns.",
			"version":     version,
			"maturity":    "alpha",
			"provider":    map[string]any{"name": "The kubemail Authors"},
			"keywords":    []string{"mail", "smtp", "imap", "pop3", "email"},
			"installModes": []map[string]any{
				{"type": "OwnNamespace", "supported": true},
				{"type": "SingleNamespace", "supported": true},
				{"type": "MultiNamespace", "supported": false},
				{"type": "AllNamespaces", "supported": true},
			},
			"customresourcedefinitions": map[string]any{"owned": owned},
			"install": map[string]any{
				"strategy": "deployment",
				"spec": map[string]any{
					"clusterPermissions": []map[string]any{{"serviceAccountName": sa, "rules": role.Rules}},
					"permissions":        []map[string]any{{"serviceAccountName": sa, "rules": leader.Rules}},
					"deployments": []map[string]any{{
						"name": "kubemail-controller-manager", "label": deploy.Spec.Template.Labels, "spec": deploy.Spec,
					}},
				},
			},
		},
	}
	if err := writeYAML(filepath.Join(manifests, "kubemail.clusterserviceversion.yaml"), csv); err != nil {
		return err
	}
	metadata := filepath.Join(root, "bundle", "metadata")
	if err := os.MkdirAll(metadata, 0o755); err != nil {
		return err
	}
	return writeYAML(filepath.Join(metadata, "annotations.yaml"), map[string]any{"annotations": map[string]string{
		"operators.operatorframework.io.bundle.mediatype.v1":       "registry+v1",
		"operators.operatorframework.io.bundle.manifests.v1":       "manifests/",
		"operators.operatorframework.io.bundle.metadata.v1":        "metadata/",
		"operators.operatorframework.io.bundle.package.v1":         "kubemail",
		"operators.operatorframework.io.bundle.channels.v1":        "alpha",
		"operators.operatorframework.io.bundle.channel.default.v1": "alpha",
	}})
}

func firstSentence(s string) string {
	if i := strings.Index(s, ".\n"); i >= 0 {
		return s[:i+1]
	}
	return strings.ReplaceAll(s, "\n", " ")
}

func readYAML(path string, out any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, out); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// readDeployment returns the Deployment among the documents of path.
func readDeployment(path string) (*appsv1.Deployment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if d.Kind == "Deployment" {
			return &d, nil
		}
	}
	return nil, fmt.Errorf("%s holds no Deployment", path)
}

func writeYAML(path string, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte("# Generated by hack/bundlegen (make bundle). DO NOT EDIT.\n"), data...), 0o644)
}
