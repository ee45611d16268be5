#!/usr/bin/env bash
# Test build.werror: with -DFEDC_WERROR=ON a warning stops the build; without
# it the same source builds (with the warning). Usage: werror.sh SOURCE_DIR CC
set -euo pipefail
source=$1
export CC=$2
scratch=$(mktemp -d /tmp/fedc-werror.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
probe=$source/tests/build/werror
cmake -S "$probe" -B "$scratch/off" -DFEDC_SOURCE_DIR="$source" >/dev/null
if ! cmake --build "$scratch/off" >"$scratch/off.log" 2>&1; then
  cat "$scratch/off.log"
  echo "FAIL: without FEDC_WERROR a warning stopped the build"
  exit 1
fi
grep -q "Wunused-variable" "$scratch/off.log" || { cat "$scratch/off.log"; echo "FAIL: the probe drew no warning"; exit 1; }
cmake -S "$probe" -B "$scratch/on" -DFEDC_SOURCE_DIR="$source" -DFEDC_WERROR=ON >/dev/null
if cmake --build "$scratch/on" >"$scratch/on.log" 2>&1; then
  cat "$scratch/on.log"
  echo "FAIL: with FEDC_WERROR=ON the warning did not stop the build"
  exit 1
fi
grep -q "Werror" "$scratch/on.log" || { cat "$scratch/on.log"; echo "FAIL: the build failed for another reason"; exit 1; }
echo "FEDC_WERROR: off builds with the warning, on stops at it"
