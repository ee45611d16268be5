#!/usr/bin/env bash
# Test console.browser (docs/node-console.md, "Tests"): a federation on
# loopback as scripts/lib.sh starts one (fedc-admin's TLS broker with its
# ACL, the repository, node hospital-a's daemon), a researcher's real
# `approval` request through that broker, then browser_test.py drives the
# node's console in headless Chromium against the node's own database.
# Usage: browser.sh BUILD_DIR SOURCE_DIR [SCREENSHOT_DIR]
set -euo pipefail
build=$(cd "$1" && pwd) source=$(cd "$2" && pwd) shots=${3:-}
[[ -z $shots ]] || shots=$(cd "$shots" && pwd)
# shellcheck source=scripts/lib.sh
. "$source/scripts/lib.sh"
stack_init console-browser
provision console-test researcher-1
start_broker
start_repository
node_init hospital-a
node_start hospital-a
wait_nodes hospital-a || { cat "$dir/hospital-a.log"; exit 1; }
write_network "$dir/network.ini"

# The researcher asks every node to register the plan, shipping its source:
# the node fetches both from the repository and records the plan as
# pending, naming who asked, with the source for the steward to read.
"$build/bin/fedc-researcher" approval "$build/plans/logreg.so" --network "$dir/network.ini" \
  --description "Logistic regression on the breast-cancer features; source: examples/logreg/plan.c" \
  --source "$source/examples/logreg/plan.c" \
  >"$dir/approval.log" 2>&1 || { cat "$dir/approval.log"; exit 1; }
grep -q "hospital-a *pending" "$dir/approval.log" || { cat "$dir/approval.log"; echo "FAIL: no pending reply"; exit 1; }

/usr/bin/python3 "$source/tests/console/browser_test.py" --bin "$build/bin" --plans "$build/plans" \
  --source "$source" --node-config "$(node_config hospital-a)" --network "$dir/network.ini" \
  --work "$dir" ${shots:+--screenshots "$shots"}
