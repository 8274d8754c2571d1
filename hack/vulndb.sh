#!/usr/bin/env bash
# Builds an offline Go vulnerability database for govulncheck from the
# golang.org/x/vulndb module (its OSV files, indexed by its indexdb command)
# into a cache outside the checkout, and prints its directory.
set -euo pipefail
VULNDB_VERSION=${VULNDB_VERSION:?set VULNDB_VERSION}
CACHE=${KUBEMAIL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubemail}
out="$CACHE/vulndb/$VULNDB_VERSION"
if [[ -f "$out/index/db.json" ]]; then echo "$out"; exit 0; fi
src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
[[ -d "$src/data/osv" ]] || { echo "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv" >&2; exit 1; }
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
(cd "$src" && go run ./cmd/indexdb -vulns "$src/data/osv" -out "$out.tmp") >&2
mv "$out.tmp" "$out"
echo "$out"
