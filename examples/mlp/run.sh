#!/usr/bin/env bash
# Fashion-MNIST across five nodes (examples/mlp/README.md):
#   examples/mlp/run.sh iid|noniid
# Builds (scripts/setup.sh), then starts Mosquitto, the repository and five
# nodes on free loopback ports in a temporary directory, splits the
# Fashion-MNIST training set into five shards (fedc-partition, seed 42),
# registers one shard on each node, approves the MLP plan, runs the
# experiment (experiment-iid.ini or experiment-noniid.ini: 20 rounds of one
# epoch) and scores the final parameters on the official t10k test set
# (fedc-eval-idx). Everything started here is stopped on exit, Ctrl-C or
# failure. Results land in out/mlp-<split>/ (history, global.params,
# run.log, t10k.txt).
#
# Environment: FEDC_BUILD_DIR (default build/), FEDC_SKIP_SETUP=1 (use the
# build as it is), FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist,
# Debian package dataset-fashion-mnist), FEDC_MLP_OUTPUT (default
# out/mlp-<split>), FEDC_MLP_EXPERIMENT (another experiment file, e.g. with
# another lr; its plan must be this build's mlp.so), OPENBLAS_CORETYPE (chosen
# from the CPU when unset).
set -euo pipefail

usage() { echo "usage: examples/mlp/run.sh iid|noniid" >&2; exit 2; }
(($# == 1)) || usage
split=$1
[[ $split == iid || $split == noniid ]] || usage

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FEDC_BUILD_DIR:-$root/build}
build=$(mkdir -p "$build" && cd "$build" && pwd)
data=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
output=${FEDC_MLP_OUTPUT:-$root/out/mlp-$split}
n_nodes=5

if [[ ${FEDC_SKIP_SETUP:-0} != 1 ]]; then
  FEDC_BUILD_DIR=$build "$root/scripts/setup.sh"
fi
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  if [[ ! -r $data/$f ]]; then
    echo "mlp: $data/$f is missing: apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR" >&2
    exit 1
  fi
done
for f in bin/fedc-node bin/fedc-researcher bin/fedc-repository bin/fedc-partition bin/fedc-eval-idx plans/mlp.so; do
  if [[ ! -x $build/$f && ! -r $build/$f ]]; then
    echo "mlp: $build/$f is missing: build first (scripts/setup.sh)" >&2
    exit 1
  fi
done

# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"
choose_blas_kernel # for fedc-eval-idx; fedc-node picks the same for its plans
stack_init mlp
provision mlp mlp-researcher
start_broker
start_repository

echo "mlp: splitting the 60000 training images into $n_nodes $split shards (seed 42)"
# noniid is fedc-partition's "major" scheme (examples/partition/README.md).
scheme=$split
[[ $split == noniid ]] && scheme=major
"$build/bin/fedc-partition" --images "$data/train-images-idx3-ubyte.gz" \
  --labels "$data/train-labels-idx1-ubyte.gz" --parties "$n_nodes" --split "$scheme" --seed 42 \
  --out "$dir/shards" --prefix node | sed 's/^/mlp:   /'

for ((i = 0; i < n_nodes; i++)); do
  node_init "node-$i"
  cfg=$(node_config "node-$i")
  # A shard is ~38 MB of floats, held twice (train and test views) by the
  # plan's process, plus ~128 MB of OpenBLAS buffers per thread: 2 GiB is
  # ample. Five nodes share this machine's cores, so rounds get time.
  printf '[limits]\nmemory_mb = 2048\ntrain_timeout_s = 1200\n' >>"$cfg"
  "$build/bin/fedc-node" --config "$cfg" dataset add --type idx --name "fashion-mnist-$i" \
    --tags fashion-mnist,images \
    --file "$dir/shards/node-$i-images-idx3-ubyte.gz" --labels "$dir/shards/node-$i-labels-idx1-ubyte.gz" \
    --description "$split shard $i of the Fashion-MNIST training set" >/dev/null
  "$build/bin/fedc-node" --config "$cfg" plan approve "$build/plans/mlp.so" --name mlp >/dev/null
  node_start "node-$i"
done
for ((i = 0; i < n_nodes; i++)); do
  wait_nodes "node-$i"
done
write_network "$dir/network.ini"

# `plan = mlp.so`: the researcher of $build takes $build/plans/mlp.so, the
# plan the nodes approved, whatever the build directory.
experiment=${FEDC_MLP_EXPERIMENT:-$here/experiment-$split.ini}

echo "mlp: broker on port $broker_port, repository on port $repo_port," \
  "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; running $(basename "$experiment")"
mkdir -p "$output"
# In the background and waited for: bash runs a trap only between commands, so
# a SIGTERM sent to this script alone would otherwise wait for the whole run.
"$build/bin/fedc-researcher" run "$experiment" --network "$dir/network.ini" --output "$output" --force \
  >"$output/run.log" &
researcher=$!
pids+=("$researcher")
tail -n +1 -f --pid="$researcher" "$output/run.log" & # ends once the researcher has, file read out
pids+=($!)
wait "$researcher"
wait "${pids[-1]}"

echo "mlp: the final global.params on the official t10k test set (10000 images no node holds):"
"$build/bin/fedc-eval-idx" --plan "$build/plans/mlp.so" --params "$output/global.params" \
  --images "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" \
  --model n_features=784,n_classes=10,hidden=128 | tee "$output/t10k.txt"
