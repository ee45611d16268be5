#!/usr/bin/env bash
# examples/messy-csv on loopback (README.md): a federation provisioned by
# fedc-admin (TLS, signed messages), three clinics holding the messy tables
# make_data.sh writes (named columns, missing cells, a categorical size_band,
# quoted notes), each registering its file and approving build/plans/messy-csv.so;
# then `search` (kind and shape of each dataset) and 10 rounds of
# experiment.ini. Everything started here is stopped on exit. Results in
# out/messy-csv/.
#   examples/messy-csv/run.sh
# Environment: FEDC_BUILD_DIR (default build/), FEDC_SKIP_SETUP=1 (use the
# build as it is).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${FEDC_BUILD_DIR:-$root/build}
if [[ ${FEDC_SKIP_SETUP:-0} != 1 ]]; then
  FEDC_BUILD_DIR=$build "$root/scripts/setup.sh"
fi

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
stack_init messy-csv
provision messy messy-researcher
start_broker
start_repository

"$root/examples/messy-csv/make_data.sh" "$dir/data" 3 42
for i in 0 1 2; do
  node_init "clinic-$i"
  cfg=$(node_config "clinic-$i")
  # Registration reads the file through libcsv and prints its columns' summary.
  "$build/bin/fedc-node" --config "$cfg" dataset add --name "messy-$i" --tags messy-breast \
    --file "$dir/data/node-$i.csv" --description "share $i, as exported" >/dev/null
  "$build/bin/fedc-node" --config "$cfg" plan approve "$build/plans/messy-csv.so" --name messy-csv >/dev/null
  node_start "clinic-$i"
done
wait_nodes clinic-0 clinic-1 clinic-2
"$build/bin/fedc-node" --config "$(node_config clinic-0)" dataset show messy-0

write_network "$dir/network.ini"
"$build/bin/fedc-researcher" search --tags messy-breast --network "$dir/network.ini"
"$build/bin/fedc-researcher" run "$root/examples/messy-csv/experiment.ini" --network "$dir/network.ini" \
  --output "$root/out/messy-csv"
