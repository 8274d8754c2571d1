# kubemail — see README.md for the two commands that matter: `make dev` and `make test`.

# A recipe that fails leaves no half-written target behind.
.DELETE_ON_ERROR:

# Toolchain: go1.26.10 or later (the machine's go1.26.8 standard library has known,
# reachable vulnerabilities). The go command fetches it through the module proxy.
export GOTOOLCHAIN ?= go1.26.10
export GOFLAGS ?= -buildvcs=false

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# Tools, pinned and installed into ./bin.
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
GOVULNCHECK_VERSION ?= v1.9.0
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
GOVULNCHECK ?= $(LOCALBIN)/govulncheck

# The kube-apiserver, etcd and kubectl for envtest and `kubemail dev`, built from the
# module proxy into a cache outside the checkout (setup-envtest's downloads are not reachable).
K8S_VERSION ?= 1.37.2
export KUBEMAIL_CACHE ?= $(HOME)/.cache/kubemail
export KUBEBUILDER_ASSETS ?= $(KUBEMAIL_CACHE)/k8s/$(K8S_VERSION)-linux-amd64

DEV_STATE_DIR ?= $(CURDIR)/.kubemail-dev

# The tests. `make test` runs them all in one `go test ./...`; test-unit,
# test-envtest and test-e2e run the same tests in three sets, and together
# run every one of them:
#   - test-e2e:     the packages of $(E2E_PKGS), which build kubemail and run
#                   `kubemail dev` (so they need the Kubernetes binaries);
#   - test-envtest: the tests that need kube-apiserver, etcd or kubectl;
#   - test-unit:    every other test; it needs no Kubernetes binary.
# The rule, applied by hack/testsplit to the _test.go files (no list to keep
# and no build tag): a test goes to test-envtest when it, or a test helper it
# reaches, uses internal/devenv, controllers/internal/testenv or envtest, or
# names KUBEBUILDER_ASSETS or kubectl; when TestMain does, the whole package
# does. A package with tests of both kinds runs in test-unit with -skip and in
# test-envtest with -run over the same names. hack/check-test-split.sh (run by
# test-unit and verify) fails if a package with tests is in none of the sets.
# `make test-plan` prints the commands.
export E2E_PKGS ?= ./test/e2e/...
GO_TEST_FLAGS ?= -race -shuffle=on -count=1 -timeout 30m
TEST_ENV := KUBEMAIL_LOOPBACK_DNS_ONLY=1
FUZZTIME ?= 30s
# The packages whose tests rewrite their golden files under -update
# (`var update = flag.Bool("update", ...)` in a _test.go file).
GOLDEN_FLAG := flag.Bool("update"
GOLDEN_PKGS = $(sort $(patsubst %/,%,$(dir $(shell grep -rlF --include='*_test.go' --exclude-dir=.git --exclude-dir=bin '$(GOLDEN_FLAG)' .))))

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs and the operator's RBAC Role from the markers.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=manager-role paths=./controllers/... output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods of the API types and of internal/dnsendpoint's DNSEndpoint.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./internal/dnsendpoint/...

.PHONY: bundle
bundle: manifests ## Generate the OLM bundle (bundle/) from the CRDs, RBAC and manager manifests.
	go run ./hack/bundlegen --root .

.PHONY: fmt
fmt: ## Run gofmt over the code.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint with the project's linters (.golangci.yml).
	$(GOLANGCI_LINT) run ./...

.PHONY: vulncheck
vulncheck: $(GOVULNCHECK) ## Check for known vulnerabilities against an offline copy of the Go vulnerability database.
	db=$$(VULNDB_VERSION=$(VULNDB_VERSION) hack/vulndb.sh) && $(GOVULNCHECK) -db "file://$$db" ./...

# What the generators write, for verify's drift check.
GENERATED_PATHS := api config bundle internal/dnsendpoint
.PHONY: verify
verify: generate manifests bundle ## Regenerate everything and fail if the committed files differ, gofmt/go vet complain, or a package's tests are in no test set.
	@if [ -n "$$(git status --porcelain -- $(GENERATED_PATHS))" ]; then \
		echo "generated files are out of date; run 'make generate manifests bundle' and commit:"; \
		git status --porcelain -- $(GENERATED_PATHS); git diff -- $(GENERATED_PATHS) | head -50; exit 1; fi
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then \
		echo "gofmt would change: $$unformatted"; exit 1; fi
	go vet ./...
	hack/check-test-split.sh

##@ Test

.PHONY: envtest-bins
envtest-bins: ## Build kube-apiserver, etcd and kubectl into $(KUBEMAIL_CACHE) (once; about 10 CPU-minutes).
	K8S_VERSION=$(K8S_VERSION) hack/envtest-bins.sh >/dev/null

.PHONY: test
test: envtest-bins ## Run every test with -race: unit, protocol (real clients on 127.0.0.1), envtest against a real API server.
	KUBEMAIL_LOOPBACK_DNS_ONLY=1 go test -race -shuffle=on -count=1 -timeout 30m ./...

.PHONY: test-unit
test-unit: ## Run the tests that need no Kubernetes binary (no envtest-bins; a few minutes), with -race.
	hack/check-test-split.sh
	$(TEST_ENV) hack/test.sh unit $(GO_TEST_FLAGS)

.PHONY: test-envtest
test-envtest: envtest-bins ## Run the tests against a real kube-apiserver and etcd (and kubectl), with -race.
	$(TEST_ENV) hack/test.sh envtest $(GO_TEST_FLAGS)

.PHONY: test-e2e
test-e2e: envtest-bins ## Run the end-to-end tests (./test/e2e: builds kubemail, runs its servers and `kubemail dev`), with -race.
	$(TEST_ENV) go test $(GO_TEST_FLAGS) $(E2E_PKGS)

.PHONY: test-plan
test-plan: ## Print the go test commands of test-unit, test-envtest and test-e2e, and check they cover every package.
	hack/check-test-split.sh
	@for set in unit envtest e2e; do echo "# test-$$set"; hack/test.sh -n $$set $(GO_TEST_FLAGS); done

.PHONY: test-update-golden
test-update-golden: envtest-bins ## Rewrite the golden files (testdata/*.golden) of the packages whose tests take -update; review the diff.
	$(TEST_ENV) go test -count=1 $(GOLDEN_PKGS) -update

##@ Fuzzing (not part of make test)

.PHONY: fuzz
fuzz: ## Run every Fuzz* target for FUZZTIME each (default 30s), one at a time; stops at the first crash.
	$(TEST_ENV) FUZZTIME=$(FUZZTIME) hack/fuzz.sh

##@ Benchmarks (not part of make test)

.PHONY: bench-deps
bench-deps: ## Install Postfix and Dovecot from Debian, the peers the benchmarks run beside kubemail.
	@if ! command -v postfix >/dev/null || ! [ -x /usr/sbin/dovecot ] || ! [ -x /usr/lib/dovecot/lmtp ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			postfix dovecot-imapd dovecot-pop3d dovecot-lmtpd; fi

.PHONY: bench
bench: build bench-deps ## kubemail beside Postfix+Dovecot in one run: SMTP ingest, POP3, IMAP, memory; prints ratios (BENCH_SMOKE=1 for a quick run).
	KUBEMAIL_BIN=$(LOCALBIN)/kubemail hack/bench/run.sh

.PHONY: bench-outbound
bench-outbound: build bench-deps ## Outbound relaying beside Postfix: throughput to one sink, queue memory and disk with 100,000 queued (BENCH_SMOKE=1 for a quick run).
	KUBEMAIL_BIN=$(LOCALBIN)/kubemail hack/bench/outbound/run.sh

BENCH_MAILBOXES ?= 10000
.PHONY: bench-operator
bench-operator: build envtest-bins ## The operator with 10,000 Mailboxes over 10 MailDomains: time to Ready, peak RSS, apply→login p50/p95.
	go run ./hack/bench/operatorbench -kubemail $(LOCALBIN)/kubemail -mailboxes $(BENCH_MAILBOXES)

##@ Build

.PHONY: build
build: ## Build the kubemail binary into ./bin.
	go build -trimpath -o $(LOCALBIN)/kubemail ./cmd/kubemail

.PHONY: dev
dev: build envtest-bins ## Run the whole system on this machine: a local API server, the CRDs, and more; Ctrl-C stops it.
	$(LOCALBIN)/kubemail dev --state-dir $(DEV_STATE_DIR) --assets-dir $(KUBEBUILDER_ASSETS)

##@ Tools

$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

$(GOVULNCHECK):
	GOBIN=$(LOCALBIN) go install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
