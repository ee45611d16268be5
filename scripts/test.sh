#!/usr/bin/env bash
# README's second command: set-up (scripts/setup.sh), then the whole test suite
# under ctest: unit tests per module and integration tests that start the real
# broker, repository and nodes on free loopback ports.
#   scripts/test.sh             the suite on the normal build (build/)
#   scripts/test.sh --sanitize  the suite under ASan+UBSan (build-asan/)
set -euo pipefail

# Warnings are errors here (and so in CI): a new warning fails the run. The
# suite's build has the crash-injection points (fedc/crash.h); a build made by
# scripts/setup.sh alone (demo.sh, a user's) leaves them out.
export FEDC_CMAKE_ARGS="-DFEDC_WERROR=ON -DFEDC_TEST_HOOKS=ON ${FEDC_CMAKE_ARGS:-}"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ ${1:-} == --sanitize ]]; then
  export FEDC_BUILD_DIR=${FEDC_BUILD_DIR:-$root/build-asan}
  export FEDC_CMAKE_ARGS="${FEDC_CMAKE_ARGS:-} -DFEDC_SANITIZE=ON"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp}
fi
"$root/scripts/setup.sh"
ctest --test-dir "${FEDC_BUILD_DIR:-$root/build}" --output-on-failure -j 2
