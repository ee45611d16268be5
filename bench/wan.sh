#!/bin/bash
# bench/wan.sh: bench_round across a wide-area link (docs/benchmarks.md, "Across a WAN").
#
#   bench/wan.sh [--build DIR] [--rate-mbit R] [--mtu BYTES] [--no-idle-restart]
#                [--cc NAME] [--initcwnd SEGMENTS] [--no-upload] [--no-offload]
#                RTT_MS [ROUNDS] [N,...] [P,...]
#
# The nodes run in one network namespace; the broker, the repository, the
# researcher (and bench_round itself) in another. Between them runs
# bench_wan_link (bench/wan_link.c): two TUN devices and a relay that delays
# every packet by RTT/2 each way and paces it to R Mbit/s per direction
# (default: no limit). The nodes run the identity plan with upload_step (a
# small per-node step, so every node really uploads its update) unless
# --no-upload gives them the plain identity plan. --mtu sets the link's MTU
# (default 1500); --no-idle-restart sets net.ipv4.tcp_slow_start_after_idle
# to 0 in both namespaces. --cc (cubic, bbr, reno) and --initcwnd (the
# initial congestion and receive windows, in segments) go on the route each
# namespace has to the other (`ip route change ... congctl cubic initcwnd N
# initrwnd N`); by default the host's congestion control and 10 segments.
# --no-offload makes the relay carry one MTU-sized packet per read and write
# (the link before TCP segmentation offload: about 5x its CPU at P=1e6).
# bench_round's own options may follow RTT_MS (e.g. --train-ms=MS: each
# node's training takes MS ms, so repository connections idle between a
# round's GET and PUT).
# Needs root (namespaces, TUN). Both namespaces,
# the relay and the counters file go away on exit, also on Ctrl-C, SIGTERM
# or an error.
set -eu

build=build
rate=0
mtu=1500
idle_restart=1
cc=
initcwnd=
upload=--upload
offload=
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?--build needs a directory}; shift 2 ;;
	--rate-mbit) rate=${2:?--rate-mbit needs a number}; shift 2 ;;
	--mtu) mtu=${2:?--mtu needs a number}; shift 2 ;;
	--no-idle-restart) idle_restart=0; shift ;;
	--cc) cc=${2:?--cc needs a congestion control name: cubic, bbr or reno}; shift 2 ;;
	--initcwnd) initcwnd=${2:?--initcwnd needs a number of segments}; shift 2 ;;
	--no-upload) upload=; shift ;;
	--no-offload) offload=--no-offload; shift ;;
	-h|--help) sed -n '2,/^set -eu/{/^#/p}' "$0"; exit 0 ;;
	*) break ;;
	esac
done
if [ $# -lt 1 ]; then
	echo "usage: bench/wan.sh [--build DIR] [--rate-mbit R] [--mtu BYTES] [--no-idle-restart] [--cc NAME]" \
		"[--initcwnd SEGMENTS] [--no-upload] [--no-offload] RTT_MS [ROUNDS] [N,...] [P,...]" >&2
	exit 2
fi
rtt=$1
shift
if [ -n "$cc" ] && ! grep -qw -- "$cc" /proc/sys/net/ipv4/tcp_available_congestion_control; then
	echo "bench/wan.sh: --cc $cc: this kernel offers only" \
		"$(cat /proc/sys/net/ipv4/tcp_available_congestion_control)" >&2
	exit 2
fi
case $initcwnd in
'' | [1-9] | [1-9][0-9] | [1-9][0-9][0-9]) ;;
*) echo "bench/wan.sh: --initcwnd $initcwnd: give a number of segments from 1 to 999" >&2; exit 2 ;;
esac
if [ "$(id -u)" != 0 ]; then
	echo "bench/wan.sh: run it as root: it creates network namespaces and TUN devices" >&2
	exit 2
fi
for prog in bench_wan_link bench_round; do
	if [ ! -x "$build/bin/$prog" ]; then
		echo "bench/wan.sh: no $build/bin/$prog: build first, or name the build directory with --build" >&2
		exit 2
	fi
done

tag=fedc-wan-$$
server_ns=$tag-server
nodes_ns=$tag-nodes
server_addr=10.77.0.1
nodes_addr=10.77.0.2
counters=$(mktemp /tmp/fedc-wan-link-XXXXXX)
relay=
bench=

cleanup() {
	if [ -n "$bench" ]; then
		kill "$bench" 2>/dev/null || true
		wait "$bench" 2>/dev/null || true
	fi
	if [ -n "$relay" ]; then
		kill "$relay" 2>/dev/null || true
		wait "$relay" 2>/dev/null || true
	fi
	ip netns del "$server_ns" 2>/dev/null || true
	ip netns del "$nodes_ns" 2>/dev/null || true
	rm -f "$counters"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$server_ns"
ip netns add "$nodes_ns"
"$build/bin/bench_wan_link" --server-netns "$server_ns" --nodes-netns "$nodes_ns" --rtt-ms "$rtt" \
	--rate-mbit "$rate" --counters "$counters" $offload &
relay=$!
for _ in $(seq 200); do
	if ip -n "$server_ns" link show wan0 >/dev/null 2>&1 && ip -n "$nodes_ns" link show wan0 >/dev/null 2>&1; then
		break
	fi
	kill -0 "$relay" 2>/dev/null || { echo "bench/wan.sh: the link did not start" >&2; exit 1; }
	sleep 0.05
done
for ns in "$server_ns" "$nodes_ns"; do
	ip netns exec "$ns" sysctl -q -w net.ipv4.tcp_slow_start_after_idle="$idle_restart"
done
ip -n "$server_ns" link set lo up
ip -n "$nodes_ns" link set lo up
ip -n "$server_ns" addr add "$server_addr" peer "$nodes_addr" dev wan0
ip -n "$nodes_ns" addr add "$nodes_addr" peer "$server_addr" dev wan0
# A deep queue in front of each TUN device (the kernel's default is 500
# packets): a TCP burst waits there for the relay instead of being dropped
# while the relay waits for a core. It is not the modelled link's queue.
ip -n "$server_ns" link set wan0 mtu "$mtu" txqueuelen 20000 up
ip -n "$nodes_ns" link set wan0 mtu "$mtu" txqueuelen 20000 up
# Per route, as an operator would set them: a namespace other than the
# host's may only make an "allowed" algorithm its default
# (net.ipv4.tcp_allowed_congestion_control), a route may name any.
route_opts=()
[ -z "$cc" ] || route_opts+=(congctl "$cc")
[ -z "$initcwnd" ] || route_opts+=(initcwnd "$initcwnd" initrwnd "$initcwnd")
if [ ${#route_opts[@]} -gt 0 ]; then
	ip -n "$server_ns" route change "$nodes_addr" dev wan0 "${route_opts[@]}"
	ip -n "$nodes_ns" route change "$server_addr" dev wan0 "${route_opts[@]}"
fi
echo "bench/wan.sh: TCP congestion control ${cc:-$(ip netns exec "$server_ns" sysctl -n net.ipv4.tcp_congestion_control)}," \
	"slow start after idle $idle_restart, initial windows ${initcwnd:-10 (the default)}"

# In the background and waited for: bash runs a trap only once the
# foreground command is over, and a SIGTERM to this script must not wait
# for the bench. bench_round's servers and nodes die with it (PDEATHSIG).
ip netns exec "$server_ns" "$build/bin/bench_round" --wan="$nodes_ns,$server_addr,$counters" $upload "$@" &
bench=$!
status=0
wait "$bench" || status=$?
bench=

# Packets the kernel dropped because the relay did not read its TUN device
# in time: then the relay, not the modelled link, limited the run.
for ns in "$server_ns" "$nodes_ns"; do
	dropped=$(ip netns exec "$ns" cat /sys/class/net/wan0/statistics/tx_dropped 2>/dev/null) || continue
	if [ "$dropped" != 0 ]; then
		echo "bench/wan.sh: $dropped packets dropped at the TUN device in $ns: the relay fell behind" \
			"(the figures above count those losses; a larger --mtu lightens the relay)"
	fi
done
exit "$status"
