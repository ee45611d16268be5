#!/usr/bin/env bash
# examples/analytics on loopback (README.md): a federation provisioned by
# fedc-admin (TLS, signed messages), three clinics holding the messy tables of
# examples/messy-csv (named columns, missing cells, a categorical size_band),
# each answering analytics queries under its [analytics] policy; then
# query.ini. Everything started here is stopped on exit. Results in
# out/analytics/ (analytics.csv, analytics.json).
#   examples/analytics/run.sh [--noise]
# --noise: the clinics add Laplace noise (epsilon 0.5 of a budget of 2 per
# dataset) instead of releasing exact figures.
# Environment: FEDC_BUILD_DIR (default build/), FEDC_SKIP_SETUP=1 (use the
# build as it is).
set -euo pipefail

noise=none
case ${1:-} in
  "") ;;
  --noise) noise=laplace ;;
  *) echo "usage: examples/analytics/run.sh [--noise]" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${FEDC_BUILD_DIR:-$root/build}
if [[ ${FEDC_SKIP_SETUP:-0} != 1 ]]; then
  FEDC_BUILD_DIR=$build "$root/scripts/setup.sh"
fi

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
stack_init analytics
provision analytics analytics-researcher
start_broker
start_repository

"$root/examples/messy-csv/make_data.sh" "$dir/data" 3 42
for i in 0 1 2; do
  node_init "clinic-$i"
  cfg=$(node_config "clinic-$i")
  "$build/bin/fedc-node" --config "$cfg" dataset add --name "messy-$i" --tags messy-breast \
    --file "$dir/data/node-$i.csv" >/dev/null
  # The clinic's own policy: the researcher can ask for less, never for more.
  cat >>"$cfg" <<POLICY

[analytics]
enabled = true
min_count = 5
noise = $noise
max_epsilon_per_query = 0.5
budget = 2
bounds = radius_mean:0:30, area_mean:0:2500
POLICY
  node_start "clinic-$i"
done
wait_nodes clinic-0 clinic-1 clinic-2

write_network "$dir/network.ini"
"$build/bin/fedc-researcher" analytics "$root/examples/analytics/query.ini" --network "$dir/network.ini" \
  --output "$root/out/analytics"
