#!/usr/bin/env bash
# Tests build.nodiscard.* and build.cast_qual: builds one probe of
# tests/build/probes/ on fedc's flags with FEDC_WERROR on.
# Usage: probe.sh SOURCE_DIR CC PROBE.c builds
#        probe.sh SOURCE_DIR CC PROBE.c fails REGEX
# "fails" passes only if the build stops and its log matches REGEX (the
# warning the probe was written to draw, not another failure).
set -euo pipefail
source=$1
export CC=$2
probe=$3
want=$4
scratch=$(mktemp -d /tmp/fedc-probe.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cmake -S "$source/tests/build/probes" -B "$scratch" -DFEDC_SOURCE_DIR="$source" -DPROBE="$probe" >/dev/null
if cmake --build "$scratch" >"$scratch/build.log" 2>&1; then
  built=1
else
  built=0
fi
case $want in
builds)
  if ((!built)); then
    cat "$scratch/build.log"
    echo "FAIL: $probe did not build"
    exit 1
  fi
  echo "$probe builds"
  ;;
fails)
  if ((built)); then
    cat "$scratch/build.log"
    echo "FAIL: $probe built; it must stop at /$5/"
    exit 1
  fi
  grep -Eq -- "$5" "$scratch/build.log" || { cat "$scratch/build.log"; echo "FAIL: $probe failed for another reason than /$5/"; exit 1; }
  echo "$probe stops at /$5/"
  ;;
*)
  echo "usage: probe.sh SOURCE_DIR CC PROBE.c builds|fails REGEX" >&2
  exit 2
  ;;
esac
