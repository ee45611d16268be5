#!/usr/bin/env bash
# Installs the Debian packages fedc needs (those missing only), then configures
# and builds. Run as root on a fresh Debian 12 machine, or as a user once the
# packages are there.  Environment: FEDC_BUILD_DIR (default: build),
# FEDC_CMAKE_ARGS (extra cmake arguments, e.g. -DFEDC_SANITIZE=ON).
#   scripts/setup.sh                          install what is missing, build
#   scripts/setup.sh --install-only [PKG...]  install what is missing (and the
#                                             PKGs: scripts/fuzz.sh adds clang), no build
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FEDC_BUILD_DIR:-$root/build}
install_only=0
extra=()
if [[ ${1:-} == --install-only ]]; then
  install_only=1
  shift
  extra=("$@")
fi

packages=(build-essential cmake pkg-config
  libpaho-mqtt-dev libcurl4-openssl-dev libmsgpack-dev libssl-dev libsqlite3-dev
  libcmocka-dev libmicrohttpd-dev uuid-dev zlib1g-dev libinih-dev libjansson-dev libarchive-dev
  libopenblas-dev libseccomp-dev libpng-dev libjpeg62-turbo-dev libnifti2-dev libcsv-dev
  mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev dataset-fashion-mnist
  python3-numpy python3-torch
  chromium chromium-driver # test console.browser: the node console in headless Chromium
  lintian file man-db systemd adduser python3-seccomp # test package.debs: lintian, cpack (file), units, postinst
  openssl curl # tests console.browser and package.debs: certificates, HTTPS checks
  iproute2 # test bench.wan_link_smoke: network namespaces
  ceph-mon ceph-osd radosgw ceph-common # test integration.test_s3: a single-host Ceph cluster and RADOS Gateway
  rabbitmq-server # test integration.test_rabbitmq: the stack on RabbitMQ's MQTT plugin
  python3 "${extra[@]}")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: run this script as root, or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

((install_only)) && exit 0
# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${FEDC_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc)"
echo "setup: built into $build"
