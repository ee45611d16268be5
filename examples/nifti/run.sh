#!/usr/bin/env bash
# Synthetic NIfTI volumes on two nodes (examples/nifti/README.md):
#   examples/nifti/run.sh
# Builds (scripts/setup.sh), writes 40 subjects per node (fedc-make-volumes:
# DIR/node<k>/sub-*/T1.nii.gz and seg.nii.gz, and DIR/node<k>-demographics.csv),
# starts Mosquitto, the repository and two nodes on free loopback ports in a
# temporary directory, registers one folder on each node (--type nifti, labels
# from the demographics column `label`), approves the MLP plan and runs
# experiment.ini. It also registers node 0's folder a second time with the
# masks as labels (--mask seg) and shows it. Everything started here is
# stopped on exit, Ctrl-C or failure. Results land in out/nifti/.
#
# Environment: FEDC_BUILD_DIR (default build/), FEDC_SKIP_SETUP=1 (use the
# build as it is), FEDC_SUBJECTS_PER_NODE (default 40), FEDC_NIFTI_OUTPUT
# (default out/nifti).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FEDC_BUILD_DIR:-$root/build}
build=$(mkdir -p "$build" && cd "$build" && pwd)
subjects=${FEDC_SUBJECTS_PER_NODE:-40}
output=${FEDC_NIFTI_OUTPUT:-$root/out/nifti}
n_nodes=2

if [[ ${FEDC_SKIP_SETUP:-0} != 1 ]]; then
  FEDC_BUILD_DIR=$build "$root/scripts/setup.sh"
fi

# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"
choose_blas_kernel
stack_init nifti
provision nifti nifti-researcher
start_broker
start_repository

"$build/bin/fedc-make-volumes" --out "$dir/volumes" --nodes "$n_nodes" --subjects "$subjects" --side 16 |
  sed 's/^/nifti:   /'

for ((i = 0; i < n_nodes; i++)); do
  node_init "node-$i"
  cfg=$(node_config "node-$i")
  "$build/bin/fedc-node" --config "$cfg" dataset add --type nifti --name "blobs-$i" --tags nifti-blobs \
    --path "$dir/volumes/node$i" --modality T1 --demographics "$dir/volumes/node$i-demographics.csv" \
    --label-column label --split stratified >/dev/null
  "$build/bin/fedc-node" --config "$cfg" plan approve "$build/plans/mlp.so" --name mlp >/dev/null
  node_start "node-$i"
done
cfg=$(node_config node-0)
"$build/bin/fedc-node" --config "$cfg" dataset add --type nifti --name blobs-masks --tags nifti-masks \
  --path "$dir/volumes/node0" --modality T1 --mask seg >/dev/null
"$build/bin/fedc-node" --config "$cfg" dataset show blobs-masks | sed 's/^/nifti:   /'
for ((i = 0; i < n_nodes; i++)); do
  wait_nodes "node-$i"
done
write_network "$dir/network.ini"

mkdir -p "$output"
"$build/bin/fedc-researcher" run "$here/experiment.ini" --network "$dir/network.ini" --output "$output" --force \
  >"$output/run.log" &
researcher=$!
pids+=("$researcher")
tail -n +1 -f --pid="$researcher" "$output/run.log" &
pids+=($!)
wait "$researcher"
wait "${pids[-1]}"
