#!/usr/bin/env bash
# examples/predict on loopback (README.md): the federation of scripts/demo.sh
# (fedc-admin, TLS, signed messages; three hospitals holding shares of the
# breast-cancer data), the logreg experiment, then the final model used at
# the nodes: `fedc-researcher predict` (each hospital writes its predictions
# to a file of its own and answers counts) and `fedc-researcher explain`
# (permutation importance on the test rows), `fedc-researcher robust` (the
# model under FGSM and PGD attack on the test rows), and robust.ini: the same
# experiment with a [robustness] section, whose run ends with that stage.
# Everything started here is stopped on exit. Results in out/predict/:
# predict.json, reliability.svg, explain.json, explain.svg, robust.json,
# robust.svg, and a copy of each hospital's predictions file under
# hospital-N/ (the hospitals' data directories are temporary here); the
# [robustness] run in out/predict-robust/.
#   examples/predict/run.sh
# Environment: FEDC_BUILD_DIR (default build/), FEDC_SKIP_SETUP=1 (use the
# build as it is).
set -euo pipefail

(($# == 0)) || { echo "usage: examples/predict/run.sh" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${FEDC_BUILD_DIR:-$root/build}
if [[ ${FEDC_SKIP_SETUP:-0} != 1 ]]; then
  FEDC_BUILD_DIR=$build "$root/scripts/setup.sh"
fi

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
stack_init predict
provision predict predict-researcher
start_broker
start_repository

data="$root/examples/data/breast_cancer.csv"
shares=("1 200" "201 200" "401 169") # first row (from 1), rows
for i in 0 1 2; do
  read -r first count <<<"${shares[i]}"
  csv="$dir/hospital-$i.csv"
  awk -v first="$first" -v count="$count" -F, 'NR == 1 { sub(/^[0-9]+/, count); print; next }
    NR - 1 >= first && NR - 1 < first + count' "$data" >"$csv"
  node_init "hospital-$i"
  cfg=$(node_config "hospital-$i")
  "$build/bin/fedc-node" --config "$cfg" dataset add --name "breast-cancer-$i" \
    --tags breast-cancer,tabular --file "$csv" >/dev/null
  "$build/bin/fedc-node" --config "$cfg" plan approve "$build/plans/logreg.so" --name logreg >/dev/null
  node_start "hospital-$i"
done
wait_nodes hospital-0 hospital-1 hospital-2

out="$root/out/predict"
write_network "$dir/network.ini"
"$build/bin/fedc-researcher" run "$root/examples/logreg/experiment.ini" --network "$dir/network.ini" \
  --output "$out" --force >/dev/null
echo "== predict"
"$build/bin/fedc-researcher" predict "$out" --dataset-tags breast-cancer --network "$dir/network.ini"
echo "== explain"
"$build/bin/fedc-researcher" explain "$out" --metric loss --repeats 10 --network "$dir/network.ini"

echo "== robust"
"$build/bin/fedc-researcher" robust "$out" --epsilons 0.1,0.5 --network "$dir/network.ini"
echo "== run with [robustness] (examples/predict/robust.ini)"
"$build/bin/fedc-researcher" run "$root/examples/predict/robust.ini" --network "$dir/network.ini" --force

# What each hospital's operator finds in its data directory (mode 0600).
for i in 0 1 2; do
  mkdir -p "$out/hospital-$i"
  cp "$fed"/nodes/hospital-"$i"/data/predictions/*.csv "$out/hospital-$i/"
done
echo "== hospital-0's predictions file (first lines)"
head -4 "$out"/hospital-0/*.csv
