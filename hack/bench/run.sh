#!/usr/bin/env bash
# run.sh — kubemail and Postfix+Dovecot measured side by side in one run (make bench).
#
#   KUBEMAIL_BIN=bin/kubemail hack/bench/run.sh [extra mailbench run flags]
#   BENCH_SMOKE=1 KUBEMAIL_BIN=bin/kubemail hack/bench/run.sh     # quick: 500 messages, 50 idle connections
#   BENCH_TARGETS=peer hack/bench/run.sh                           # Postfix+Dovecot alone
#
# Starts a private Postfix+Dovecot (peer.sh) and `kubemail server` with a config rendered from
# kubemail-config.yaml.tmpl, all on 127.0.0.1 under one work directory, runs mailbench against both
# (each phase runs for both servers before the next phase), prints the table, and stops everything it
# started when it exits, however it exits. Results (JSON), configs and logs stay in the work directory;
# the mail stores are removed unless BENCH_KEEP=1.
#
# Environment (defaults in brackets):
#   KUBEMAIL_BIN            kubemail binary (required when the targets include kubemail)
#   KUBEMAIL_PASSWORD_HASH  hash of BENCH_PASSWORD for the config [from `printf PASSWORD | $KUBEMAIL_BIN passwd`]
#   KUBEMAIL_SMTP_PORT [22525] KUBEMAIL_POP3_PORT [22110] KUBEMAIL_IMAP_PORT [22143] KUBEMAIL_OPS_PORT [22080]
#   PEER_SMTP_PORT [12525] PEER_POP3_PORT [12110] PEER_IMAP_PORT [12143]   (see peer.sh for the rest)
#   BENCH_TARGETS [kubemail,peer]   BENCH_DIR [a new /tmp/kmbench.XXXXXX]   BENCH_KEEP [0]
#   BENCH_MESSAGES [10000] BENCH_CONCURRENCY [1,10,50] BENCH_FULL_CONCURRENCY [10] BENCH_READ_MESSAGES [=messages]
#   BENCH_IDLE [1000] BENCH_REPS [3] BENCH_PHASES [ingest,full,pop3,imap,idle] BENCH_TIMEOUT [2h]
#   BENCH_SMOKE [0]  1 sets messages 500, idle 50, reps 2 unless those are given
#   BENCH_PASSWORD [bench-password] BENCH_DOMAIN [bench.test]
# BENCH_CONCURRENCY, BENCH_FULL_CONCURRENCY and BENCH_DOMAIN decide the mailboxes in kubemail's config, so
# set them here rather than as mailbench flags.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/hack/bench
# shellcheck source=lib.sh
source "$ROOT/hack/bench/lib.sh"

TARGETS=${BENCH_TARGETS:-kubemail,peer}
if [[ ${BENCH_SMOKE:-0} == 1 ]]; then
	: "${BENCH_MESSAGES:=500}" "${BENCH_IDLE:=50}" "${BENCH_REPS:=2}"
fi
MESSAGES=${BENCH_MESSAGES:-10000}
CONCURRENCY=${BENCH_CONCURRENCY:-1,10,50}
FULL_CONCURRENCY=${BENCH_FULL_CONCURRENCY:-10}
READ_MESSAGES=${BENCH_READ_MESSAGES:-$MESSAGES}
IDLE=${BENCH_IDLE:-1000}
REPS=${BENCH_REPS:-3}
PHASES=${BENCH_PHASES:-ingest,full,pop3,imap,idle}
TIMEOUT=${BENCH_TIMEOUT:-2h}
PASSWORD=${BENCH_PASSWORD:-bench-password}
DOMAIN=${BENCH_DOMAIN:-bench.test}
K_SMTP=127.0.0.1:${KUBEMAIL_SMTP_PORT:-22525}
K_POP3=127.0.0.1:${KUBEMAIL_POP3_PORT:-22110}
K_IMAP=127.0.0.1:${KUBEMAIL_IMAP_PORT:-22143}
K_OPS=127.0.0.1:${KUBEMAIL_OPS_PORT:-22080}
export PEER_SMTP_PORT=${PEER_SMTP_PORT:-12525} PEER_POP3_PORT=${PEER_POP3_PORT:-12110} PEER_IMAP_PORT=${PEER_IMAP_PORT:-12143}
export PEER_PASSWORD=$PASSWORD PEER_DOMAIN=$DOMAIN

if has_target kubemail; then
	[[ -n ${KUBEMAIL_BIN:-} ]] || die "set KUBEMAIL_BIN to the kubemail binary, or BENCH_TARGETS=peer"
	[[ -x $KUBEMAIL_BIN ]] || die "KUBEMAIL_BIN=$KUBEMAIL_BIN is not an executable file"
	KUBEMAIL_BIN=$(cd "$(dirname "$KUBEMAIL_BIN")" && pwd)/$(basename "$KUBEMAIL_BIN")
fi

make_workdir kmbench # Postfix's and Dovecot's unprivileged processes work under it
PEER_DIR=$WORK/peer
KPID=""
PEER_STARTED=0

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_kubemail "$KPID"
	if [[ $PEER_STARTED == 1 ]]; then
		"$HERE/peer.sh" stop "$PEER_DIR" || true
	fi
	if [[ ${BENCH_KEEP:-0} != 1 ]]; then
		rm -rf "$PEER_DIR/mail" "$PEER_DIR/postfix-queue" "$WORK/kubemail-store"
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
SIZING=(-domain "$DOMAIN" -concurrency "$CONCURRENCY" -full-concurrency "$FULL_CONCURRENCY")
ARGS=(run "${SIZING[@]}" -targets "$TARGETS" -phases "$PHASES" -messages "$MESSAGES" -read-messages "$READ_MESSAGES"
	-idle "$IDLE" -reps "$REPS" -password "$PASSWORD" -timeout "$TIMEOUT" -json "$WORK/results.json")

if has_target peer; then
	PEER_STARTED=1
	"$HERE/peer.sh" start "$PEER_DIR"
	ARGS+=(-peer-smtp "127.0.0.1:$PEER_SMTP_PORT" -peer-pop3 "127.0.0.1:$PEER_POP3_PORT" -peer-imap "127.0.0.1:$PEER_IMAP_PORT"
		-peer-dir "$PEER_DIR" -meta "postfix=$(postconf -dh mail_version)" -meta "dovecot=$(dovecot --version)")
fi

if has_target kubemail; then
	hash=${KUBEMAIL_PASSWORD_HASH:-$(printf '%s\n' "$PASSWORD" | "$KUBEMAIL_BIN" passwd | awk 'NF { line = $0 } END { print line }')}
	[[ -n $hash ]] || die "could not get a password hash from '$KUBEMAIL_BIN passwd'; set KUBEMAIL_PASSWORD_HASH"
	mkdir -p "$WORK/kubemail-store"
	"$WORK/mailbench" render-config "${SIZING[@]}" -template "$HERE/kubemail-config.yaml.tmpl" -out "$WORK/kubemail.yaml" \
		-password-hash "$hash" -smtp "$K_SMTP" -pop3 "$K_POP3" -imap "$K_IMAP" -ops "$K_OPS" \
		-storage "$WORK/kubemail-store" -idle "$IDLE"
	"$KUBEMAIL_BIN" server --config "$WORK/kubemail.yaml" >"$WORK/kubemail.log" 2>&1 &
	KPID=$!
	wait_port "$K_SMTP" "$KPID"
	wait_port "$K_POP3" "$KPID"
	echo "run.sh: kubemail pid $KPID, smtp $K_SMTP pop3 $K_POP3 imap $K_IMAP" >&2
	ARGS+=(-kubemail-smtp "$K_SMTP" -kubemail-pop3 "$K_POP3" -kubemail-imap "$K_IMAP" -kubemail-pid "$KPID"
		-meta "kubemail_bin=$KUBEMAIL_BIN" -meta "kubemail_sha256=$(sha256sum "$KUBEMAIL_BIN" | cut -d' ' -f1)")
fi

"$WORK/mailbench" "${ARGS[@]}" "$@"
