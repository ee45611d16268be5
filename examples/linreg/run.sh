#!/usr/bin/env bash
# Federated linear regression across three sites (examples/linreg/README.md):
#   examples/linreg/run.sh
# Builds (scripts/setup.sh), writes the synthetic dataset (linreg-make-data:
# 3000 rows, 10 features, noise sd 1, seed 42), splits it 500 / 1000 / 1500,
# starts Mosquitto, the repository and three nodes on free loopback ports in
# a temporary directory (scripts/lib.sh), registers one share on each node
# (--regression), approves the plan, runs experiment.ini (10 rounds of 5
# epochs), then trains the same plan centrally on all 3000 rows
# (fedc-centralized, 50 epochs) as the baseline. Everything started here is
# stopped on exit, Ctrl-C or failure. Results land in out/linreg/ (history,
# global.params, run.log, centralized.txt).
#
# Environment: FEDC_BUILD_DIR (default build/), FEDC_SKIP_SETUP=1 (use the
# build as it is), FEDC_LINREG_OUTPUT (default out/linreg), OPENBLAS_CORETYPE
# (chosen from the CPU when unset, as fedc-node does).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FEDC_BUILD_DIR:-$root/build}
build=$(mkdir -p "$build" && cd "$build" && pwd)
output=${FEDC_LINREG_OUTPUT:-$root/out/linreg}

if [[ ${FEDC_SKIP_SETUP:-0} != 1 ]]; then
  FEDC_BUILD_DIR=$build "$root/scripts/setup.sh"
fi
for f in bin/fedc-node bin/fedc-researcher bin/fedc-repository bin/fedc-centralized bin/linreg-make-data \
  plans/linreg.so; do
  if [[ ! -e $build/$f ]]; then
    echo "linreg: $build/$f is missing: build first (scripts/setup.sh)" >&2
    exit 1
  fi
done

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
stack_init linreg
choose_blas_kernel

data="$dir/linreg.csv"
"$build/bin/linreg-make-data" --rows 3000 --features 10 --noise 1.0 --seed 42 "$data" | sed 's/^/linreg: /'

provision linreg linreg-researcher
start_broker
start_repository

# Three sites, uneven shares; each keeps the names header line.
shares=("1 500" "501 1000" "1501 1500")
sites=()
for i in 0 1 2; do
  read -r first count <<<"${shares[i]}"
  site="site-$i"
  sites+=("$site")
  csv="$dir/$site.csv"
  awk -v first="$first" -v count="$count" 'NR == 1 || (NR - 1 >= first && NR - 1 < first + count)' \
    "$data" >"$csv"
  node_init "$site"
  "$build/bin/fedc-node" --config "$(node_config "$site")" dataset add --name "linreg-$i" --regression \
    --tags linreg-synthetic --file "$csv" --description "share $i of the synthetic regression data" \
    >/dev/null
  "$build/bin/fedc-node" --config "$(node_config "$site")" plan approve "$build/plans/linreg.so" --name linreg \
    >/dev/null
  node_start "$site"
  echo "linreg: $site holds $count rows"
done
wait_nodes "${sites[@]}"
write_network "$dir/network.ini"

# `plan = linreg.so`: the researcher of $build takes $build/plans/linreg.so,
# the plan the nodes approved, whatever the build directory.
experiment=$here/experiment.ini

echo "linreg: broker on port $broker_port, repository on port $repo_port; running 10 rounds"
mkdir -p "$output"
"$build/bin/fedc-researcher" run "$experiment" --network "$dir/network.ini" --output "$output" --force \
  | tee "$output/run.log"

# The final evaluation per site, from the history (one JSON object a line).
echo "linreg: final global parameters on each site's test rows:"
grep '"type":"node"' "$output/history.jsonl" | grep '"kind":"evaluate"' |
  sed -E 's/.*"node_id":"([^"]*)".*"n_test":([0-9]+).*"global_metrics":\{([^}]*)\}.*/\1 \2 \3/' |
  awk '{ n = split($3, kv, ","); delete m
         for (k = 1; k <= n; k++) { split(kv[k], p, ":"); gsub(/"/, "", p[1]); m[p[1]] = p[2] }
         printf "linreg:   %s  %4d test rows  mse %.4f  r2 %.4f\n", $1, $2, m["mse"], m["r2"] }' | sort

echo "linreg: centralized baseline, the same plan on all 3000 rows for 10 x 5 epochs:"
"$build/bin/fedc-centralized" --regression "$experiment" "$data" | tee "$output/centralized.txt" |
  awk '$1 == "samples" { printf "linreg:   %d train rows, %d test rows\n", $2, $3 }
       $1 == "test" && ($2 == "mse" || $2 == "r2") { printf "linreg:   test %s %.4f\n", $2, $3 }'
