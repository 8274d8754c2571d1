#!/usr/bin/env bash
# Runs every fuzz target of the repository (hack/testsplit fuzz lists them)
# for $FUZZTIME each (default 30s), one at a time: `go test -fuzz` takes
# exactly one target per run. Stops at the first failure; the input that
# failed is then in <package>/testdata/fuzz/<target>/, where `go test`
# replays it from then on. Extra arguments go to every `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-30s}
targets=$(go run ./hack/testsplit fuzz)
if [[ -z $targets ]]; then
	echo "hack/fuzz.sh: no fuzz targets found" >&2
	exit 1
fi
n=$(wc -l <<<"$targets")
i=0
while read -r pkg name; do
	i=$((i + 1))
	echo ">> [$i/$n] $pkg $name for $FUZZTIME"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$@" "$pkg"; then
		echo "hack/fuzz.sh: $pkg $name failed; the failing input, if any, is in $pkg/testdata/fuzz/$name/" >&2
		exit 1
	fi
done <<<"$targets"
echo ">> all $n fuzz targets ran for $FUZZTIME each"
