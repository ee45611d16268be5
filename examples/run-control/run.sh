#!/usr/bin/env bash
# examples/run-control on loopback (README.md): a federation provisioned by
# fedc-admin (TLS, signed messages) with three hospitals holding shares of
# the breast-cancer data, their analytics policy exact figures; then every
# command that looks at, steers or keeps a run:
#   nodes --json, search          what the nodes hold and advertise
#   run experiment.ini            analytics first, then training (require, keep_best)
#   status, stop --wait, resume   looked in on, stopped after a round, continued
#   export (npz, safetensors)     the best and the final model
#   archive                       one .tar.gz with a MANIFEST of digests
#   run ../logreg/cyclic.ini      the same model trained node after node
# Everything started here is stopped on exit. Results in out/run-control/.
#   examples/run-control/run.sh
# Environment: FEDC_BUILD_DIR (default build/), FEDC_SKIP_SETUP=1 (use the
# build as it is).
set -euo pipefail

(($# == 0)) || { echo "usage: examples/run-control/run.sh" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${FEDC_BUILD_DIR:-$root/build}
if [[ ${FEDC_SKIP_SETUP:-0} != 1 ]]; then
  FEDC_BUILD_DIR=$build "$root/scripts/setup.sh"
fi

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
stack_init run-control
provision run-control run-control-researcher
start_broker
start_repository

data="$root/examples/data/breast_cancer.csv"
shares=("1 190" "191 190" "381 189")
for i in 0 1 2; do
  read -r first count <<<"${shares[i]}"
  csv="$dir/hospital-$i.csv"
  # rows [first, first + count) with the counts header made to match
  awk -v first="$first" -v count="$count" -F, 'NR == 1 { sub(/^[0-9]+/, count); print; next }
    NR - 1 >= first && NR - 1 < first + count' "$data" >"$csv"
  node_init "hospital-$i"
  cfg=$(node_config "hospital-$i")
  "$build/bin/fedc-node" --config "$cfg" dataset add --name "breast-cancer-$i" --tags breast-cancer \
    --file "$csv" >/dev/null
  "$build/bin/fedc-node" --config "$cfg" plan approve "$build/plans/logreg.so" --name logreg >/dev/null
  printf '\n[analytics]\nenabled = true\nnoise = none\nmin_count = 5\n' >>"$cfg"
  node_start "hospital-$i"
done
wait_nodes hospital-0 hospital-1 hospital-2
write_network "$dir/network.ini"

researcher() { "$build/bin/fedc-researcher" "$@"; }
out=$root/out/run-control
rm -rf "$out" "$out.tar.gz" "$root/out/run-control-cyclic"
mkdir -p "$root/out"

echo "== nodes --json: datasets and capabilities, for scripts"
researcher nodes --network "$dir/network.ini" --json >"$dir/nodes.json"
/usr/bin/python3 - "$dir/nodes.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for n in doc["nodes"]:
    c = n["capabilities"] or {}
    print(n["node_id"], "abi", int(c.get("abi", 0)), "cores", int(c.get("cores", 0)),
          [(d["name"], d["n_samples"]) for d in n["datasets"]])
PY
echo "== search: the nodes with the tag, and what they advertise"
researcher search --tags breast-cancer --network "$dir/network.ini"

echo "== run: analytics, then 40 rounds (in the background)"
researcher run "$root/examples/run-control/experiment.ini" --network "$dir/network.ini" >"$dir/run.log" 2>&1 &
run_pid=$!
# status.json appears with the run; look in once round 3 is under way
wait_for 60 bash -c "'$build/bin/fedc-researcher' status '$out' --json | grep -Eq '\"round\": ([3-9]|[1-9][0-9])'"
researcher status "$out"
echo "== stop --wait: ends after the current round, with a breakpoint"
researcher stop "$out" --wait || true # status of the stopped run follows
code=0
wait "$run_pid" || code=$?
((code == 3)) || { echo "run.sh: the run ended with $code, not 3 (stopped)" >&2; cat "$dir/run.log" >&2; exit 1; }
grep -A8 "analytics before training" "$dir/run.log"

echo "== resume: continues from the breakpoint to round 40"
researcher resume "$out" | tail -n 4
researcher status "$out"

echo "== export: the best and the final model"
researcher export "$out" --format npz --best       # out/run-control/best.npz
researcher export "$out" --format safetensors      # out/run-control/global.safetensors
/usr/bin/python3 -c 'import numpy as np, sys
m = np.load(sys.argv[1]); print({k: m[k].shape for k in m.files})' "$out/best.npz"

echo "== archive: history, node logs, analytics, models, MANIFEST"
researcher archive "$out"                          # out/run-control.tar.gz
tar tzf "$out.tar.gz"
mkdir -p "$dir/unpacked"
tar xzf "$out.tar.gz" -C "$dir/unpacked"
(cd "$dir/unpacked/run-control" && sha256sum --quiet -c MANIFEST && echo "MANIFEST: every digest matches")

echo "== cyclic: the same model passed from node to node"
researcher run "$root/examples/logreg/cyclic.ini" --network "$dir/network.ini" \
  --output "$root/out/run-control-cyclic" | tail -n 3
