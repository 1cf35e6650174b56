# shellcheck shell=bash
# Shared helpers for scripts/lab.sh and scripts/bench.sh. Source it; it
# expects `set -euo pipefail` and the repository root as the working
# directory.

# Debian packages providing the programs the scripts use.
declare -A TOOL_PKG=(
	[ip]=iproute2 [bridge]=iproute2 [ss]=iproute2 [iperf3]=iperf3
	[ping]=iputils-ping [go]="golang (or https://go.dev/dl, Go 1.26)" [timeout]=coreutils
	[ethtool]=ethtool [tcpdump]=tcpdump [tshark]=tshark
)

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# need_root: the scripts create namespaces, veths and TAP devices.
need_root() {
	[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces); try: sudo $0 $*"
}

# need_tools TOOL...: fails listing what to install.
need_tools() {
	local t missing=() pkgs=()
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 && continue
		missing+=("$t")
		pkgs+=("${TOOL_PKG[$t]:-$t}")
	done
	if ((${#missing[@]})); then
		die "missing ${missing[*]}; install with: apt-get install $(printf '%s\n' "${pkgs[@]}" | sort -u | tr '\n' ' ')"
	fi
}

# need_kernel_modules: vxlan for the kernel side, tun for vtepd's TAPs,
# veth for the links. Loading is best effort (they may be built in).
need_kernel_modules() {
	local m
	for m in vxlan tun veth bridge; do
		modprobe "$m" 2>/dev/null || true
	done
	[[ -c /dev/net/tun ]] || die "/dev/net/tun is missing (modprobe tun)"
}

# wait_for SECONDS DESCRIPTION CMD...: polls CMD (every 50ms) until it
# succeeds; fails after SECONDS, or at once when CMD exits with status 2
# (meaning "will never succeed").
wait_for() {
	local secs=$1 what=$2 rc
	shift 2
	local deadline=$((SECONDS + secs))
	while :; do
		rc=0
		"$@" >/dev/null 2>&1 || rc=$?
		if ((rc == 0)); then
			return 0
		elif ((rc == 2)); then
			log "gave up waiting for $what"
			return 1
		elif ((SECONDS >= deadline)); then
			log "timed out after ${secs}s waiting for $what"
			return 1
		fi
		sleep 0.05
	done
}

# ns_add NAME: creates a namespace with lo up and IPv6 DAD off (so
# addresses on devices created later, such as vtepd's TAPs, work at once).
ns_add() {
	ip netns add "$1"
	ip -n "$1" link set lo up
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# ns_exists NAME
ns_exists() { [[ -e /run/netns/$1 ]]; }

# ns_kill_pids NAME: SIGTERM every process in the namespace, then SIGKILL
# what is left after 5s.
ns_kill_pids() {
	local ns=$1 pids
	ns_exists "$ns" || return 0
	pids=$(ip netns pids "$ns" 2>/dev/null | grep -vx "$$" || true)
	[[ -n $pids ]] || return 0
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	local deadline=$((SECONDS + 5))
	while [[ -n $(ip netns pids "$ns" 2>/dev/null) ]] && ((SECONDS < deadline)); do
		sleep 0.05
	done
	pids=$(ip netns pids "$ns" 2>/dev/null || true)
	# shellcheck disable=SC2086
	[[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
}

# ns_del NAME...: kills the namespaces' processes and deletes them.
ns_del() {
	local ns
	for ns in "$@"; do
		ns_exists "$ns" || continue
		ns_kill_pids "$ns"
		ip netns del "$ns" 2>/dev/null || log "warning: could not delete namespace $ns"
	done
}

# stop_pid PID [NAME]: SIGTERM, wait up to 10s, then SIGKILL.
stop_pid() {
	local pid=$1 name=${2:-process}
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 10))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "warning: $name (pid $pid) ignored SIGTERM for 10s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# port_listening NS PORT: true when a TCP socket listens on PORT in NS.
port_listening() {
	[[ -n $(ip netns exec "$1" ss -H -l -t -n "sport = :$2" 2>/dev/null) ]]
}

# start_iperf3_server NS ADDR PORT LOGFILE: starts iperf3 -s in the
# background and waits until it listens; sets IPERF3_PID. Call it directly
# (not in $(…)) so that the server is a child of this shell.
start_iperf3_server() {
	local ns=$1 addr=$2 port=$3 logf=$4
	ip netns exec "$ns" iperf3 -s -B "$addr" -p "$port" >"$logf" 2>&1 &
	IPERF3_PID=$!
	wait_for 10 "iperf3 server in $ns on $addr:$port" port_listening "$ns" "$port" || {
		stop_pid "$IPERF3_PID" iperf3
		return 1
	}
}

# start_vtepd NS SOCKET LOGFILE [VTEPD-FLAGS...]: starts vtepd in NS and
# waits for its control socket; sets VTEPD_PID. Call it directly (not in
# $(…)) so that the daemon is a child of this shell.
start_vtepd() {
	local ns=$1 sock=$2 logf=$3
	shift 3
	mkdir -p "$(dirname "$sock")"
	rm -f "$sock"
	ip netns exec "$ns" "$VTEPD" -socket "$sock" "$@" >"$logf" 2>&1 &
	VTEPD_PID=$!
	if ! wait_for 15 "vtepd control socket $sock" vtepd_ready "$VTEPD_PID" "$sock"; then
		kill -0 "$VTEPD_PID" 2>/dev/null || log "vtepd in $ns exited"
		log "last lines of $logf:"
		tail -n 20 "$logf" >&2 || true
		stop_pid "$VTEPD_PID" vtepd
		return 1
	fi
}

# vtepd_ready PID SOCKET: succeeds once the socket exists; status 2 (stop
# waiting) once the daemon has exited.
vtepd_ready() {
	kill -0 "$1" 2>/dev/null || return 2
	[[ -S $2 ]]
}

# vtep_cli NS SOCKET ARGS...: runs the vtep CLI in NS against SOCKET.
vtep_cli() {
	local ns=$1 sock=$2
	shift 2
	ip netns exec "$ns" "$VTEP" -socket "$sock" "$@"
}

# link_exists NS DEV
link_exists() { ip -n "$1" link show dev "$2" >/dev/null 2>&1; }

# VTEPD and VTEP are the binaries (override with VTEP_BIN_DIR).
VTEP_BIN_DIR=${VTEP_BIN_DIR:-$PWD/bin}
VTEPD=$VTEP_BIN_DIR/vtepd
VTEP=$VTEP_BIN_DIR/vtep

# have_vtep_sources: cmd/vtepd and cmd/vtep are in the tree.
have_vtep_sources() { compgen -G 'cmd/vtepd/*.go' >/dev/null && compgen -G 'cmd/vtep/*.go' >/dev/null; }

# build_vtep: go build -o bin/ ./cmd/... when the sources exist.
build_vtep() {
	have_vtep_sources || return 1
	need_tools go
	log "building: go build -o ${VTEP_BIN_DIR}/ ./cmd/..."
	go build -o "$VTEP_BIN_DIR/" ./cmd/...
}
