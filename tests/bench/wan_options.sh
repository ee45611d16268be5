#!/bin/bash
# bench/wan.sh's TCP options (--cc, --initcwnd): a congestion control the
# kernel does not offer, a window that is not a number of segments from 1 to
# 999, or an option without its value is refused with status 2 and a message
# naming the option, before anything is created (no root needed for that);
# --help documents both options.
#
#   wan_options.sh WAN_SH
set -eu

wan=$1
# A build directory that does not exist: should a bad value get past the
# checks, the script stops there (naming --build, so the check below fails)
# instead of running the bench.
nobuild=/nonexistent/fedc-wan-options-$$
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# refused ARGS... : status 2 and a message naming the option (the first ARG).
refused() {
	local out status=0

	out=$("$wan" --build "$nobuild" "$@" 80 2>&1) || status=$?
	[ "$status" -eq 2 ] || fail "$*: status $status, not 2: $out"
	grep -q -- "$1" <<<"$out" || fail "$*: the message does not name $1: $out"
}

refused --cc no-such-algorithm
refused --initcwnd 0
refused --initcwnd 1000
refused --initcwnd forty
refused --initcwnd -5

# A missing value: bash's ${2:?} names the option in its message.
out=$("$wan" --cc 2>&1) && fail "--cc without a value accepted"
grep -q -- "--cc needs" <<<"$out" || fail "--cc without a value: message: $out"
out=$("$wan" --initcwnd 2>&1) && fail "--initcwnd without a value accepted"
grep -q -- "--initcwnd needs" <<<"$out" || fail "--initcwnd without a value: message: $out"

# The kernel's offer, named in the refusal, so that the user sees what to pick.
available=$(cat /proc/sys/net/ipv4/tcp_available_congestion_control)
out=$("$wan" --build "$nobuild" --cc no-such-algorithm 80 2>&1) || true
grep -qF -- "$available" <<<"$out" || fail "--cc refusal does not list the kernel's algorithms ($available): $out"

help=$("$wan" --help)
for opt in --cc --initcwnd --no-idle-restart --no-offload; do
	grep -q -- "$opt" <<<"$help" || fail "--help does not document $opt"
done
echo "ok: bench/wan.sh refuses bad --cc and --initcwnd values and documents them"
