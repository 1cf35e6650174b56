#!/usr/bin/env bash
# lab.sh: a three-host VXLAN lab in network namespaces (the README quickstart).
#
#   h1 ─┐                          h1, h2: vtepd + `vtep link add vx0 type vxlan …`
#   h2 ─┼─ fabric (bridge br0)     h3:     the kernel's `ip link add vx0 type vxlan …`
#   h3 ─┘
#
#   underlay  198.18.0.N/24, 2001:2::N/64 on each host's eth0 (N = 1, 2, 3)
#   overlay   VNI 42, dstport 4789, 192.168.42.N/24 and fd42:42::N/64 on vx0
#   flooding  on each host, all-zeros FDB entries to the other two VTEPs
#
# It builds the binaries, builds the lab, pings every pair over the overlay
# (IPv4 and IPv6), runs iperf3 across it, prints the vtep and kernel views of
# the links and FDBs, and removes everything on exit, also on failure.
#
# Usage: sudo scripts/lab.sh [run|up|down]
#   run   (default) set up, test, show, tear down
#   up    set up and leave the lab running (then: sudo ip netns exec h1 bash)
#   down  remove a lab left by `up` (or by a killed run)
#
# Environment:
#   KERNEL_ONLY=1   h1 and h2 use the kernel's vxlan too (no vtepd needed)
#   LAB_PREFIX=x-   prefix for the namespace names (default none: h1 h2 h3 fabric)
#   IPERF_TIME=3    seconds per iperf3 run
#   NO_BUILD=1      use the binaries already in $VTEP_BIN_DIR (default bin/)
#   KERNEL_TX_CSUM=off turn TX checksum offload off on h3's eth0 (default
#                   on). With it on, the kernel vxlan's inner TCP/UDP
#                   checksums cross the veth unfinished (CHECKSUM_PARTIAL,
#                   for a NIC to fill in); vtepd recognises and completes
#                   them on receive (vtep/csum.go). "off" makes the kernel
#                   finish them itself, to compare the two.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

MODE=${1:-run}
PREFIX=${LAB_PREFIX:-}
KERNEL_ONLY=${KERNEL_ONLY:-0}
IPERF_TIME=${IPERF_TIME:-3}
KERNEL_TX_CSUM=${KERNEL_TX_CSUM:-on}
VNI=42
PORT=4789
HOSTS=(h1 h2 h3)
FABRIC=${PREFIX}fabric
RUNDIR=${LAB_RUNDIR:-/run/vtep-lab${PREFIX:+-$PREFIX}}

ns_of() { echo "${PREFIX}$1"; }
idx_of() { echo "${1#h}"; }
under4() { echo "198.18.0.$1"; }
under6() { echo "2001:2::$1"; }
over4() { echo "192.168.42.$1"; }
over6() { echo "fd42:42::$1"; }
sock_of() { echo "$RUNDIR/$1.sock"; }

# uses_vtep HOST: h1 and h2 run vtepd unless KERNEL_ONLY=1.
uses_vtep() { [[ $KERNEL_ONLY != 1 && $1 != h3 ]]; }

down() {
	local h pidf
	for h in "${HOSTS[@]}"; do
		pidf=$RUNDIR/$h.vtepd.pid
		if [[ -f $pidf ]]; then
			stop_pid "$(cat "$pidf")" "vtepd on $h"
			rm -f "$pidf"
		fi
	done
	ns_del "$(ns_of h1)" "$(ns_of h2)" "$(ns_of h3)" "$FABRIC"
	rm -rf "$RUNDIR"
}

on_exit() {
	local rc=$?
	if ((rc != 0)); then
		log "lab failed (exit $rc)"
		local f
		for f in "$RUNDIR"/*.log; do
			[[ -f $f ]] || continue
			log "last lines of $f:"
			tail -n 15 "$f" >&2 || true
		done
	fi
	log "cleaning up"
	down
	exit "$rc"
}

up() {
	local h i ns other
	need_kernel_modules
	mkdir -p "$RUNDIR"

	log "underlay: bridge br0 in $FABRIC, one veth per host"
	ns_add "$FABRIC"
	ip -n "$FABRIC" link add br0 type bridge
	ip -n "$FABRIC" link set br0 up
	for h in "${HOSTS[@]}"; do
		ns=$(ns_of "$h")
		i=$(idx_of "$h")
		ns_add "$ns"
		ip -n "$ns" link add eth0 type veth peer name "$h" netns "$FABRIC"
		ip -n "$FABRIC" link set "$h" master br0 up
		ip -n "$ns" addr add "$(under4 "$i")/24" dev eth0
		ip -n "$ns" addr add "$(under6 "$i")/64" dev eth0 nodad
		ip -n "$ns" link set eth0 up
	done

	for h in "${HOSTS[@]}"; do
		ns=$(ns_of "$h")
		i=$(idx_of "$h")
		if uses_vtep "$h"; then
			log "$h: vtepd + vtep link add vx0 type vxlan id $VNI local $(under4 "$i") dev eth0 dstport $PORT"
			start_vtepd "$ns" "$(sock_of "$h")" "$RUNDIR/$h.vtepd.log" -log-level info
			echo "$VTEPD_PID" >"$RUNDIR/$h.vtepd.pid"
			vtep_cli "$ns" "$(sock_of "$h")" link add vx0 type vxlan id "$VNI" \
				local "$(under4 "$i")" dev eth0 dstport "$PORT"
			wait_for 10 "vx0 in $ns" link_exists "$ns" vx0
			for other in "${HOSTS[@]}"; do
				[[ $other == "$h" ]] && continue
				vtep_cli "$ns" "$(sock_of "$h")" fdb append 00:00:00:00:00:00 dev vx0 \
					dst "$(under4 "$(idx_of "$other")")"
			done
			vtep_cli "$ns" "$(sock_of "$h")" link set vx0 up
		else
			if [[ $KERNEL_ONLY != 1 && $KERNEL_TX_CSUM != on ]]; then
				# Optional: make the kernel finish its inner checksums
				# before the veth (vtepd completes them otherwise).
				log "$h: ethtool -K eth0 tx off (see KERNEL_TX_CSUM in $0)"
				ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
			fi
			log "$h: kernel: ip link add vx0 type vxlan id $VNI local $(under4 "$i") dev eth0 dstport $PORT"
			ip -n "$ns" link add vx0 type vxlan id "$VNI" local "$(under4 "$i")" dev eth0 dstport "$PORT"
			for other in "${HOSTS[@]}"; do
				[[ $other == "$h" ]] && continue
				bridge -n "$ns" fdb append 00:00:00:00:00:00 dev vx0 dst "$(under4 "$(idx_of "$other")")"
			done
		fi
		ip -n "$ns" addr add "$(over4 "$i")/24" dev vx0
		ip -n "$ns" addr add "$(over6 "$i")/64" dev vx0 nodad
		ip -n "$ns" link set vx0 up
	done
}

# ping_pairs: every host pings every other over IPv4 and IPv6 overlays.
ping_pairs() {
	local from to dst out summary failed=0
	log "ping between all pairs over the overlay"
	for from in "${HOSTS[@]}"; do
		for to in "${HOSTS[@]}"; do
			[[ $from == "$to" ]] && continue
			for dst in "$(over4 "$(idx_of "$to")")" "$(over6 "$(idx_of "$to")")"; do
				if out=$(ip netns exec "$(ns_of "$from")" ping -q -n -c 3 -i 0.2 -W 1 "$dst" 2>&1); then
					summary=$(grep -E 'transmitted|rtt' <<<"$out" | tr '\n' ' ')
					printf '  %s -> %s %-14s ok    %s\n' "$from" "$to" "$dst" "$summary"
				else
					summary=$(grep -E 'transmitted' <<<"$out" || echo "$out")
					printf '  %s -> %s %-14s FAIL  %s\n' "$from" "$to" "$dst" "$summary"
					failed=1
				fi
			done
		done
	done
	return "$failed"
}

# transfer FROM TO: iperf3 TCP for IPERF_TIME seconds over the overlay.
transfer() {
	local from=$1 to=$2 dst rc=0
	dst=$(over4 "$(idx_of "$to")")
	log "iperf3 TCP ${IPERF_TIME}s: $from -> $to ($dst)"
	start_iperf3_server "$(ns_of "$to")" "$dst" 5201 "$RUNDIR/iperf3-$to.log" || return 1
	ip netns exec "$(ns_of "$from")" timeout $((IPERF_TIME + 30)) \
		iperf3 -c "$dst" -p 5201 -t "$IPERF_TIME" --connect-timeout 5000 -f g |
		grep -E 'sender|receiver|error' || rc=1
	stop_pid "$IPERF3_PID" iperf3
	return "$rc"
}

show() {
	local h ns
	for h in "${HOSTS[@]}"; do
		ns=$(ns_of "$h")
		if uses_vtep "$h"; then
			echo "== $h: vtep -s link show vx0"
			vtep_cli "$ns" "$(sock_of "$h")" -s link show vx0 || true
			echo "== $h: vtep fdb show"
			vtep_cli "$ns" "$(sock_of "$h")" fdb show || true
		else
			echo "== $h (kernel): ip -d -s link show vx0"
			ip -n "$ns" -d -s link show vx0 || true
			echo "== $h (kernel): bridge fdb show dev vx0"
			bridge -n "$ns" fdb show dev vx0 || true
		fi
	done
}

main() {
	need_root "$@"
	need_tools ip bridge ss ping iperf3 timeout
	[[ $KERNEL_ONLY == 1 || $KERNEL_TX_CSUM == on ]] || need_tools ethtool
	case $MODE in
	down)
		down
		return
		;;
	run | up) ;;
	*) die "usage: $0 [run|up|down]" ;;
	esac

	if [[ $KERNEL_ONLY != 1 ]]; then
		if [[ ${NO_BUILD:-0} != 1 ]]; then
			have_vtep_sources || die "cmd/vtepd and cmd/vtep are not in the tree yet; run with KERNEL_ONLY=1 for an all-kernel lab"
			build_vtep
		fi
		[[ -x $VTEPD && -x $VTEP ]] || die "$VTEPD or $VTEP missing (make build)"
	fi

	# A lab left behind by a killed run would make every step fail.
	down
	if [[ $MODE == up ]]; then
		trap 'rc=$?; ((rc == 0)) || { log "setup failed; cleaning up"; down; }' EXIT
		up
		log "lab is up: try 'ip netns exec $(ns_of h1) ping $(over4 3)'"
		log "remove it with: ${PREFIX:+LAB_PREFIX=$PREFIX }$0 down"
		return
	fi
	trap on_exit EXIT
	up

	local failed=0
	ping_pairs || failed=1
	transfer h1 h3 || failed=1
	transfer h3 h2 || failed=1
	transfer h2 h1 || failed=1
	show
	if ((failed)); then
		die "some checks failed (see above)"
	fi
	log "all pings and transfers succeeded"
}

main "$@"
