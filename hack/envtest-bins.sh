#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from the Go module proxy into a cache
# outside the checkout, laid out as setup-envtest does:
#   $KUBEMAIL_CACHE/k8s/<version>-linux-amd64/{kube-apiserver,etcd,kubectl}
# setup-envtest downloads prebuilt binaries from the internet, which this
# project's machines cannot reach; the module proxy is reachable, so we build.
#
# k8s.io/kubernetes cannot be `go install`ed (its go.mod has replace
# directives), so a throwaway wrapper module requires it and replaces every
# k8s.io staging module it requires at v0.0.0 with the published v0.X.Y.
#
# Prints the asset directory on stdout (for KUBEBUILDER_ASSETS); all progress
# goes to stderr. A second run with the binaries present does nothing.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
CACHE=${KUBEMAIL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubemail}
ASSETS="$CACHE/k8s/${K8S_VERSION}-linux-amd64"
export GOTOOLCHAIN=${GOTOOLCHAIN_PIN:-go1.26.10}
export GOFLAGS=-mod=mod

if [[ -x "$ASSETS/kube-apiserver" && -x "$ASSETS/etcd" && -x "$ASSETS/kubectl" ]]; then
	echo "$ASSETS"
	exit 0
fi

staging_minor="0.${K8S_VERSION#1.}"  # 1.37.2 -> 0.37.2
work="$CACHE/build/k8s-${K8S_VERSION}"
mkdir -p "$work" "$ASSETS"
cd "$work"

echo ">> resolving k8s.io/kubernetes v${K8S_VERSION}" >&2
gomod=$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
[[ -f "$gomod" ]] || { echo "cannot download k8s.io/kubernetes v${K8S_VERSION}" >&2; exit 1; }

{
	echo "module kubemail.local/envtest-bins"
	echo
	echo "go 1.26"
	echo
	echo "require k8s.io/kubernetes v${K8S_VERSION}"
	echo
	# Only the modules it *requires* at v0.0.0: its own replace block also
	# names sample modules that the proxy does not serve.
	awk '/^require \(/{r=1;next} r&&/^\)/{r=0} r&&$1~/^k8s\.io\//&&$2=="v0.0.0"{print $1}' "$gomod" |
		sort -u | while read -r m; do echo "replace $m => $m v${staging_minor}"; done
} > go.mod

cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO

echo ">> go mod tidy (downloads several hundred MB the first time)" >&2
go mod tidy >&2

echo ">> building kube-apiserver, etcd, kubectl (about 10 CPU-minutes the first time)" >&2
mkdir -p out
CGO_ENABLED=0 go build -trimpath -o out/ \
	-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION}" \
	k8s.io/kubernetes/cmd/kube-apiserver go.etcd.io/etcd/server/v3 k8s.io/kubernetes/cmd/kubectl >&2
install -m 0755 out/kube-apiserver "$ASSETS/kube-apiserver"
install -m 0755 out/server "$ASSETS/etcd"
install -m 0755 out/kubectl "$ASSETS/kubectl"
rm -rf out
echo "$ASSETS"
