#!/usr/bin/env bash
# Utility against privacy (docs/privacy.md, "Utility: accuracy against
# epsilon"): the test accuracy a federation reaches with no DP, with
# node-level DP at several noise multipliers, with secure aggregation on and
# off, and (breast cancer) with DP-SGD, next to the epsilon each run spends.
#
#   bench/privacy_utility.sh [--rounds R] [--seeds "S ..."] [--noise "N ..."]
#                            [--clip C] [--fmnist-rounds R] [--fmnist-nodes N]
#                            [--fmnist-noise "N ..."] [--fmnist-clip C] [--no-fmnist]
#
# One stack on loopback (scripts/lib.sh, as scripts/demo.sh): Mosquitto, the
# repository, the demo's three hospitals (breast cancer, 100 / 180 / 289 rows,
# plans logreg, private and logreg-dpsgd) and, unless --no-fmnist or Fashion-MNIST is
# missing, N Fashion-MNIST nodes holding IID shards of the 60000 training
# images (examples/mlp's plan and settings). Each configuration runs with
# each seed of --seeds (breast cancer; default "1 2 3 4 5": the noise differs
# with the seed) or once with seed 42 (Fashion-MNIST), and prints one row of
# a Markdown table: accuracy is the final evaluation's (the final global
# model on the nodes' held-out rows), as a mean with the range over seeds;
# epsilon is at delta 1e-5 after the run's rounds:
# - node-level DP: the researcher's figure (q = 1: every node every round);
# - DP-SGD: per record of the smallest hospital (the largest epsilon), its
#   rounds' steps composed with the accountant (bench_dp_epsilon).
#
# Environment: FEDC_BUILD_DIR (default build/; built as it is, no set-up),
# FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=${FEDC_BUILD_DIR:-$root/build}
build=$(cd "$build" && pwd)
fmnist_dir=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}

rounds=10
seeds="1 2 3 4 5"
noises="0.5 1 2 4"
fmnist=1
fmnist_rounds=10
fmnist_nodes=5
fmnist_noises="0.1 0.3 0.5 1 2 4"
delta=1e-5
bc_clip=0.3   # about the median change norm of a round (bc-calibrate): docs/privacy.md
fmnist_clip=1.0 # about the median change norm of a round (fm-calibrate)
dpsgd_noises="1 2"

usage() {
  sed -n '7,9p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2
  exit 2
}
while (($#)); do
  case $1 in
    --rounds) rounds=${2:?}; shift ;;
    --seeds) seeds=${2:?}; shift ;;
    --noise) noises=${2:?}; shift ;;
    --clip) bc_clip=${2:?}; shift ;;
    --fmnist-clip) fmnist_clip=${2:?}; shift ;;
    --fmnist-rounds) fmnist_rounds=${2:?}; shift ;;
    --fmnist-nodes) fmnist_nodes=${2:?}; shift ;;
    --fmnist-noise) fmnist_noises=${2:?}; shift ;;
    --no-fmnist) fmnist=0 ;;
    *) usage ;;
  esac
  shift
done

for f in bin/fedc-node bin/fedc-researcher bin/fedc-repository bin/fedc-admin bin/bench_dp_epsilon \
  plans/logreg.so plans/logreg-dpsgd.so plans/private.so; do
  [[ -e $build/$f ]] || { echo "privacy_utility: $build/$f is missing: build first" >&2; exit 1; }
done
if ((fmnist)) && [[ ! -r $fmnist_dir/train-images-idx3-ubyte.gz || ! -x $build/bin/fedc-partition ]]; then
  echo "privacy_utility: no Fashion-MNIST in $fmnist_dir (or no fedc-partition): breast cancer only" >&2
  fmnist=0
fi

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
choose_blas_kernel
stack_init privacy-utility
provision utility utility-researcher
start_broker
start_repository

# The demo's three hospitals (scripts/demo.sh).
data="$root/examples/data/breast_cancer.csv"
shares=("1 100" "101 180" "281 289")
hospitals=()
for i in 0 1 2; do
  read -r first count <<<"${shares[i]}"
  id="hospital-$i"
  hospitals+=("$id")
  csv="$dir/$id.csv"
  awk -v first="$first" -v count="$count" -F, 'NR == 1 { sub(/^[0-9]+/, count); print; next }
    NR - 1 >= first && NR - 1 < first + count' "$data" >"$csv"
  node_init "$id"
  cfg=$(node_config "$id")
  "$build/bin/fedc-node" --config "$cfg" dataset add --name "breast-cancer-$i" --tags breast-cancer \
    --file "$csv" >>"$dir/setup.log" 2>&1
  for plan in logreg logreg-dpsgd private; do
    "$build/bin/fedc-node" --config "$cfg" plan approve "$build/plans/$plan.so" --name "$plan" >/dev/null
  done
  node_start "$id"
done
wait_nodes "${hospitals[@]}"

if ((fmnist)); then
  "$build/bin/fedc-partition" --images "$fmnist_dir/train-images-idx3-ubyte.gz" \
    --labels "$fmnist_dir/train-labels-idx1-ubyte.gz" --parties "$fmnist_nodes" --split iid --seed 42 \
    --out "$dir/shards" --prefix node >/dev/null
  sites=()
  for ((i = 0; i < fmnist_nodes; i++)); do
    id="fmnist-$i"
    sites+=("$id")
    node_init "$id"
    cfg=$(node_config "$id")
    printf '[limits]\nmemory_mb = 2048\ntrain_timeout_s = 1200\n' >>"$cfg" # as examples/mlp/run.sh
    "$build/bin/fedc-node" --config "$cfg" dataset add --type idx --name "fashion-mnist-$i" \
      --tags fashion-mnist --file "$dir/shards/node-$i-images-idx3-ubyte.gz" \
      --labels "$dir/shards/node-$i-labels-idx1-ubyte.gz" >>"$dir/setup.log" 2>&1
    "$build/bin/fedc-node" --config "$cfg" plan approve "$build/plans/mlp.so" --name mlp >/dev/null
    node_start "$id"
  done
  wait_nodes "${sites[@]}"
fi
write_network "$dir/network.ini"

# run_exp NAME SEED [privacy lines...]: one run of $exp_head (set by the
# caller: [experiment] without seed, [model], [training], [aggregator]); sets
# acc, eps (node-level DP's, or "") and out (its output directory).
run_exp() {
  local name=$1 seed=$2 ini
  shift 2
  ini="$dir/$name.ini"
  out="$dir/out/$name"
  {
    printf '%s\nseed = %s\n' "$exp_head" "$seed"
    printf '%s\n' "$exp_rest"
    if (($#)); then printf '[privacy]\n'; printf '%s\n' "$@"; fi
  } >"$ini"
  if ! "$build/bin/fedc-researcher" run "$ini" --network "$dir/network.ini" --output "$out" --force \
    >"$dir/$name.log" 2>&1; then
    echo "privacy_utility: $name failed:" >&2
    tail -20 "$dir/$name.log" >&2
    return 1
  fi
  acc=$(sed -nE 's/^final evaluation .* test accuracy ([0-9.]+).*/\1/p' "$dir/$name.log")
  eps=$(sed -nE 's/^privacy: node-level DP, epsilon ([0-9.e+-]+|inf) .*/\1/p' "$dir/$name.log")
}

# Mean and range of the numbers on stdin: "0.9474 (0.93-0.96)", or the
# number alone when there is one.
summary() {
  awk '{ s += $1; n++; if (n == 1 || $1 < lo) lo = $1; if (n == 1 || $1 > hi) hi = $1 }
       END { if (n == 1) printf "%.4f", s; else printf "%.4f (%.4f-%.4f)", s / n, lo, hi }'
}

# The largest per-record epsilon over the nodes of a DP-SGD run: each node's
# q = batch / its training rows, ceil(rows / batch) steps an epoch, every
# round's steps composed (docs/plan-api.md, "Differential privacy (DP-SGD)").
dpsgd_epsilon() { # dpsgd_epsilon OUT NOISE BATCH EPOCHS ROUNDS
  local rows worst=0 e
  # nodes.csv: round,kind,node_id,dataset_id,status,n_samples,...
  while read -r rows; do
    e=$("$build/bin/bench_dp_epsilon" "$(awk -v b="$3" -v r="$rows" 'BEGIN { printf "%.17g", b / r }')" \
      "$2" $(($5 * $4 * ((rows + $3 - 1) / $3))) "$delta" | awk '{ print $2 }')
    worst=$(awk -v a="$worst" -v b="$e" 'BEGIN { print (b > a ? b : a) }')
  done < <(awk -F, '$2 == "train" && $5 == "answered" { print $6 }' "$1/nodes.csv" | sort -un)
  printf '%.3g' "$worst"
}

# row DATA SETTING NOISE EPSILON ACCURACIES...
row() {
  local data=$1 setting=$2 noise=$3 epsilon=$4
  shift 4
  printf '| %s | %s | %s | %s | %s |\n' "$data" "$setting" "$noise" "$epsilon" \
    "$(printf '%s\n' "$@" | summary)"
}

# calibrate NAME SEED NODES...: a run with dp = node, no clipping (clip 1e4)
# and next to no noise (multiplier 1e-12: standard deviation 1e-8; the
# researcher refuses none at all), and the L2 norms of the changes the nodes made in its rounds,
# from their logs: what dp_clip is chosen against. Runs before any other DP
# run, so that every "change norm" line in the logs is its.
calibrate() {
  local name=$1 seed=$2 id
  shift 2
  run_exp "$name" "$seed" "dp = node" "dp_clip = 1e4" "dp_noise_multiplier = 1e-12"
  for id in "$@"; do
    sed -nE 's/.*node-level DP: change norm ([0-9.e+-]+) .*/\1/p' "$dir/$id.log"
  done | sort -g | awk -v name="$name" '{ v[n++] = $1 }
    END { printf "%s: round change norms without clipping: min %.3g, median %.3g, max %.3g (%d updates)\n",
          name, v[0], v[int(n / 2)], v[n - 1], n }' >&2
}

echo "| data | privacy | noise multiplier | epsilon (delta $delta) | test accuracy |"
echo "| --- | --- | ---: | ---: | ---: |"

# Breast cancer: examples/logreg's experiment on the three hospitals, with
# its plan (federated standardization) and with examples/private's (each
# node's own standardization: what node-level DP needs, see its README).
bc="breast cancer, 3 nodes, $rounds rounds"
bc_head() { # bc_head PLAN
  exp_head="[experiment]
name = utility-bc
tags = breast-cancer
plan = $1.so
rounds = $rounds
min_nodes = 3
round_timeout_s = 60
discovery_timeout_s = 10"
}
exp_rest="[model]
n_features = 30
[training]
lr = 0.1
epochs = 5
batch_size = 32
test_ratio = 0.2
[aggregator]
name = fedavg"
bc_head private
calibrate bc-calibrate 1 "${hospitals[@]}"
for plan in logreg private; do
  bc_head "$plan"
  for secagg in off on; do
    accs=()
    for seed in $seeds; do
      run_exp "bc-$plan-plain-$secagg-$seed" "$seed" "secure_aggregation = $secagg"
      accs+=("$acc")
    done
    row "$bc" "$plan.so, no DP, secure aggregation $secagg" - - "${accs[@]}"
  done
done
# examples/logreg under node-level DP: its statistics are clipped away.
bc_head logreg
accs=()
for seed in $seeds; do
  run_exp "bc-logreg-dp-$seed" "$seed" "dp = node" "dp_clip = $bc_clip" "dp_noise_multiplier = 1" \
    "dp_delta = $delta"
  accs+=("$acc")
done
row "$bc" "logreg.so, node-level DP, clip $bc_clip, secure aggregation off" 1 "$eps" "${accs[@]}"
bc_head private
for secagg in off on; do
  for noise in $noises; do
    accs=()
    for seed in $seeds; do
      run_exp "bc-dp-$secagg-$noise-$seed" "$seed" "secure_aggregation = $secagg" "dp = node" \
        "dp_clip = $bc_clip" "dp_noise_multiplier = $noise" "dp_delta = $delta"
      accs+=("$acc")
    done
    row "$bc" "private.so, node-level DP, clip $bc_clip, secure aggregation $secagg" "$noise" "$eps" \
      "${accs[@]}"
  done
done

# DP-SGD (examples/logreg-dpsgd): per record, inside each hospital.
bc_head logreg-dpsgd
for noise in $dpsgd_noises; do
  exp_rest="[model]
n_features = 30
dp_clip = 1.0
dp_noise = $noise
dp_delta = $delta
[training]
lr = 0.1
epochs = 5
batch_size = 32
test_ratio = 0.2
[aggregator]
name = fedavg"
  accs=()
  for seed in $seeds; do
    run_exp "bc-dpsgd-$noise-$seed" "$seed"
    accs+=("$acc")
  done
  row "$bc" "logreg-dpsgd.so, DP-SGD per record, clip 1, batch 32, 5 epochs a round" "$noise" \
    "$(dpsgd_epsilon "$out" "$noise" 32 5 "$rounds")" "${accs[@]}"
done

# Fashion-MNIST: examples/mlp's IID experiment on the Fashion-MNIST nodes.
if ((fmnist)); then
  fm="Fashion-MNIST, MLP 784-128-10, $fmnist_nodes nodes, $fmnist_rounds rounds"
  exp_head="[experiment]
name = utility-fmnist
tags = fashion-mnist
plan = mlp.so
rounds = $fmnist_rounds
min_nodes = $fmnist_nodes
round_timeout_s = 600
discovery_timeout_s = 10"
  exp_rest="[model]
n_features = 784
n_classes = 10
hidden = 128
[training]
lr = 0.2
epochs = 1
batch_size = 64
test_ratio = 0.1
optimizer = sgd
[aggregator]
method = fedavg"
  calibrate fm-calibrate 42 "${sites[@]}"
  for secagg in off on; do
    run_exp "fm-plain-$secagg" 42 "secure_aggregation = $secagg"
    row "$fm" "no DP, secure aggregation $secagg" - - "$acc"
  done
  for secagg in off on; do
    for noise in $fmnist_noises; do
      run_exp "fm-dp-$secagg-$noise" 42 "secure_aggregation = $secagg" "dp = node" \
        "dp_clip = $fmnist_clip" "dp_noise_multiplier = $noise" "dp_delta = $delta"
      row "$fm" "node-level DP, clip $fmnist_clip, secure aggregation $secagg" "$noise" "$eps" "$acc"
    done
  done
fi
