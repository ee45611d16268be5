#!/usr/bin/env bash
# An idle fedc-node maps neither libcurl nor libmicrohttpd, nor what they
# bring (GnuTLS, Kerberos, LDAP, libssh2, nghttp2 ...), nor the dataset
# readers' libpng, libjpeg, libnifti2, znzlib, zlib and libcsv, nor libseccomp:
# node/lazy/ loads them at the first repository request, when the metrics
# listener starts, at the first image, volume, CSV or gzip'd file read,
# and in a plan process when it installs its filter (docs/benchmarks.md,
# "Idle node RSS"). Checks the executable's NEEDED list, then two started
# nodes connected over TLS, each with a gzip'd IDX dataset registered (the
# CLI reads it with zlib; the daemon must not): one plain, one with
# [metrics] listen, which must have libmicrohttpd and still no libcurl.
#
#   tests/node/idle_libraries.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 root=$2

fail() { echo "idle_libraries: $*" >&2; exit 1; }
lazy='libcurl|libmicrohttpd|libgnutls|libkrb5|libldap|libssh2|libnghttp2|libpng|libjpeg|libnifti|libznz|libz\.so|libcsv|libseccomp'

needed=$(readelf -d "$build/bin/fedc-node" | awk '/NEEDED/ { print $NF }')
if grep -Eq "$lazy" <<<"$needed"; then
  fail "fedc-node links $(grep -E "$lazy" <<<"$needed" | tr '\n' ' '): a function of one of these libraries that node/lazy/ does not define is called (add it there)"
fi

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
stack_init idle-libraries
provision idle idle-researcher
start_broker
start_repository
node_init plain
node_init metrics
printf '\n[metrics]\nlisten = 127.0.0.1:0\n' >>"$(node_config metrics)"
for id in plain metrics; do
  "$build/bin/fedc-node" --config "$(node_config "$id")" dataset add --type idx --name tiny --tags idle \
    --file "$root/tests/fixtures/idx/tiny-images-idx3-ubyte.gz" \
    --labels "$root/tests/fixtures/idx/tiny-labels-idx1-ubyte.gz" >>"$dir/admin.log" 2>&1 ||
    fail "node $id: dataset add failed; logs in $dir"
done
node_start plain
plain_pid=${pids[-1]}
node_start metrics
metrics_pid=${pids[-1]}
for id in plain metrics; do
  wait_nodes "$id" || fail "node $id did not start; logs in $dir"
done

mapped() { awk '$6 ~ /\.so/ { n = $6; sub(".*/", "", n); print n }' "/proc/$1/maps" | sort -u; }
plain_libs=$(mapped "$plain_pid") metrics_libs=$(mapped "$metrics_pid")
[[ -n $plain_libs ]] || fail "no libraries read from /proc/$plain_pid/maps"
if grep -Eq "$lazy" <<<"$plain_libs"; then
  fail "an idle node maps $(grep -E "$lazy" <<<"$plain_libs" | tr '\n' ' ')"
fi
grep -q '^libmicrohttpd' <<<"$metrics_libs" || fail "the node with [metrics] listen has no libmicrohttpd mapped"
if grep -q '^libcurl' <<<"$metrics_libs"; then
  fail "the idle node with [metrics] listen maps libcurl"
fi
echo "idle_libraries: idle node maps $(wc -l <<<"$plain_libs") libraries, none of libcurl's, libmicrohttpd's, the image, NIfTI, CSV and zlib readers' or libseccomp; with metrics, libmicrohttpd"
