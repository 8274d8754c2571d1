#!/usr/bin/env bash
# Runs one of the Makefile's test sets, as hack/testsplit sorts the tests:
#   hack/test.sh [-n] unit|envtest|e2e [go test flags...]
# The set's whole packages go to one `go test`; a package split between unit
# and envtest gets its own, with -skip (unit) or -run (envtest) naming the
# tests that need the Kubernetes binaries. Every command is printed before it
# runs; -n prints them only. Runs them all, then fails if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."

dry=
if [[ ${1:-} == -n ]]; then
	dry=1
	shift
fi
set_=${1:?usage: hack/test.sh [-n] unit|envtest|e2e [go test flags...]}
shift
case $set_ in unit | envtest | e2e) ;; *) echo "hack/test.sh: unknown set $set_" >&2; exit 2 ;; esac

plan=$(go run ./hack/testsplit -e2e "${E2E_PKGS:-./test/e2e/...}" plan)
whole=()
filtered=()
while read -r set pkg filter re; do
	[[ $set == "$set_" ]] || continue
	if [[ -z $filter ]]; then
		whole+=("$pkg")
	else
		filtered+=("$filter $re $pkg")
	fi
done <<<"$plan"
if ((${#whole[@]} + ${#filtered[@]} == 0)); then
	echo "hack/test.sh: no package in the $set_ set" >&2
	exit 1
fi

# quote prints its arguments as a shell would read them back.
quote() {
	local out=() a
	for a; do
		if [[ $a =~ ^[A-Za-z0-9_./=:,+@%-]+$ ]]; then out+=("$a"); else out+=("'${a//\'/\'\\\'\'}'"); fi
	done
	echo "${out[*]}"
}

status=0
gotest() {
	quote go test "$@"
	[[ -n $dry ]] || go test "$@" || status=1
}
if ((${#whole[@]})); then
	gotest "$@" "${whole[@]}"
fi
for f in ${filtered[@]+"${filtered[@]}"}; do
	read -r filter re pkg <<<"$f"
	gotest "$@" "$filter" "$re" "$pkg"
done
exit $status
