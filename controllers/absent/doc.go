// Package absent holds the envtest cases of the operator on a cluster
// without cert-manager and external-dns: their CRDs are not installed, so
// the reconcilers must report CertManagerNotInstalled and
// ExternalDNSNotInstalled and fall back to a zone-file ConfigMap, without
// failing. It has no code of its own; the cases need a control plane of
// their own, hence a package of their own.
package absent
