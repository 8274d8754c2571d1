#!/usr/bin/env bash
# run.sh — outbound relaying, kubemail beside Postfix, in one run (make bench-outbound).
#
#   KUBEMAIL_BIN=bin/kubemail hack/bench/outbound/run.sh [extra mailbench outbound flags]
#   BENCH_SMOKE=1 hack/bench/outbound/run.sh      # about two minutes: 300 messages per load, 2,000 queued
#
# Starts a private Postfix relay (postfix.sh) and `kubemail server` with the config written below, all on
# 127.0.0.1 under one work directory, and runs `mailbench outbound`: mailbench is the load generator and
# also the SMTP sink both relays deliver to (kubemail's smarthost route for every domain, Postfix's
# relayhost). Per load (N messages of 10 KiB at each concurrency) it measures the rate until the sink
# holds all N, and the rate of 250s; then kubemail again with raised outbound settings; then it closes
# the sink and has each relay queue OUTBOUND_QUEUE messages for the destination that is down, measuring
# memory and disk once the queue settled, and stops that relay. Prints the table, writes outbound.json
# in the work directory, stops everything it started when it exits, however it exits. Queues are removed
# unless BENCH_KEEP=1; configs and logs stay.
#
# Environment (defaults in brackets):
#   KUBEMAIL_BIN            kubemail binary [built from this tree into the work directory]
#   OUTBOUND_MESSAGES [10000]  OUTBOUND_CONCURRENCY [10,50]  OUTBOUND_SIZE [10240]
#   OUTBOUND_QUEUE [100000]    OUTBOUND_QUEUE_CONCURRENCY [50]
#   OUTBOUND_QUEUE_REST [2m]   memory is measured once the queue settled and again this long after
#   OUTBOUND_PHASES [throughput,queue]  (add raised to rerun kubemail with OUTBOUND_RAISED_* settings)
#   OUTBOUND_RAISED_WORKERS [100] OUTBOUND_RAISED_PER_DEST [20]   kubemail's outbound.workers and
#       outbound.maxPerDestination in the raised phase (Postfix's default_process_limit and
#       default_destination_concurrency_limit); the defaults phase leaves both unset (16 and 4)
#   OUTBOUND_TLS [0]        1: the sink offers STARTTLS and both relays use it (kubemail's route is
#                           starttls-opportunistic either way; Postfix gets smtp_tls_security_level = may)
#   KUBEMAIL_SMTP_PORT [23525] KUBEMAIL_OPS_PORT [23080] RELAY_SMTP_PORT [13525] SINK_PORT [14025]
#   BENCH_TARGETS [kubemail,peer]  BENCH_DIR [a new /tmp/kmout.XXXXXX]  BENCH_KEEP [0]  BENCH_TIMEOUT [3h]
#   BENCH_SMOKE [0]  1 sets messages 300, queue 2000 and rest 10s unless those are given
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
HERE=$ROOT/hack/bench/outbound
# shellcheck source=../lib.sh
source "$ROOT/hack/bench/lib.sh"

if [[ ${BENCH_SMOKE:-0} == 1 ]]; then
	: "${OUTBOUND_MESSAGES:=300}" "${OUTBOUND_QUEUE:=2000}" "${OUTBOUND_QUEUE_REST:=10s}"
fi
MESSAGES=${OUTBOUND_MESSAGES:-10000}
CONCURRENCY=${OUTBOUND_CONCURRENCY:-10,50}
SIZE=${OUTBOUND_SIZE:-10240}
QUEUE=${OUTBOUND_QUEUE:-100000}
QUEUE_CONCURRENCY=${OUTBOUND_QUEUE_CONCURRENCY:-50}
QUEUE_REST=${OUTBOUND_QUEUE_REST:-2m}
PHASES=${OUTBOUND_PHASES:-throughput,queue}
RAISED_WORKERS=${OUTBOUND_RAISED_WORKERS:-100}
RAISED_PER_DEST=${OUTBOUND_RAISED_PER_DEST:-20}
TLS=${OUTBOUND_TLS:-0}
TARGETS=${BENCH_TARGETS:-kubemail,peer}
TIMEOUT=${BENCH_TIMEOUT:-3h}
K_SMTP=127.0.0.1:${KUBEMAIL_SMTP_PORT:-23525}
K_OPS=127.0.0.1:${KUBEMAIL_OPS_PORT:-23080}
SINK=127.0.0.1:${SINK_PORT:-14025}
export RELAY_SMTP_PORT=${RELAY_SMTP_PORT:-13525} RELAY_SINK_PORT=${SINK##*:} RELAY_TLS=$TLS
# Every DNS server kubemail is given must be a loopback address (its resolver refuses others).
export KUBEMAIL_LOOPBACK_DNS_ONLY=1

[[ $(id -u) == 0 ]] || ! has_target peer || die "must run as root (the private Postfix's master drops privileges itself)"
command -v postfix >/dev/null || ! has_target peer || die "postfix is not installed (make bench-deps)"

make_workdir kmout # Postfix's unprivileged processes work under it
PF_DIR=$WORK/postfix
KPID=""
PF_STARTED=0

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_kubemail "$KPID"
	if [[ $PF_STARTED == 1 ]]; then
		"$HERE/postfix.sh" stop "$PF_DIR" || true
	fi
	if [[ ${BENCH_KEEP:-0} != 1 ]]; then
		rm -rf "$PF_DIR/queue" "$WORK/kubemail-store"
	fi
	echo "run.sh: results, configs and logs are in $WORK" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

raise_fd_limit # 1,000 idle IMAP connections, 100 relay sessions: the servers and mailbench need descriptors

echo "run.sh: building mailbench" >&2
(cd "$ROOT" && go build -o "$WORK/mailbench" ./hack/bench/mailbench)
if has_target kubemail; then
	if [[ -z ${KUBEMAIL_BIN:-} ]]; then
		echo "run.sh: building kubemail" >&2
		(cd "$ROOT" && go build -o "$WORK/kubemail" ./cmd/kubemail)
		KUBEMAIL_BIN=$WORK/kubemail
	fi
	[[ -x $KUBEMAIL_BIN ]] || die "KUBEMAIL_BIN=$KUBEMAIL_BIN is not an executable file"
	KUBEMAIL_BIN=$(cd "$(dirname "$KUBEMAIL_BIN")" && pwd)/$(basename "$KUBEMAIL_BIN")
fi

ARGS=(outbound -targets "$TARGETS" -phases "$PHASES" -messages "$MESSAGES" -concurrency "$CONCURRENCY" -size "$SIZE"
	-queue-messages "$QUEUE" -queue-concurrency "$QUEUE_CONCURRENCY" -queue-rest "$QUEUE_REST" -sink "$SINK" -timeout "$TIMEOUT"
	-stop-after-queue -json "$WORK/outbound.json" -meta "fs=$(df -T "$WORK" | awk 'NR == 2 { print $2 " " $1 }')")
[[ $TLS == 1 ]] && ARGS+=(-sink-tls)

# kubemail_config [WORKERS PER_DEST]: the server config; without arguments the outbound settings are the defaults.
kubemail_config() {
	cat <<EOF
# kubemail relay for hack/bench/outbound/run.sh: generated, see that script.
apiVersion: server.kubemail.io/v1alpha1
kind: ServerConfig
hostname: "relay.kubemail.bench.test"
listeners:
  smtp: {address: "$K_SMTP"}
  ops: {address: "$K_OPS"}
tls: {}
storage:
  driver: sqlite
  path: "$WORK/kubemail-store"
# Capacity only: every submitting session comes from 127.0.0.1.
limits:
  maxConnections: 1024
  maxConnectionsPerIP: 1024
# Look-ups go to a closed port on 127.0.0.1; the route below needs none (its host is an IP address).
outbound:
  resolver: "127.0.0.1:1"
EOF
	if [[ $# == 2 ]]; then
		echo "  workers: $1"
		echo "  maxPerDestination: $2"
	fi
	cat <<EOF
relay:
  # The load generator relays through the MX listener without AUTH, as Postfix's mynetworks allows.
  allowedNetworks: ["127.0.0.1/32"]
  routes:
    - domain: "*"
      smarthost: {host: "127.0.0.1", port: ${SINK##*:}, tls: starttls-opportunistic}
EOF
}

if has_target peer; then
	PF_STARTED=1
	"$HERE/postfix.sh" start "$PF_DIR"
	ARGS+=(-peer-smtp "127.0.0.1:$RELAY_SMTP_PORT" -peer-dir "$PF_DIR" -meta "postfix=$(postconf -dh mail_version)"
		-meta "postfix_settings=$(postconf -c "$PF_DIR/postfix" -h default_destination_concurrency_limit initial_destination_concurrency default_process_limit smtp_connection_cache_on_demand | paste -sd/ -) (default_destination_concurrency_limit/initial_destination_concurrency/default_process_limit/smtp_connection_cache_on_demand)")
fi

if has_target kubemail; then
	mkdir -p "$WORK/kubemail-store"
	kubemail_config >"$WORK/kubemail.yaml"
	kubemail_config "$RAISED_WORKERS" "$RAISED_PER_DEST" >"$WORK/kubemail-raised.yaml"
	chmod 0600 "$WORK/kubemail.yaml" "$WORK/kubemail-raised.yaml"
	"$KUBEMAIL_BIN" server --config "$WORK/kubemail.yaml" >"$WORK/kubemail.log" 2>&1 &
	KPID=$!
	wait_port "$K_SMTP" "$KPID"
	wait_port "$K_OPS" "$KPID"
	echo "run.sh: kubemail pid $KPID, smtp $K_SMTP ops $K_OPS" >&2
	ARGS+=(-kubemail-smtp "$K_SMTP" -kubemail-ops "$K_OPS" -kubemail-pid "$KPID" -kubemail-store "$WORK/kubemail-store"
		-kubemail-config "$WORK/kubemail.yaml" -kubemail-raised-config "$WORK/kubemail-raised.yaml"
		-raised-label "workers $RAISED_WORKERS, maxPerDestination $RAISED_PER_DEST"
		-meta "kubemail_settings=outbound.workers and maxPerDestination unset (defaults 16 and 4) except in the raised rows"
		-meta "kubemail_bin=$KUBEMAIL_BIN" -meta "kubemail_sha256=$(sha256sum "$KUBEMAIL_BIN" | cut -d' ' -f1)")
fi

"$WORK/mailbench" "${ARGS[@]}" "$@"
