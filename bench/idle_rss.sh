#!/usr/bin/env bash
# The memory of an idle node daemon (issue #19: at most 8 MB of RSS): a
# federation on loopback as scripts/demo.sh sets it up (fedc-admin, Mosquitto
# over TLS with passwords and ACL, the HTTPS repository), N nodes, each with a
# registered dataset and an approved plan, started and connected, no job.
# After SETTLE seconds it prints each node's RSS and PSS
# (/proc/PID/smaps_rollup) and, for the first node, the RSS and PSS of every
# mapping grouped by file (shared libraries, the executable, [heap],
# anonymous memory, [stack]), largest first. Then the same for the floor:
# bench_idle_floor, Paho and OpenSSL holding one TLS MQTT connection to the
# same broker as a node of its own, and nothing else.
#
#   bench/idle_rss.sh [--metrics] [N] [SETTLE]     defaults: 1 node, 3 s
#
# --metrics turns on the node's Prometheus listener ([metrics] listen) too.
# Environment: FEDC_BUILD_DIR (default build/).
set -euo pipefail

usage() { echo "usage: bench/idle_rss.sh [--metrics] [N] [SETTLE]" >&2; exit 2; }
metrics=0
if [[ ${1:-} == --metrics ]]; then metrics=1; shift; fi
n=${1:-1} settle=${2:-3}
(($# <= 2)) || usage
[[ $n =~ ^[1-9][0-9]{0,2}$ ]] || { echo "idle_rss.sh: N must be 1-999 nodes, not '$n'" >&2; exit 2; }
[[ $settle =~ ^[0-9]{1,3}$ ]] || { echo "idle_rss.sh: SETTLE must be 0-999 seconds, not '$settle'" >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FEDC_BUILD_DIR:-$root/build}
[[ -x $build/bin/fedc-node ]] || { echo "idle_rss.sh: no $build/bin/fedc-node: build first (or set FEDC_BUILD_DIR)" >&2; exit 1; }

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
stack_init idle-rss
provision idle idle-researcher
start_broker
start_repository

node_pids=() ids=()
for ((i = 0; i < n; i++)); do
  id=node-$i
  node_init "$id"
  cfg=$(node_config "$id")
  if ((metrics)); then
    printf '\n[metrics]\nlisten = 127.0.0.1:0\n' >>"$cfg"
  fi
  "$build/bin/fedc-node" --config "$cfg" dataset add --name "data-$i" --tags bench \
    --file "$root/examples/data/breast_cancer.csv" >/dev/null 2>&1
  "$build/bin/fedc-node" --config "$cfg" plan approve "$build/plans/logreg.so" --name logreg >/dev/null 2>&1
  node_start "$id"
  node_pids+=("${pids[-1]}")
  ids+=("$id")
done
# The floor: an account of its own on the broker.
node_init floor
"$build/bin/bench_idle_floor" "$fed/nodes/floor" >"$dir/floor.log" 2>&1 &
floor_pid=$!
pids+=("$floor_pid")
wait_nodes "${ids[@]}"
wait_for 20 grep -q connected "$dir/floor.log"
sleep "$settle"

# kB of a field of /proc/PID/smaps_rollup
rollup() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/smaps_rollup"; }

# RSS, PSS and private memory of every mapping of a process, grouped by
# file: a header line names the mapping (its file, or [heap], [stack], or
# nothing for anonymous memory); the Rss, Pss and Private lines after it are
# summed under that name. Largest RSS first, then the number of libraries.
by_mapping() { # by_mapping TITLE PID
  printf '\n%-30s %8s %8s %8s\n' "$1 by mapping (kB):" RSS PSS private
  awk '
    /^[0-9a-f]+-[0-9a-f]+ / { name = $6 == "" ? "[anonymous]" : $6; sub(".*/", "", name); next }
    $1 == "Rss:" { rss[name] += $2 }
    $1 == "Pss:" { pss[name] += $2 }
    $1 == "Private_Clean:" || $1 == "Private_Dirty:" { priv[name] += $2 }
    END { for (m in rss) if (rss[m] > 0) printf "%-30s %8d %8d %8d\n", m, rss[m], pss[m], priv[m] }
  ' "/proc/$2/smaps" | sort -k2,2nr
  echo "libraries mapped: $(awk '/^[0-9a-f]+-[0-9a-f]+ / && $6 ~ /\.so/ { print $6 }' "/proc/$2/smaps" | sort -u | wc -l)"
}

mb() { bc -l <<<"$1/1024"; }

rss=0 pss=0
for ((i = 0; i < n; i++)); do
  pid=${node_pids[i]}
  r=$(rollup "$pid" Rss) p=$(rollup "$pid" Pss)
  printf '%-8s pid %-7s RSS %6.2f MB  PSS %6.2f MB  private %6.2f MB\n' "${ids[i]}" "$pid" \
    "$(mb "$r")" "$(mb "$p")" "$(mb "$(($(rollup "$pid" Private_Clean) + $(rollup "$pid" Private_Dirty)))")"
  rss=$((rss + r)) pss=$((pss + p))
done
printf 'mean of %d idle node(s): RSS %.2f MB, PSS %.2f MB\n' "$n" "$(mb "$rss/$n")" "$(mb "$pss/$n")"
printf 'floor (bench_idle_floor): RSS %.2f MB, PSS %.2f MB, private %.2f MB\n' "$(mb "$(rollup "$floor_pid" Rss)")" \
  "$(mb "$(rollup "$floor_pid" Pss)")" \
  "$(mb "$(($(rollup "$floor_pid" Private_Clean) + $(rollup "$floor_pid" Private_Dirty)))")"
by_mapping node-0 "${node_pids[0]}"
by_mapping floor "$floor_pid"
