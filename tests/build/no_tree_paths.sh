#!/usr/bin/env bash
# Test build.no_tree_paths: the programs a user runs carry no path of the
# source or build tree in their data (.rodata), so that an installed tree
# or a moved build works. Debug information and the source file names of
# diagnostics may name the tree; they are not read at run time. Usage: no_tree_paths.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 source=$2
status=0 checked=0
for prog in fedc-node fedc-researcher fedc-repository fedc-admin fedc-centralized fedc-partition fedc-eval-idx \
  linreg-make-data; do
  bin=$build/bin/$prog
  [[ -x $bin ]] || continue
  checked=$((checked + 1))
  # Source file names (*.c, *.h) are diagnostics' locations (assert, the
  # sanitizers), never opened: only other paths count.
  found=$(objcopy -O binary --only-section=.rodata "$bin" /dev/stdout | strings -n 4 |
    grep -F -e "$build" -e "$source" | grep -Ev '\.[ch]$' || true)
  if [[ -n $found ]]; then
    echo "$prog holds a path of the tree: $found"
    status=1
  fi
done
((checked > 0)) || { echo "no program found in $build/bin"; exit 1; }
echo "$checked programs checked"
exit "$status"
