#!/usr/bin/env bash
# Fails unless make test-unit, test-envtest and test-e2e together run every
# test: every package with tests is in the plan of hack/testsplit; a package
# is either in one set whole, or split between unit (-skip R) and envtest
# (-run R) by the same R; the e2e set is exactly the packages of $E2E_PKGS.
# Run by `make test-unit` and `make verify`.
set -euo pipefail
cd "$(dirname "$0")/.."

e2e=${E2E_PKGS:-./test/e2e/...}
module=$(go list -m)
rel() { sed -e "s|^$module\$|.|" -e "s|^$module/|./|"; }
# shellcheck disable=SC2086 # $e2e is a list of patterns
mapfile -t with_tests < <(go list -e -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./... | rel | sort -u)
# shellcheck disable=SC2086
mapfile -t e2e_pkgs < <(go list -e -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' $e2e | rel | sort -u)
plan=$(go run ./hack/testsplit -e2e "$e2e" plan)

declare -A lines is_e2e has_tests
for p in "${e2e_pkgs[@]}"; do is_e2e[$p]=1; done
for p in "${with_tests[@]}"; do has_tests[$p]=1; done
while read -r set pkg filter re; do
	lines[$pkg]+="$set${filter:+ $filter $re};"
done <<<"$plan"

bad=0
fail() {
	echo "check-test-split: $*" >&2
	bad=1
}
for p in "${with_tests[@]}"; do
	l=${lines[$p]:-}
	if [[ -z $l ]]; then
		fail "$p has tests but is in none of test-unit, test-envtest, test-e2e"
		continue
	fi
	if [[ -n ${is_e2e[$p]:-} ]]; then
		[[ $l == "e2e;" ]] || fail "$p matches E2E_PKGS ($e2e) but the plan has: $l"
		continue
	fi
	case $l in
	unit\; | envtest\;) ;;
	"unit -skip "*"envtest -run "*)
		IFS=';' read -r u e <<<"$l"
		[[ ${u#unit -skip } == "${e#envtest -run }" ]] || fail "$p: test-unit skips ${u#unit -skip } but test-envtest runs ${e#envtest -run }"
		;;
	*) fail "$p is not in exactly one set, nor split between unit and envtest: $l" ;;
	esac
done
for p in "${!lines[@]}"; do
	[[ -n ${has_tests[$p]:-} ]] || fail "the plan names $p, which go list does not know as a package with tests"
done
if ((bad)); then
	echo "check-test-split: the test sets do not cover every test; see hack/testsplit" >&2
	exit 1
fi
echo "check-test-split: ${#with_tests[@]} packages with tests, each in test-unit, test-envtest or test-e2e"
