#!/bin/sh
# Plan SDK vs PyTorch: training throughput of one model, same data, sizes,
# batch (64), optimizer (plain SGD) and thread counts, the two run one after
# the other, then a table of samples/s and ratios (> 1: the SDK is faster).
#
# Usage: bench/sdk_vs_torch.sh MODEL [BUILD_DIR] [EPOCHS]   (defaults: build, 3)
#   MODEL mlp: an MLP on Fashion-MNIST (bench_mlp_train, torch_mlp.py)
#   MODEL cnn: NIID-Bench's simple CNN, with and without batch norm
#              (bench_cnn_train, torch_cnn.py); PyTorch runs its convolutions
#              through oneDNN (mkldnn), as Debian's build has it.
# bench/mlp_vs_torch.sh and bench/cnn_vs_torch.sh call this.
# Needs: the built bench program, /usr/bin/python3 with python3-torch.
#
# BLAS, so that both sides run the same kernels:
# - PyTorch goes through libblas.so.3; it is pointed at OpenBLAS's OpenMP
#   build (package libopenblas0-openmp) when installed: the pthread build
#   fights PyTorch's own thread pool. The SDK links OpenBLAS (pthread build).
# - OpenBLAS 0.3.21 does not know CPUs newer than it and falls back to its
#   SSE3 "Prescott" kernels (3-5x slower). Unless OPENBLAS_CORETYPE is set,
#   this script sets it for both sides from the CPU flags when that happens.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
model=${1:?usage: sdk_vs_torch.sh mlp|cnn [BUILD_DIR] [EPOCHS]}
build=${2:-$here/../build}
epochs=${3:-3}
case $model in
mlp | cnn) ;;
*) echo "sdk_vs_torch.sh: model \"$model\": mlp or cnn" >&2; exit 2 ;;
esac
bench=$build/bin/bench_${model}_train
omp=/usr/lib/x86_64-linux-gnu/openblas-openmp
[ -x "$bench" ] || { echo "no $bench: build the project first" >&2; exit 1; }

if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
	core=$("$bench" --core)
	if [ "$core" = "Prescott" ]; then
		if grep -qw avx512f /proc/cpuinfo; then OPENBLAS_CORETYPE=SkylakeX
		elif grep -qw avx2 /proc/cpuinfo; then OPENBLAS_CORETYPE=Haswell
		fi
		if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
			echo "# OpenBLAS fell back to Prescott on this CPU: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE for both"
			export OPENBLAS_CORETYPE
		fi
	fi
fi
torch_env=""
if [ -d "$omp" ]; then
	torch_env="LD_LIBRARY_PATH=$omp"
else
	echo "# $omp missing (apt-get install libopenblas0-openmp): PyTorch on the default libblas.so.3" >&2
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bench" --epochs "$epochs" > "$out/fedc"
env $torch_env /usr/bin/python3 "$here/torch_$model.py" --epochs "$epochs" > "$out/torch"
grep '^#' "$out/fedc" "$out/torch" | sed 's/^[^:]*:/  /'

# Lines: <model> <variant> threads=<t> batch=64 samples_per_s=<r> accuracy=<a>
awk -v model="$model" '
function field(line, key,   n, parts, i, kv) {
	n = split(line, parts, " ")
	for (i = 1; i <= n; i++) { split(parts[i], kv, "="); if (kv[1] == key) return kv[2] }
	return ""
}
FNR == 1 { side++ }
$1 == model {
	key = $2 " " field($0, "threads")
	if (!(key in seen)) { seen[key] = 1; order[++n] = key }
	rate[side, key] = field($0, "samples_per_s"); acc[side, key] = field($0, "accuracy")
}
END {
	printf "%-16s %7s %14s %14s %7s %9s %9s\n", model, "threads", "fedc samples/s", "torch samples/s", "ratio", "acc fedc", "acc torch"
	for (i = 1; i <= n; i++) {
		split(order[i], k, " ")
		r = rate[2, order[i]] > 0 ? rate[1, order[i]] / rate[2, order[i]] : 0
		printf "%-16s %7s %14s %14s %7.2f %9s %9s\n", k[1], k[2], rate[1, order[i]], rate[2, order[i]], r, acc[1, order[i]], acc[2, order[i]]
	}
}' "$out/fedc" "$out/torch"
