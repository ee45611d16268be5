#!/usr/bin/env bash
# NIID-Bench's Fashion-MNIST experiments on the real stack (docs/learning-quality.md):
#   examples/cnn/run.sh SETTING [ALGORITHM]     one experiment
#   examples/cnn/run.sh table                   the five of NIID-Bench's table, one after another
# SETTING: homo (IID), dir (Dirichlet label skew, beta 0.5) or c2 (#C=2: two
# classes per node); ALGORITHM: fedavg (default), fedprox (mu 0.01) or
# scaffold. The table is homo, dir and c2 with fedavg, dir with fedprox and
# with scaffold.
#
# Builds (scripts/setup.sh), then starts Mosquitto, the repository and 10
# nodes on free loopback ports in a temporary directory, splits the
# Fashion-MNIST training set among the nodes (fedc-partition, seed 0),
# registers one party on each node, approves the CNN plan, runs
# experiment-ALGORITHM.ini (test_ratio = 0: a node trains on all its rows, as
# NIID-Bench's parties do) and scores the parameters of every round on the
# whole t10k set (10000 images, fedc-eval-idx), as NIID-Bench tests its
# global model. Everything started here is stopped on exit, Ctrl-C or
# failure. Results land in out/cnn-SETTING-ALGORITHM/ (history,
# global.params, run.log, t10k.txt for the final parameters, t10k-rounds.csv
# for each round's); the last line printed is "cnn: SETTING ALGORITHM rounds
# R epochs E samples M: t10k accuracy A".
#
# Environment: FEDC_CNN_ROUNDS, FEDC_CNN_EPOCHS (override the experiment's 50
# rounds and 10 local epochs, for shorter runs), FEDC_CNN_SAMPLES (split a
# seeded subset of the 60000 training images), FEDC_CNN_NODES (default 10),
# FEDC_CNN_OUTPUT (default out/cnn-SETTING-ALGORITHM), FEDC_BUILD_DIR
# (default build/), FEDC_SKIP_SETUP=1 (use the build as it is),
# FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist, Debian
# package dataset-fashion-mnist), OPENBLAS_CORETYPE (chosen from the CPU
# when unset).
set -euo pipefail

usage() {
  echo "usage: examples/cnn/run.sh homo|dir|c2 [fedavg|fedprox|scaffold]" >&2
  echo "       examples/cnn/run.sh table" >&2
  exit 2
}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

if (($# == 1)) && [[ $1 == table ]]; then
  results=()
  for run in "homo fedavg" "dir fedavg" "c2 fedavg" "dir fedprox" "dir scaffold"; do
    # shellcheck disable=SC2086 # two words on purpose
    results+=("$("$0" $run | tee /dev/stderr | tail -n 1)")
    export FEDC_SKIP_SETUP=1 # built once is enough
  done
  printf '%s\n' "${results[@]}"
  exit 0
fi
(($# == 1 || $# == 2)) || usage
setting=$1
algorithm=${2:-fedavg}
case $setting in
  homo) split=(--split iid) ;;
  dir) split=(--split dirichlet --beta 0.5) ;;
  c2) split=(--split classes --classes 2) ;;
  *) usage ;;
esac
[[ $algorithm == fedavg || $algorithm == fedprox || $algorithm == scaffold ]] || usage

build=${FEDC_BUILD_DIR:-$root/build}
build=$(mkdir -p "$build" && cd "$build" && pwd)
data=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
output=${FEDC_CNN_OUTPUT:-$root/out/cnn-$setting-$algorithm}
n_nodes=${FEDC_CNN_NODES:-10}
samples=${FEDC_CNN_SAMPLES:-60000}
for v in "${FEDC_CNN_ROUNDS:-1}" "${FEDC_CNN_EPOCHS:-1}" "$samples" "$n_nodes"; do
  if [[ ! $v =~ ^[1-9][0-9]{0,6}$ ]]; then
    echo "cnn: FEDC_CNN_ROUNDS, FEDC_CNN_EPOCHS, FEDC_CNN_SAMPLES and FEDC_CNN_NODES take a whole number from 1, not \"$v\"" >&2
    exit 2
  fi
done

if [[ ${FEDC_SKIP_SETUP:-0} != 1 ]]; then
  FEDC_BUILD_DIR=$build "$root/scripts/setup.sh"
fi
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  if [[ ! -r $data/$f ]]; then
    echo "cnn: $data/$f is missing: apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR" >&2
    exit 1
  fi
done
for f in bin/fedc-node bin/fedc-researcher bin/fedc-repository bin/fedc-partition bin/fedc-eval-idx plans/cnn.so; do
  if [[ ! -x $build/$f && ! -r $build/$f ]]; then
    echo "cnn: $build/$f is missing: build first (scripts/setup.sh)" >&2
    exit 1
  fi
done

# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"
choose_blas_kernel # for fedc-eval-idx; fedc-node picks the same for its plans
stack_init cnn
provision cnn cnn-researcher
start_broker
start_repository

echo "cnn: splitting $samples training images among $n_nodes nodes: ${split[*]} (seed 0)"
"$build/bin/fedc-partition" --images "$data/train-images-idx3-ubyte.gz" \
  --labels "$data/train-labels-idx1-ubyte.gz" --parties "$n_nodes" "${split[@]}" --samples "$samples" \
  --seed 0 --out "$dir/parties" --prefix node | sed 's/^/cnn:   /'
for ((i = 0; i < n_nodes; i++)); do
  node_init "node-$i"
  cfg=$(node_config "node-$i")
  # A party is at most ~30000 images (#C=2 and Dirichlet parties differ in
  # size): ~95 MB of floats in the plan's process. Ten nodes share this
  # machine's cores, so a round of 10 epochs gets hours.
  printf '[limits]\nmemory_mb = 2048\ntrain_timeout_s = 86400\n' >>"$cfg"
  "$build/bin/fedc-node" --config "$cfg" dataset add --type idx --name "fashion-mnist-$i" \
    --tags fashion-mnist,images \
    --file "$dir/parties/node-$i-images-idx3-ubyte.gz" --labels "$dir/parties/node-$i-labels-idx1-ubyte.gz" \
    --description "$setting party $i of the Fashion-MNIST training set" >/dev/null
  "$build/bin/fedc-node" --config "$cfg" plan approve "$build/plans/cnn.so" --name cnn >/dev/null
  node_start "node-$i"
done
for ((i = 0; i < n_nodes; i++)); do
  wait_nodes "node-$i"
done
# A node logs "serving" as it publishes its online status; the researcher
# counts the nodes whose status the broker holds when it searches. Give the
# last ones a moment, or the search may end one node short.
sleep 2
write_network "$dir/network.ini"

# The experiment with its name, min_nodes, rounds and epochs set for this run.
# `plan = cnn.so` is looked up in the plans directory of $build: the plan the
# nodes approved.
experiment=$dir/experiment.ini
rounds_line='' epochs_line=''
[[ -n ${FEDC_CNN_ROUNDS:-} ]] && rounds_line="rounds = $FEDC_CNN_ROUNDS"
[[ -n ${FEDC_CNN_EPOCHS:-} ]] && epochs_line="epochs = $FEDC_CNN_EPOCHS"
sed -e "s/^name = .*/name = fashion-mnist-cnn-$setting-$algorithm/" \
  -e "s/^min_nodes = .*/min_nodes = $n_nodes/" \
  ${rounds_line:+-e "s/^rounds = .*/$rounds_line/"} \
  ${epochs_line:+-e "s/^epochs = .*/$epochs_line/"} \
  "$here/experiment-$algorithm.ini" >"$experiment"
rounds=$(sed -n 's/^rounds = //p' "$experiment")
epochs=$(sed -n 's/^epochs = //p' "$experiment")

echo "cnn: broker on port $broker_port, repository on port $repo_port," \
  "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $setting $algorithm, $rounds rounds of $epochs epochs"
mkdir -p "$output"
cp "$experiment" "$output/experiment.ini"
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

# Each round's global parameters (breakpoints/round-N/global.params are the
# parameters after round N) and the final ones on all of t10k.
t10k=(--images "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz")
echo "round,t10k_accuracy,t10k_loss" >"$output/t10k-rounds.csv"
for ((r = 1; r <= rounds; r++)); do
  params=$output/breakpoints/$(printf 'round-%06d' "$r")/global.params
  [[ -r $params ]] || continue
  "$build/bin/fedc-eval-idx" --plan "$build/plans/cnn.so" --params "$params" "${t10k[@]}" |
    sed -n "s/^images 10000  accuracy \([0-9.]*\)  loss \([0-9.a-z]*\).*/$r,\1,\2/p" >>"$output/t10k-rounds.csv"
done
echo "cnn: the final global.params on the official t10k test set (10000 images no node trained on):"
"$build/bin/fedc-eval-idx" --plan "$build/plans/cnn.so" --params "$output/global.params" "${t10k[@]}" \
  >"$output/t10k.txt"
sed 's/^/cnn:   /' "$output/t10k.txt"
accuracy=$(sed -n 's/^images 10000  accuracy \([0-9.]*\).*/\1/p' "$output/t10k.txt")
echo "cnn: $setting $algorithm rounds $rounds epochs $epochs samples $samples: t10k accuracy $accuracy"
