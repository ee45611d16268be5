#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, -DFEDC_FUZZ=ON) and runs each for a
# while, one after another (docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   default 600 s, every target
#   scripts/fuzz.sh --merge [TARGET...]                 add what the runs found to
#                                                       tests/fuzz/corpus/<name>/
#
# Each run reads tests/fuzz/corpus/<name>/ and tests/fuzz/regressions/<name>/
# and writes what it finds to $build/corpus/<name>/ (the tree is not touched
# until --merge). Crashes go to $build/artifacts/<name>/. Environment:
#   FEDC_FUZZ_BUILD   build directory (default: build-fuzz/ in the tree)
#   FEDC_FUZZ_LOGS    where each run's libFuzzer output goes (default: $build/logs)
#   FEDC_FUZZ_NICE    niceness of the fuzzers (default 10: the machine is shared)
#   FEDC_FUZZ_ARGS    extra libFuzzer flags (e.g. -max_len=65536)
# Exit status: 1 if any target crashed, 2 if the build failed, else 0.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FEDC_FUZZ_BUILD:-$root/build-fuzz}
logs=${FEDC_FUZZ_LOGS:-$build/logs}
niceness=${FEDC_FUZZ_NICE:-10}
merge=0
seconds=600
if [[ ${1:-} == --merge ]]; then
  merge=1
  shift
elif [[ ${1:-} =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi

# Build output goes to $logs/build.log, shown only when something fails.
# clang and its libFuzzer runtime are installed first when missing (Debian's
# clang 14: libclang-rt-14-dev holds libFuzzer), with the build's packages.
configure_and_build() {
  local blog=$logs/build.log t
  mkdir -p "$logs"
  : >"$blog"
  "$root/scripts/setup.sh" --install-only clang libclang-rt-14-dev >>"$blog" 2>&1 || { cat "$blog" >&2; exit 2; }
  if [[ ! -f $build/CMakeCache.txt ]]; then
    CC=${CC:-clang} cmake -S "$root" -B "$build" -DFEDC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DFEDC_BUILD_BENCH=OFF >>"$blog" 2>&1 || { cat "$blog" >&2; exit 2; }
  fi
  read -r -a available <"$build/fuzz/targets.txt"
  ((${#targets[@]})) || targets=("${available[@]}")
  # Only the harnesses and what they link: the rest of the tree is not needed.
  for t in "${targets[@]}"; do
    cmake --build "$build" -j 2 --target "fuzz_$t" >>"$blog" 2>&1 || { cat "$blog" >&2; exit 2; }
  done
}

# The last libFuzzer status line ("#N ... cov: C ft: F corp: K/S ...") and the
# final stats (-print_final_stats=1) hold everything the summary needs.
final_stat() { # final_stat LOG NAME
  sed -n "s/^stat::$2: *//p" "$1" | tail -1
}

summarize() { # summarize NAME LOG CRASHES
  local name=$1 log=$2 crashes=$3 last cov corp
  last=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
  printf '%-9s executions %-10s exec/s %-7s corpus %-12s cov %-6s crashes %s\n' "$name" \
    "$(final_stat "$log" number_of_executed_units)" "$(final_stat "$log" average_exec_per_sec)" "${corp:-?}" \
    "${cov:-?}" "$crashes"
}

run_one() { # run_one NAME
  local name=$1 bin=$build/fuzz/fuzz_$1 work=$build/corpus/$1 art=$build/artifacts/$1
  local log=$logs/$1.log dict=$root/tests/fuzz/$1.dict before after
  local -a seeds
  local -a args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
                 -artifact_prefix="$art/")
  mkdir -p "$work" "$art" "$logs"
  [[ -f $dict ]] && args+=(-dict="$dict")
  # shellcheck disable=SC2206 # FEDC_FUZZ_ARGS is a list of flags on purpose
  args+=(${FEDC_FUZZ_ARGS:-})
  before=$(find "$art" -type f | wc -l)
  # libFuzzer stops at a missing directory; git keeps no empty regressions/<name>/.
  seeds=("$root/tests/fuzz/corpus/$1")
  [[ -d $root/tests/fuzz/regressions/$1 ]] && seeds+=("$root/tests/fuzz/regressions/$1")
  nice -n "$niceness" "$bin" "${args[@]}" "$work" "${seeds[@]}" >"$log" 2>&1 || true
  after=$(find "$art" -type f | wc -l)
  summarize "$name" "$log" $((after - before))
  ((after == before))
}

merge_one() { # merge_one NAME: new coverage from the runs into the tree's corpus
  local name=$1 dest=$root/tests/fuzz/corpus/$1
  mkdir -p "$dest"
  "$build/fuzz/fuzz_$name" -merge=1 -rss_limit_mb=2048 -timeout=10 "$dest" "$build/corpus/$name" \
    >"$logs/$name.merge.log" 2>&1
  printf '%-9s corpus now %s files, %s\n' "$name" "$(find "$dest" -type f | wc -l)" \
    "$(du -sh "$dest" | cut -f1)"
}

targets=("$@")
configure_and_build
status=0
for t in "${targets[@]}"; do
  if ((merge)); then
    merge_one "$t"
  else
    run_one "$t" || status=1
  fi
done
((merge)) || echo "logs: $logs/, crashes: $build/artifacts/<name>/"
exit "$status"
