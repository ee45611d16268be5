#!/usr/bin/env bash
# Fashion-MNIST as PNG class folders on two nodes (examples/image-folder/README.md):
#   examples/image-folder/run.sh
# Builds (scripts/setup.sh), writes 2000 training images per node as PNG files
# in class folders (fedc-make-image-folders), starts Mosquitto, the repository
# and two nodes on free loopback ports in a temporary directory, registers one
# folder on each node (--type images), approves the MLP plan and runs
# experiment.ini. Everything started here is stopped on exit, Ctrl-C or
# failure. Results land in out/image-folder/ (history, global.params, run.log).
#
# Environment: FEDC_BUILD_DIR (default build/), FEDC_SKIP_SETUP=1 (use the
# build as it is), FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist),
# FEDC_IMAGES_PER_NODE (default 2000), FEDC_IMAGE_FOLDER_OUTPUT (default
# out/image-folder).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FEDC_BUILD_DIR:-$root/build}
build=$(mkdir -p "$build" && cd "$build" && pwd)
data=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
per_node=${FEDC_IMAGES_PER_NODE:-2000}
output=${FEDC_IMAGE_FOLDER_OUTPUT:-$root/out/image-folder}
n_nodes=2

if [[ ${FEDC_SKIP_SETUP:-0} != 1 ]]; then
  FEDC_BUILD_DIR=$build "$root/scripts/setup.sh"
fi
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz; do
  if [[ ! -r $data/$f ]]; then
    echo "image-folder: $data/$f is missing: apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR" >&2
    exit 1
  fi
done

# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"
choose_blas_kernel
stack_init image-folder
provision image-folder image-folder-researcher
start_broker
start_repository

"$build/bin/fedc-make-image-folders" --images "$data/train-images-idx3-ubyte.gz" \
  --labels "$data/train-labels-idx1-ubyte.gz" --nodes "$n_nodes" --per-node "$per_node" \
  --out "$dir/folders" | sed 's/^/image-folder:   /'

for ((i = 0; i < n_nodes; i++)); do
  node_init "node-$i"
  cfg=$(node_config "node-$i")
  "$build/bin/fedc-node" --config "$cfg" dataset add --type images --name "fashion-png-$i" \
    --tags fashion-images --path "$dir/folders/node$i" \
    --description "$per_node Fashion-MNIST training images as PNG class folders" >/dev/null
  "$build/bin/fedc-node" --config "$cfg" plan approve "$build/plans/mlp.so" --name mlp >/dev/null
  node_start "node-$i"
done
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
