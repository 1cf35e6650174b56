#!/usr/bin/env bash
# bench.sh: vtep against the kernel's vxlan, side by side, on one machine.
#
# Two namespaces joined by a veth (198.18.0.1/24 ↔ 198.18.0.2/24). Each
# scenario is set up, measured and torn down on its own:
#
#   veth            plain veth, no tunnel (the ceiling)
#   kernel          kernel vxlan over the veth (VNI 42, dstport 4789)
#   tap-relay       no tunnel: scripts/taprelay copies frames between a TAP
#                   in each namespace (TAPs without a tunnel in between)
#   vtep-offload    vtepd -offload on on both sides, vtep link add vx0 …
#   vtep-nooffload  vtepd -offload off on both sides
#   vtep-tgso       vtepd -offload on -tunnel-gso on on both sides (TCP
#                   super-frames leave whole, as tunnel GSO packets)
#   vtep-ebpf       vtepd -offload on -ebpf on on both sides (frames to
#                   learned unicast MACs are encapsulated by a tc program
#                   on the TAP, the packets from learned sources are
#                   decapsulated by one on the underlay veth)
#
# Over the overlay (192.168.42.1 → .2) each repetition measures
#   tcp1   iperf3 TCP, 1 stream, DURATION s            (Gbit/s received)
#   tcp1cpu0 the same with both iperf3 ends on CPU 0 (iperf3 -A 0,0): the
#          path's cost decides, not where the scheduler puts the two ends
#   tcp1rps the same with RPS on the underlay veth in both namespaces
#          (rps_cpus: every CPU), so that the packets of one flow are
#          handled on one CPU, as a NIC's RSS queue delivers them; a bare
#          veth hands each packet to the CPU that sent it, and the two
#          backlogs reorder a stream whose sender runs on both CPUs.
#          Not measured where there is no underlay veth (tap-relay).
#   tcp4   iperf3 TCP, 4 streams                       (Gbit/s received)
#   udp64  iperf3 UDP, 64-byte datagrams, -b UDP_BITRATE (packets/s received)
#   ping   PINGS echo requests every PING_INTERVAL s   (average RTT)
# plus, for the TCP runs, the CPU time the whole machine spent per GB
# carried (/proc/stat around the run), and scripts/benchreport prints the
# medians and the ratio of each path to the kernel's vxlan, writing JSON
# and a Markdown table.
#
# A scenario that fails to set up is recorded (with its log) and the run goes
# on; so does a single failed measurement.
#
# Usage: sudo scripts/bench.sh [-o results.json] [-m results.md] [SCENARIO...]
# Environment (defaults): REPS=5 DURATION=5 PINGS=200 PING_INTERVAL=0.01
#   UDP_BITRATE=0 (unlimited) RAW_DIR=bench/raw NO_BUILD=0
#   VTEPD_ARGS="" (extra vtepd flags, e.g. "-workers 2")
#   TCP_CC="" (the TCP congestion control iperf3 asks for, e.g. cubic;
#     empty: the machine's default, net.ipv4.tcp_congestion_control)
#   ORDER=interleaved: repetition r of every scenario runs before
#     repetition r+1 of any (each scenario set up and torn down per
#     repetition), so background load hits all paths alike; ORDER=grouped
#     sets each scenario up once for all its repetitions.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

OUT_JSON=bench/results.json
OUT_MD=bench/results.md
while getopts "o:m:h" opt; do
	case $opt in
	o) OUT_JSON=$OPTARG ;;
	m) OUT_MD=$OPTARG ;;
	*)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
SCENARIOS=("$@")
((${#SCENARIOS[@]})) || SCENARIOS=(veth kernel tap-relay vtep-offload vtep-tgso vtep-ebpf vtep-nooffload)

REPS=${REPS:-5}
DURATION=${DURATION:-5}
PINGS=${PINGS:-200}
PING_INTERVAL=${PING_INTERVAL:-0.01}
UDP_BITRATE=${UDP_BITRATE:-0}
RAW=${RAW_DIR:-bench/raw}
case ${ORDER:-interleaved} in
interleaved) ORDER_INTERLEAVED=1 ;;
grouped) ORDER_INTERLEAVED=0 ;;
*) echo "ORDER must be interleaved or grouped" >&2 && exit 2 ;;
esac
read -r -a EXTRA_VTEPD <<<"${VTEPD_ARGS:-}"
TCP_CC=${TCP_CC:-}
CC_ARGS=()
[[ -n $TCP_CC ]] && CC_ARGS=(-C "$TCP_CC")

NS_A=vbench-$$-a
NS_B=vbench-$$-b
UNDER_A=198.18.0.1
UNDER_B=198.18.0.2
OVER_A=192.168.42.1
OVER_B=192.168.42.2
IPERF_PORT=5201
VNI=42
PORT=4789

# --- scenario setup (runs inside the scenario's subshell) -------------------

setup_underlay() {
	ns_add "$NS_A"
	ns_add "$NS_B"
	ip -n "$NS_A" link add veth0 type veth peer name veth0 netns "$NS_B"
	ip -n "$NS_A" addr add "$UNDER_A/24" dev veth0
	ip -n "$NS_B" addr add "$UNDER_B/24" dev veth0
	ip -n "$NS_A" link set veth0 up
	ip -n "$NS_B" link set veth0 up
}

setup_veth() {
	setup_underlay
	TARGET=$UNDER_B
}

setup_kernel() {
	setup_underlay
	ip -n "$NS_A" link add vx0 type vxlan id "$VNI" local "$UNDER_A" remote "$UNDER_B" dev veth0 dstport "$PORT"
	ip -n "$NS_B" link add vx0 type vxlan id "$VNI" local "$UNDER_B" remote "$UNDER_A" dev veth0 dstport "$PORT"
	overlay_addrs
}

# setup_tap-relay: a TAP named vx0 in each namespace, joined by taprelay,
# which runs in NS_A and keeps both TAPs' descriptors after the second one
# moves to NS_B.
setup_tap-relay() {
	ns_add "$NS_A"
	ns_add "$NS_B"
	ip netns exec "$NS_A" "$VTEP_BIN_DIR/taprelay" vx0 vxpeer >"$SCEN_DIR/taprelay.log" 2>&1 &
	VTEPD_PIDS+=("$!")
	wait_for 10 "taprelay's TAPs in $NS_A" link_exists "$NS_A" vxpeer
	ip -n "$NS_A" link set vxpeer netns "$NS_B"
	ip -n "$NS_B" link set vxpeer name vx0
	overlay_addrs
}

# setup_vtep on|off [extra vtepd flags]
setup_vtep() {
	local offload=$1 ns self peer side
	shift
	[[ -x $VTEPD && -x $VTEP ]] || {
		log "vtepd/vtep binaries missing ($VTEP_BIN_DIR): cmd/vtepd is not in the tree or did not build"
		return 1
	}
	setup_underlay
	for side in a b; do
		if [[ $side == a ]]; then
			ns=$NS_A self=$UNDER_A peer=$UNDER_B
		else
			ns=$NS_B self=$UNDER_B peer=$UNDER_A
		fi
		start_vtepd "$ns" "$SCEN_DIR/vtepd-$side.sock" "$SCEN_DIR/vtepd-$side.log" \
			-offload "$offload" -log-level info "$@" "${EXTRA_VTEPD[@]}"
		VTEPD_PIDS+=("$VTEPD_PID")
		vtep_cli "$ns" "$SCEN_DIR/vtepd-$side.sock" link add vx0 type vxlan id "$VNI" \
			remote "$peer" local "$self" dev veth0 dstport "$PORT"
		wait_for 10 "vx0 in $ns" link_exists "$ns" vx0
		vtep_cli "$ns" "$SCEN_DIR/vtepd-$side.sock" link set vx0 up
	done
	overlay_addrs
}
setup_vtep-offload() { setup_vtep on; }
setup_vtep-nooffload() { setup_vtep off; }
setup_vtep-tgso() { setup_vtep on -tunnel-gso on; }
setup_vtep-ebpf() { setup_vtep on -ebpf on; }

overlay_addrs() {
	ip -n "$NS_A" addr add "$OVER_A/24" dev vx0
	ip -n "$NS_B" addr add "$OVER_B/24" dev vx0
	ip -n "$NS_A" link set vx0 up
	ip -n "$NS_B" link set vx0 up
	TARGET=$OVER_B
}

# snapshot NAME: device views after the measurements, for diagnosis.
snapshot() {
	local side ns
	for side in a b; do
		[[ $side == a ]] && ns=$NS_A || ns=$NS_B
		{
			ip -n "$ns" -d -s link show 2>&1 || true
			if [[ -S $SCEN_DIR/vtepd-$side.sock ]]; then
				echo "== vtep -s link show vx0"
				vtep_cli "$ns" "$SCEN_DIR/vtepd-$side.sock" -s link show vx0 2>&1 || true
				echo "== vtep fdb show"
				vtep_cli "$ns" "$SCEN_DIR/vtepd-$side.sock" fdb show 2>&1 || true
			fi
		} >"$SCEN_DIR/links-$side.txt"
	done
}

teardown() {
	local pid
	[[ -n ${IPERF3_PID:-} ]] && stop_pid "$IPERF3_PID" iperf3
	for pid in "${VTEPD_PIDS[@]}"; do
		stop_pid "$pid" vtepd
	done
	ns_del "$NS_A" "$NS_B"
}

# --- measurements ------------------------------------------------------------

ping_once() { ip netns exec "$NS_A" ping -q -n -c 1 -W 1 "$TARGET"; }

# iperf NAME IPERF3-ARGS...: one iperf3 run into $REP_DIR/NAME.json, or
# NAME.err on failure.
iperf() {
	local name=$1 rc=0
	shift
	# The machine's CPU time around the run (all processes and softirqs):
	# benchreport turns it into CPU seconds per GB carried.
	{
		echo "clk_tck=$(getconf CLK_TCK)"
		echo "before=$(head -n 1 /proc/stat)"
	} >"$REP_DIR/$name.cpu"
	ip netns exec "$NS_A" timeout $((DURATION + 30)) \
		iperf3 -c "$TARGET" -p "$IPERF_PORT" -t "$DURATION" -J --connect-timeout 5000 "$@" \
		>"$REP_DIR/$name.json" 2>"$REP_DIR/$name.stderr" || rc=$?
	echo "after=$(head -n 1 /proc/stat)" >>"$REP_DIR/$name.cpu"
	if ((rc != 0)); then
		{
			echo "iperf3 $* exited with status $rc$( ((rc == 124)) && echo ' (timed out)')"
			grep -o '"error":.*' "$REP_DIR/$name.json" || true
			tail -n 3 "$REP_DIR/$name.stderr"
		} >"$REP_DIR/$name.err"
		mv "$REP_DIR/$name.json" "$REP_DIR/$name.json.failed"
		log "  $name: failed: $(head -c 300 "$REP_DIR/$name.err" | tr '\n' ' ')"
		return 0
	fi
	rm -f "$REP_DIR/$name.stderr"
	log "  $name: $("$VTEP_BIN_DIR/benchreport" -summary "$REP_DIR/$name.json" 2>&1)"
}

# all_cpus_mask: an rps_cpus bitmap of every CPU (32-bit groups, the
# highest first, as the kernel prints them).
all_cpus_mask() {
	local n k mask=
	n=$(nproc --all)
	while ((n > 0)); do
		k=$((n > 32 ? 32 : n))
		mask=$(printf '%x' $(((1 << k) - 1)))${mask:+,$mask}
		n=$((n - k))
	done
	echo "$mask"
}

# underlay_rps MASK: sets rps_cpus of every receive queue of veth0 in both
# namespaces; fails (changing nothing) where there is no veth0.
underlay_rps() {
	local ns q
	for ns in "$NS_A" "$NS_B"; do
		ip netns exec "$ns" test -d /sys/class/net/veth0/queues || return 1
	done
	for ns in "$NS_A" "$NS_B"; do
		for q in $(ip netns exec "$ns" sh -c 'echo /sys/class/net/veth0/queues/rx-*'); do
			ip netns exec "$ns" sh -c "echo $1 >$q/rps_cpus" || return 1
		done
	done
}

measure_rep() {
	iperf tcp1 "${CC_ARGS[@]}"
	iperf tcp1cpu0 -A 0,0 "${CC_ARGS[@]}"
	if underlay_rps "$(all_cpus_mask)"; then
		iperf tcp1rps "${CC_ARGS[@]}"
		underlay_rps 0 || log "  could not turn RPS off again on veth0"
	fi
	iperf tcp4 -P 4 "${CC_ARGS[@]}"
	iperf udp64 -u -l 64 -b "$UDP_BITRATE"
	local rc=0
	ip netns exec "$NS_A" timeout 120 ping -q -n -c "$PINGS" -i "$PING_INTERVAL" -W 1 "$TARGET" \
		>"$REP_DIR/ping.txt" 2>&1 || rc=$?
	if ((rc != 0)) && ! grep -q transmitted "$REP_DIR/ping.txt"; then
		mv "$REP_DIR/ping.txt" "$REP_DIR/ping.err"
		log "  ping: failed (status $rc)"
	else
		log "  ping: $("$VTEP_BIN_DIR/benchreport" -summary "$REP_DIR/ping.txt" 2>&1)"
	fi
}

# scenario NAME REP...: sets up one scenario, measures the given
# repetitions and tears it down. Runs in a subshell with set -e, so a failing
# setup step ends it; the EXIT trap records the failure and tears down.
scenario() {
	local name=$1 rep
	shift
	SCEN_DIR=$RAW/$name
	VTEPD_PIDS=()
	IPERF3_PID=
	SETUP_DONE=0
	# Where a setup failure is recorded: the scenario as a whole when it
	# covers every repetition, else the one repetition it was set up for.
	if (($# == 1 && ORDER_INTERLEAVED)); then
		SETUP_ERR=$SCEN_DIR/$1/setup.err
		mkdir -p "$SCEN_DIR/$1"
	else
		SETUP_ERR=$SCEN_DIR/error
	fi
	trap 'rc=$?; if ((rc != 0 && !SETUP_DONE)); then { echo "setup failed (exit $rc)"; tail -n 5 "$SCEN_DIR/log"; } >>"$SETUP_ERR"; fi; snapshot || true; teardown' EXIT
	"setup_$name"
	wait_for 15 "$TARGET reachable from $NS_A" ping_once
	start_iperf3_server "$NS_B" "$TARGET" "$IPERF_PORT" "$SCEN_DIR/iperf3-server.log"
	# shellcheck disable=SC2034 # read by the EXIT trap
	SETUP_DONE=1
	for rep in "$@"; do
		log "$name: run $rep/$REPS"
		REP_DIR=$SCEN_DIR/$rep
		mkdir -p "$REP_DIR"
		cut -d' ' -f1-3 /proc/loadavg >"$REP_DIR/loadavg"
		measure_rep
	done
}

# run_scenario NAME REP...: runs scenario in a subshell, logging to
# $RAW/NAME/log; a failure is reported and the run goes on.
run_scenario() {
	local name=$1 rc
	shift
	log "=== scenario $name (runs: $*)"
	mkdir -p "$RAW/$name"
	grep -qx "$name" "$RAW/scenarios.txt" 2>/dev/null || echo "$name" >>"$RAW/scenarios.txt"
	set +e
	(
		set -e
		scenario "$name" "$@"
	) 2> >(tee -a "$RAW/$name/log" >&2)
	rc=$?
	set -e
	if ((rc != 0)); then
		log "=== scenario $name failed (exit $rc); continuing"
	fi
}

write_meta() {
	local commit
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	git diff --no-ext-diff --quiet HEAD -- 2>/dev/null || commit+="+dirty"
	{
		echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
		echo "kernel=$(uname -r)"
		echo "cpus=$(nproc)"
		echo "cpu_model=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
		echo "iperf3=$(iperf3 --version | awk 'NR==1{print $2}')"
		echo "go=$(go env GOVERSION 2>/dev/null || echo ?)"
		echo "commit=$commit"
		echo "reps=$REPS"
		echo "duration=$DURATION"
		echo "pings=$PINGS"
		echo "ping_interval=$PING_INTERVAL"
		echo "udp_bitrate=$UDP_BITRATE"
		echo "vtepd_args=${VTEPD_ARGS:-}"
		echo "tcp_cc=${TCP_CC:-$(sysctl -n net.ipv4.tcp_congestion_control)}"
		echo "order=${ORDER:-interleaved}"
		echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	} >"$RAW/meta.txt"
}

main() {
	need_root "$@"
	need_tools ip ss ping iperf3 timeout go
	need_kernel_modules
	local s
	for s in "${SCENARIOS[@]}"; do
		declare -F "setup_$s" >/dev/null || die "unknown scenario $s (want: veth kernel tap-relay vtep-offload vtep-tgso vtep-ebpf vtep-nooffload)"
	done

	if [[ ${NO_BUILD:-0} != 1 ]]; then
		if have_vtep_sources; then
			build_vtep || log "warning: building cmd/... failed; vtep scenarios will fail"
		else
			log "cmd/vtepd is not in the tree yet: the vtep scenarios will be recorded as failed"
		fi
	fi
	log "building scripts/benchreport and scripts/taprelay"
	go build -o "$VTEP_BIN_DIR/benchreport" ./scripts/benchreport
	go build -o "$VTEP_BIN_DIR/taprelay" ./scripts/taprelay

	rm -rf "$RAW"
	mkdir -p "$RAW" "$(dirname "$OUT_JSON")" "$(dirname "$OUT_MD")"
	write_meta
	trap 'ns_del "$NS_A" "$NS_B"' EXIT

	local rep reps=()
	for ((rep = 1; rep <= REPS; rep++)); do reps+=("$rep"); done
	if ((ORDER_INTERLEAVED)); then
		# Round-robin: every scenario sees the same background load over
		# time, which matters on a shared machine.
		for rep in "${reps[@]}"; do
			for s in "${SCENARIOS[@]}"; do
				run_scenario "$s" "$rep"
			done
		done
	else
		for s in "${SCENARIOS[@]}"; do
			run_scenario "$s" "${reps[@]}"
		done
	fi

	echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/meta.txt"
	"$VTEP_BIN_DIR/benchreport" -raw "$RAW" -json "$OUT_JSON" -md "$OUT_MD"
	log "wrote $OUT_JSON and $OUT_MD (raw data in $RAW)"
}

main "$@"
