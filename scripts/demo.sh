#!/usr/bin/env bash
# README's first command: set-up (scripts/setup.sh), then a real federated
# experiment on loopback: Mosquitto, the repository and three hospital nodes
# holding uneven shares of the breast-cancer data, a logistic regression
# trained for 10 rounds. The federation runs as in production: provisioned by
# fedc-admin, MQTT over TLS with per-participant passwords and an ACL, the
# repository over HTTPS with per-participant tokens, every message signed. Everything started here is stopped on exit, Ctrl-C
# or failure. Results (history, final parameters) land in out/logreg/.
#
#   scripts/demo.sh [--private | --xval]
#
# --private runs examples/private instead of examples/logreg on the same
# set-up (its own plan, private.so, approved instead of logreg.so): secure
# aggregation and node-level differential privacy; results in out/private/.
# --xval runs examples/logreg/xval.ini: the logreg run followed by cross-site
# validation; results in out/logreg-xval/.
# Environment: FEDC_BUILD_DIR (default build/), FEDC_SKIP_SETUP=1 (use the
# build as it is: no package check, no build).
set -euo pipefail

example=logreg # the directory under examples/, and the plan its experiment runs
experiment=experiment.ini output=logreg # the experiment file in it, the directory under out/
case ${1:-} in
  "") ;;
  --private) example=private output=private ;;
  --xval) experiment=xval.ini output=logreg-xval ;;
  *) echo "usage: scripts/demo.sh [--private | --xval]" >&2; exit 2 ;;
esac
(($# <= 1)) || { echo "usage: scripts/demo.sh [--private | --xval]" >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FEDC_BUILD_DIR:-$root/build}
if [[ ${FEDC_SKIP_SETUP:-0} != 1 ]]; then
  FEDC_BUILD_DIR=$build "$root/scripts/setup.sh"
fi

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
stack_init demo
provision demo demo-researcher
start_broker
start_repository

# Three hospitals, uneven shares of the 569 rows (the counts header is kept
# true to each share: fedc-node checks it).
data="$root/examples/data/breast_cancer.csv"
shares=("1 100" "101 180" "281 289")
for i in 0 1 2; do
  read -r first count <<<"${shares[i]}"
  csv="$dir/hospital-$i.csv"
  awk -v first="$first" -v count="$count" -F, 'NR == 1 { sub(/^[0-9]+/, count); print; next }
    NR - 1 >= first && NR - 1 < first + count' "$data" >"$csv"
  node_init "hospital-$i"
  cfg=$(node_config "hospital-$i")
  "$build/bin/fedc-node" --config "$cfg" dataset add --name "breast-cancer-$i" \
    --tags breast-cancer,tabular --file "$csv" \
    --description "share $i of the Wisconsin diagnostic data" >/dev/null
  "$build/bin/fedc-node" --config "$cfg" plan approve "$build/plans/$example.so" --name "$example" >/dev/null
  node_start "hospital-$i"
  echo "demo: hospital-$i holds $count rows"
done
wait_nodes hospital-0 hospital-1 hospital-2

write_network "$dir/network.ini"

if [[ $example == private ]]; then
  echo "demo: secure aggregation and node-level differential privacy (examples/private)"
fi
echo "demo: broker on ssl://127.0.0.1:$broker_port, repository on https://127.0.0.1:$repo_port; running 10 rounds"
"$build/bin/fedc-researcher" run "$root/examples/$example/$experiment" --network "$dir/network.ini" \
  --output "$root/out/$output"
