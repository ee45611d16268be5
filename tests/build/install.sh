#!/usr/bin/env bash
# Test build.install: `cmake --install BUILD --prefix P` gives a tree that
# works on its own: the programs, the example plans, the SDK (headers,
# libfedcplan.a, fedcplan.pc), the examples, the configs and the docs; a
# plan compiles against the installed SDK with pkg-config; the installed
# fedc-centralized compiles a plan given as source against it (fedcplan.pc
# found beside the executable); and a federation of the installed programs
# runs the installed examples/logreg/experiment.ini (`plan = logreg.so`,
# found in P/lib/fedc/plans). Usage: install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
src_build=$1 source=$2

# shellcheck source=scripts/lib.sh
. "$source/scripts/lib.sh"
build=- # set below, once $dir exists: lib.sh runs $build/bin/...
stack_init install
prefix=$dir/prefix
build=$prefix

cmake --install "$src_build" --prefix "$prefix" >"$dir/install.log"
for f in bin/fedc-node bin/fedc-researcher bin/fedc-repository bin/fedc-admin bin/fedc-centralized \
  lib/fedc/plans/logreg.so lib/fedc/plans/mlp.so lib/libfedcplan.a lib/pkgconfig/fedcplan.pc \
  include/fedc/plan.h include/fedc/nn.h share/fedc/examples/logreg/experiment.ini \
  share/fedc/examples/data/breast_cancer.csv share/fedc/configs/repository.ini \
  share/doc/fedc/README.md share/doc/fedc/plan-api.md; do
  [[ -e $prefix/$f ]] || { echo "FAIL: $f is not installed"; exit 1; }
done
if grep -q -e "$source" -e "$src_build" "$prefix/lib/pkgconfig/fedcplan.pc"; then
  echo "FAIL: the installed fedcplan.pc points into the source or build tree"
  exit 1
fi

# A plan on the SDK, compiled against the install alone.
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046 # pkg-config's words are separate arguments
cc -std=c11 -shared -fPIC "$prefix/share/fedc/examples/linreg/plan.c" $(pkg-config --cflags --libs fedcplan) \
  -o "$dir/linreg-own.so"
echo "install: a plan compiles against $prefix/lib/pkgconfig/fedcplan.pc"

# The installed fedc-centralized compiles `plan = plan.c` with the SDK it
# finds beside itself (nothing in PKG_CONFIG_PATH), and trains it.
unset PKG_CONFIG_PATH FEDC_SDK_PC_PATH FEDC_PLAN_PATH
cp "$prefix/share/fedc/examples/linreg/plan.c" "$dir/plan.c"
sed -e 's|^plan = .*|plan = plan.c|' -e 's|^rounds = .*|rounds = 1|' \
  "$prefix/share/fedc/examples/linreg/experiment.ini" >"$dir/experiment-src.ini"
"$prefix/bin/linreg-make-data" --rows 200 --features 10 --noise 1.0 --seed 1 "$dir/linreg.csv" >/dev/null
"$prefix/bin/fedc-centralized" --regression "$dir/experiment-src.ini" "$dir/linreg.csv" >"$dir/centralized.txt"
grep -q "^test r2 " "$dir/centralized.txt" || { cat "$dir/centralized.txt"; echo "FAIL: no test r2"; exit 1; }
echo "install: fedc-centralized compiled plan.c against the installed SDK and trained it"

# A federation of the installed programs runs the installed example.
provision install researcher
start_broker
start_repository
data=$prefix/share/fedc/examples/data/breast_cancer.csv
shares=("1 250" "251 319")
for i in 0 1; do
  read -r first count <<<"${shares[i]}"
  csv="$dir/hospital-$i.csv"
  awk -v first="$first" -v count="$count" -F, 'NR == 1 { sub(/^[0-9]+/, count); print; next }
    NR - 1 >= first && NR - 1 < first + count' "$data" >"$csv"
  node_init "hospital-$i"
  "$prefix/bin/fedc-node" --config "$(node_config "hospital-$i")" dataset add --name "bc-$i" \
    --tags breast-cancer --file "$csv" >/dev/null
  "$prefix/bin/fedc-node" --config "$(node_config "hospital-$i")" plan approve \
    "$prefix/lib/fedc/plans/logreg.so" --name logreg >/dev/null
  node_start "hospital-$i"
done
wait_nodes hospital-0 hospital-1
write_network "$dir/network.ini"
"$prefix/bin/fedc-researcher" run "$prefix/share/fedc/examples/logreg/experiment.ini" \
  --network "$dir/network.ini" --output "$dir/out" >"$dir/run.log" 2>&1 ||
  { cat "$dir/run.log"; echo "FAIL: the installed researcher did not run the installed example"; exit 1; }
[[ -f $dir/out/global.params ]] || { cat "$dir/run.log"; echo "FAIL: no global.params"; exit 1; }
tail -2 "$dir/run.log"
echo "install: the installed programs ran examples/logreg/experiment.ini"
