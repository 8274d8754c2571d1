# Shell functions shared by the benchmark drivers (run.sh, outbound/run.sh).
# Source after setting TARGETS; functions that name files use $WORK.

die() { echo "run.sh: $*" >&2; exit 1; }
has_target() { [[ ,$TARGETS, == *,$1,* ]]; }

# make_workdir PREFIX: sets WORK to $BENCH_DIR or a new /tmp/PREFIX.XXXXXX,
# absolute and readable by the peers' unprivileged processes.
make_workdir() {
	WORK=${BENCH_DIR:-$(mktemp -d "/tmp/$1.XXXXXX")}
	mkdir -p "$WORK"
	WORK=$(cd "$WORK" && pwd)
	chmod 0755 "$WORK"
}

# stop_kubemail PID: SIGTERM, up to 30 s for a graceful stop, then SIGKILL.
stop_kubemail() {
	[[ -n $1 ]] || return 0
	if kill -0 "$1" 2>/dev/null; then
		kill -TERM "$1" 2>/dev/null || true
		for _ in $(seq 1 300); do
			kill -0 "$1" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$1" 2>/dev/null && { echo "run.sh: kubemail (pid $1) ignored SIGTERM; killing it" >&2; kill -KILL "$1" 2>/dev/null || true; }
	fi
	wait "$1" 2>/dev/null || true
}

# raise_fd_limit: thousands of connections need file descriptors.
raise_fd_limit() {
	ulimit -Hn 65536 2>/dev/null || true
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
}

# wait_port ADDR PID: wait until ADDR accepts connections while PID lives.
wait_port() {
	local host=${1%:*} port=${1##*:} deadline=$((SECONDS + 60))
	until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
		kill -0 "$2" 2>/dev/null || die "kubemail exited before listening on $1; see $WORK/kubemail.log"
		((SECONDS < deadline)) || die "kubemail does not listen on $1 after 60s; see $WORK/kubemail.log"
		sleep 0.1
	done
}
