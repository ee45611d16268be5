#!/bin/bash
# Smoke test of bench_wan_link (bench/wan_link.c), the relay of bench/wan.sh:
# bad arguments are refused with a message naming them; across the link a
# TCP echo of 1 MB comes back intact with no delay and with a 40 ms RTT; the
# link never answers faster than its RTT (a lower bound only: a slow machine
# cannot fail it); the counters file shows the configuration, the bytes, the
# connection and its turnarounds. Needs root (namespaces, TUN) and iproute2
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

# One echo across the link at RTT $1 ms; checks the bytes, the RTT's lower bound, the counters.
echo_across() {
	local rtt=$1 port=$((20000 + $$ % 20000)) server ms
	"$link" --server-netns "$server_ns" --nodes-netns "$nodes_ns" --rtt-ms "$rtt" --counters "$counters" --dev smoke0 &
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
	ms=$(ip netns exec "$nodes_ns" python3 "$echo_py" client 10.78.0.1 "$port" 1000000) ||
		fail "RTT $rtt: the echo failed"
	wait "$server" || fail "RTT $rtt: the echo server failed"
	awk -v ms="$ms" -v rtt="$rtt" 'BEGIN { exit !(ms >= rtt) }' ||
		fail "RTT $rtt: a connection took $ms ms, less than the RTT"
	local c
	c=$(python3 "$echo_py" counters "$counters")
	grep -qx "delay_us=$((rtt * 500))" <<<"$c" || fail "RTT $rtt: counters: $c"
	# (the client retries while the server is not listening yet: SYNs refused count too)
	awk -F= '$1 == "connections" && $2 < 1 { bad = 1 } $1 == "up_bytes" && $2 < 1000000 { bad = 1 } $1 == "down_bytes" && $2 < 1000000 { bad = 1 }
		 $1 == "turnarounds" && $2 < 1 { bad = 1 } END { exit bad }' <<<"$c" ||
		fail "RTT $rtt: counters too small: $c"
	kill "$relay"
	wait "$relay" || fail "RTT $rtt: the relay did not stop cleanly on SIGTERM"
	relay=
	echo "RTT $rtt ms: 1 MB echoed intact, connect $ms ms"
}

echo_across 0
echo_across 40
echo "ok"
