#!/bin/bash
# Smoke test of bench_wan_link (bench/wan_link.c), the relay of bench/wan.sh:
# bad arguments are refused with a message naming them; across the link a
# TCP echo of 1 MB comes back intact with no delay and with a 40 ms RTT,
# with TCP segmentation offload (the default: super-packets cross whole) and
# without (--no-offload); the link never answers faster than its RTT, nor
# carries the echo faster than its rate (lower bounds only: a slow machine
# cannot fail them); the counters file shows the configuration, the bytes,
# the connection and its turnarounds, and counts segments of at most the
# MTU, as a wire would, also when super-packets crossed. Needs root (namespaces, TUN) and iproute2
# (scripts/setup.sh): without them it fails, saying so, rather than skip.
#
#   wan_link_smoke.sh BENCH_WAN_LINK
set -eu

link=$1
here=$(cd "$(dirname "$0")" && pwd)
echo_py=$here/wan_echo.py

if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ] || ! command -v ip >/dev/null; then
	echo "FAIL: needs root, /dev/net/tun and iproute2 (scripts/setup.sh installs iproute2; run the suite as root)" >&2
	exit 1
fi
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Bad arguments: status 2 and the option in the message.
out=$("$link" --server-netns a --nodes-netns b --rtt-ms fast 2>&1) && fail "--rtt-ms fast accepted"
[ $? -eq 2 ] || fail "--rtt-ms fast: status not 2"
grep -q -- "--rtt-ms" <<<"$out" || fail "--rtt-ms fast: message does not name it: $out"
out=$("$link" --server-netns a --rtt-ms 1 2>&1) && fail "missing --nodes-netns accepted"
grep -q -- "--nodes-netns" <<<"$out" || fail "missing --nodes-netns: message does not name it: $out"
out=$("$link" --server-netns fedc-no-such-ns-$$ --nodes-netns fedc-no-such-ns-$$ --rtt-ms 1 2>&1) &&
	fail "a missing namespace accepted"
grep -q "no network namespace fedc-no-such-ns-$$" <<<"$out" || fail "missing namespace: message: $out"

server_ns=fedc-smoke-$$-server
nodes_ns=fedc-smoke-$$-nodes
counters=$(mktemp /tmp/fedc-smoke-link-XXXXXX)
relay=
cleanup() {
	if [ -n "$relay" ]; then
		kill "$relay" 2>/dev/null || true
		wait "$relay" 2>/dev/null || true
	fi
	ip netns del "$server_ns" 2>/dev/null || true
	ip netns del "$nodes_ns" 2>/dev/null || true
	rm -f "$counters"
}
trap cleanup EXIT
if ! ip netns add "$server_ns" 2>/dev/null; then
	echo "FAIL: cannot create network namespaces here (ip netns add as root)" >&2
	exit 1
fi
ip netns add "$nodes_ns"

# One echo across the link at RTT $1 ms, rate $2 Mbit/s (0: no limit), more
# relay options after them; checks the bytes, the RTT's and the rate's lower
# bounds, the counters.
echo_across() {
	local rtt=$1 rate=$2 port=$((20000 + $$ % 20000)) server ms start elapsed_ms
	shift 2
	"$link" --server-netns "$server_ns" --nodes-netns "$nodes_ns" --rtt-ms "$rtt" --rate-mbit "$rate" \
		--counters "$counters" --dev smoke0 "$@" &
	relay=$!
	for _ in $(seq 100); do
		ip -n "$nodes_ns" link show smoke0 >/dev/null 2>&1 && ip -n "$server_ns" link show smoke0 >/dev/null 2>&1 && break
		sleep 0.05
	done
	ip -n "$server_ns" addr add 10.78.0.1 peer 10.78.0.2 dev smoke0
	ip -n "$nodes_ns" addr add 10.78.0.2 peer 10.78.0.1 dev smoke0
	ip -n "$server_ns" link set smoke0 up
	ip -n "$nodes_ns" link set smoke0 up
	ip netns exec "$server_ns" python3 "$echo_py" server 10.78.0.1 "$port" &
	server=$!
	start=$(date +%s%N)
	ms=$(ip netns exec "$nodes_ns" python3 "$echo_py" client 10.78.0.1 "$port" 1000000) ||
		fail "RTT $rtt $*: the echo failed"
	elapsed_ms=$((($(date +%s%N) - start) / 1000000))
	wait "$server" || fail "RTT $rtt $*: the echo server failed"
	awk -v ms="$ms" -v rtt="$rtt" 'BEGIN { exit !(ms >= rtt) }' ||
		fail "RTT $rtt $*: a connection took $ms ms, less than the RTT"
	# 1 MB each way, both ways at once: at least 8 Mbit / rate
	[ "$rate" = 0 ] || [ "$elapsed_ms" -ge $((8000 / rate)) ] ||
		fail "rate $rate Mbit/s $*: 1 MB echoed in $elapsed_ms ms, faster than the rate allows"
	local c
	c=$(python3 "$echo_py" counters "$counters")
	grep -qx "delay_us=$((rtt * 500))" <<<"$c" || fail "RTT $rtt: counters: $c"
	# (the client retries while the server is not listening yet: SYNs refused count too)
	# segments of at most the MTU (1500): packets >= bytes / 1500 each way
	awk -F= '$1 == "connections" && $2 < 1 { bad = 1 } $1 == "up_bytes" && $2 < 1000000 { bad = 1 } $1 == "down_bytes" && $2 < 1000000 { bad = 1 }
		 $1 == "turnarounds" && $2 < 1 { bad = 1 } { v[$1] = $2 }
		 END { if (v["up_packets"] * 1500 < v["up_bytes"] || v["down_packets"] * 1500 < v["down_bytes"]) bad = 1; exit bad }' <<<"$c" ||
		fail "RTT $rtt $*: counters too small: $c"
	kill "$relay"
	wait "$relay" || fail "RTT $rtt $*: the relay did not stop cleanly on SIGTERM"
	relay=
	echo "RTT $rtt ms, rate $rate Mbit/s $*: 1 MB echoed intact in $elapsed_ms ms, connect $ms ms"
}

echo_across 0 0
echo_across 40 0
echo_across 0 0 --no-offload
echo_across 40 0 --no-offload
echo_across 0 40
echo_across 0 40 --no-offload
echo "ok"
