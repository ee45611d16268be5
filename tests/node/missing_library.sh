#!/usr/bin/env bash
# A library fedc-node loads at first use (node/lazy/) that cannot be loaded
# fails `fedc-node dataset add` with an error naming the library, what
# needs it, its package and the reason, and registers nothing: a NIfTI
# folder without libnifti2, an image folder without libpng. The hook
# FEDC_TEST_MISSING_LIBS (a build with FEDC_TEST_HOOKS only) makes the
# library fail to load; without it the same NIfTI folder registers.
#
#   tests/node/missing_library.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd) root=$(cd "$2" && pwd)
node=$build/bin/fedc-node corpus=$root/tests/fuzz/corpus

fail() { echo "missing_library: $*" >&2; exit 1; }
dir=$(mktemp -d /tmp/fedc-missing-library.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
"$node" --config node.ini init --id site --federation f --broker tcp://127.0.0.1:1 \
  --repository http://127.0.0.1:1 --token t --data-dir "$dir/data" >/dev/null
mkdir -p vol/sub-01 vol/sub-02 img/a img/b
cp "$corpus/nifti/f32-2cube.nii" vol/sub-01/T1.nii
cp "$corpus/nifti/f32-2cube.nii" vol/sub-02/T1.nii
printf 'subject,label\nsub-01,0\nsub-02,1\n' >demo.csv
cp "$corpus/png/grey8x8.png" img/a/1.png
cp "$corpus/png/grey8x8.png" img/b/2.png
nifti=(dataset add --type nifti --name vol --tags t --path vol --modality T1 --demographics demo.csv
  --label-column label)
images=(dataset add --type images --name img --tags t --path img)

# expect_missing SONAME PACKAGE WHAT ARGS...: the add fails (exit 1) with that error
expect_missing() {
  local soname=$1 package=$2 what=$3 status=0
  shift 3
  FEDC_TEST_MISSING_LIBS=$soname "$node" --config node.ini "$@" >out.txt 2>err.txt || status=$?
  [[ $status == 1 ]] || fail "without $soname: exit $status, expected 1: $(cat err.txt)"
  grep -qF "fedc-node: dataset add: cannot load $soname, needed for $what (install package $package): " err.txt ||
    fail "without $soname: the error does not name it, its use and its package: $(cat err.txt)"
  if grep -q "not a readable" err.txt; then
    fail "without $soname: the error blames the file: $(cat err.txt)"
  fi
}
expect_missing libnifti2.so.2 libnifti2-2 "NIfTI volumes" "${nifti[@]}"
expect_missing libpng16.so.16 libpng16-16 "PNG images" "${images[@]}"
listed=$("$node" --config node.ini dataset list --json)
[[ $listed == "[]" ]] || fail "a dataset was registered although its reader's library is missing: $listed"
"$node" --config node.ini "${nifti[@]}" >/dev/null 2>err.txt || fail "with libnifti2: $(cat err.txt)"
echo "missing_library: without libnifti2 or libpng, dataset add names the library and its package; with them it registers"
