#!/usr/bin/env bash
# Fashion-MNIST across five nodes (examples/mlp/README.md):
#   examples/mlp/run.sh iid|noniid
# Builds (scripts/setup.sh), then starts Mosquitto, the repository and five
# nodes on free loopback ports in a temporary directory, splits the
# Fashion-MNIST training set into five shards (fedc-shard-idx, seed 42),
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
for f in bin/fedc-node bin/fedc-researcher bin/fedc-repository bin/fedc-shard-idx bin/fedc-eval-idx plans/mlp.so; do
  if [[ ! -x $build/$f && ! -r $build/$f ]]; then
    echo "mlp: $build/$f is missing: build first (scripts/setup.sh)" >&2
    exit 1
  fi
done

# Debian's OpenBLAS 0.3.21 does not know recent CPUs and falls back to its
# slowest kernels; fedc-node picks one for its plans, this covers
# fedc-eval-idx (and older nodes) the same way.
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  if grep -qw avx512bw /proc/cpuinfo && grep -qw avx512f /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=Haswell
  fi
fi

dir=$(mktemp -d /tmp/fedc-mlp.XXXXXX)
chmod 755 "$dir"
pids=()

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if ((status != 0)); then
    echo "mlp: failed; logs kept in $dir" >&2
  else
    rm -rf "$dir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nobody listens on (bash's /dev/tcp connect fails).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

wait_for() { # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1))
  shift
  until "$@" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
broker_port=$(free_port)
{
  echo "listener $broker_port 127.0.0.1"
  echo "allow_anonymous true"
  echo "set_tcp_nodelay true"
  echo "persistence false"
  [[ $(id -u) -eq 0 ]] && echo "user root"
} >"$dir/mosquitto.conf"
"$mosquitto" -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
pids+=($!)
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$broker_port"

token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$build/bin/fedc-repository" --store "$dir/store" --port 0 --port-file "$dir/repository.port" \
  --token "$token" >"$dir/repository.log" 2>&1 &
pids+=($!)
wait_for 10 test -s "$dir/repository.port"
repo_port=$(cat "$dir/repository.port")

echo "mlp: splitting the 60000 training images into $n_nodes $split shards (seed 42)"
"$build/bin/fedc-shard-idx" --images "$data/train-images-idx3-ubyte.gz" \
  --labels "$data/train-labels-idx1-ubyte.gz" --shards "$n_nodes" --split "$split" --seed 42 \
  --out "$dir/shards" --prefix node | sed 's/^/mlp:   /'

for ((i = 0; i < n_nodes; i++)); do
  cfg="$dir/node-$i.ini"
  "$build/bin/fedc-node" --config "$cfg" init --id "node-$i" --federation mlp \
    --broker "tcp://127.0.0.1:$broker_port" --repository "http://127.0.0.1:$repo_port" \
    --token "$token" --data-dir "node-$i-data" >/dev/null
  # A shard is ~38 MB of floats, held twice (train and test views) by the
  # plan's process, plus ~128 MB of OpenBLAS buffers per thread: 2 GiB is
  # ample. Five nodes share this machine's cores, so rounds get time.
  sed -i -e 's/^memory_mb = .*/memory_mb = 2048/' -e 's/^train_timeout_s = .*/train_timeout_s = 1200/' "$cfg"
  "$build/bin/fedc-node" --config "$cfg" dataset add --type idx --name "fashion-mnist-$i" \
    --tags fashion-mnist,images \
    --file "$dir/shards/node-$i-images-idx3-ubyte.gz" --labels "$dir/shards/node-$i-labels-idx1-ubyte.gz" \
    --description "$split shard $i of the Fashion-MNIST training set" >/dev/null
  "$build/bin/fedc-node" --config "$cfg" plan approve "$build/plans/mlp.so" --name mlp >/dev/null
  "$build/bin/fedc-node" --config "$cfg" start >"$dir/node-$i.log" 2>&1 &
  pids+=($!)
done
for ((i = 0; i < n_nodes; i++)); do
  wait_for 20 grep -q "serving federation" "$dir/node-$i.log"
done

cat >"$dir/network.ini" <<NET
[network]
federation = mlp
researcher_id = mlp-researcher
broker_url = tcp://127.0.0.1:$broker_port
repository_url = http://127.0.0.1:$repo_port
repository_token = $token
NET

# The nodes approved this build's plan: point the experiment at it when the
# build is not the default build/ the experiment file names.
experiment=${FEDC_MLP_EXPERIMENT:-$here/experiment-$split.ini}
if [[ -z ${FEDC_MLP_EXPERIMENT:-} && $build != "$root/build" ]]; then
  sed "s|^plan = .*|plan = $build/plans/mlp.so|" "$experiment" >"$dir/experiment-$split.ini"
  experiment="$dir/experiment-$split.ini"
fi

echo "mlp: broker on port $broker_port, repository on port $repo_port," \
  "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; running $(basename "$experiment")"
mkdir -p "$output"
# In the background and waited for: bash runs a trap only between commands, so
# a SIGTERM sent to this script alone would otherwise wait for the whole run.
"$build/bin/fedc-researcher" run "$experiment" --network "$dir/network.ini" --output "$output" \
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
