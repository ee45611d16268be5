#!/usr/bin/env bash
# A throw-away single-host Ceph cluster with a RADOS Gateway (S3), for tests
# and for trying fedc's S3 repository backend (docs/repository.md, "S3
# backend"). Everything lives under DIR: one monitor, one OSD on memstore
# (objects in RAM), radosgw with the beast frontend on a loopback port. The
# daemons talk to each other without cephx (a test cluster on loopback); S3
# clients authenticate for real, each radosgw user with its own keys.
# Not for production: a real cluster has several monitors and OSDs on disks.
#
#   ceph-single-host.sh start DIR [RGW_PORT [MON_PORT]] [--tls CERT KEY CA] [--watch PID]
#       makes the cluster in DIR (must not exist or be empty), starts it,
#       waits until radosgw answers; writes DIR/env (RGW_URL=..., RGW_CA=...).
#       With --tls, radosgw serves HTTPS only, with certificate CERT and key
#       KEY (PEM; e.g. the repository's from fedc-admin init), which CA
#       signed. With --watch, the cluster is stopped when process PID ends.
#   ceph-single-host.sh user DIR UID
#       creates radosgw user UID with fresh keys; prints ACCESS_KEY:SECRET_KEY
#   ceph-single-host.sh suspend DIR UID
#       suspends radosgw user UID (what revoking a participant does)
#   ceph-single-host.sh bucket DIR BUCKET OWNER_CREDENTIALS [POLICY_FILE]
#       creates BUCKET as the user with OWNER_CREDENTIALS (ACCESS:SECRET) and
#       sets its bucket policy (JSON, e.g. from `fedc-admin s3-policy`)
#   ceph-single-host.sh stop DIR
#       stops every daemon started in DIR (the directory stays)
#
# Needs the Debian packages ceph-mon ceph-osd radosgw ceph-common, and curl.
set -euo pipefail

die() {
  echo "ceph-single-host.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '/^#   ceph-single-host.sh start/,/^# Needs/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# free_port: a port nobody listens on, below the ephemeral range
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

now_ms() { date +%s%3N; }

# Every path Ceph would take from /var or /etc is set here: nothing outside
# DIR is read or written. The timings make a one-monitor cluster settle in
# about a second instead of ten (paxos proposes every 0.1 s, ticks every 1 s).
write_conf() {
  local dir=$1 mon_port=$2 rgw_port=$3 fsid=$4 frontend="endpoint=127.0.0.1:$3"
  [[ -z $tls_cert ]] ||
    frontend="ssl_endpoint=127.0.0.1:$rgw_port ssl_certificate=$tls_cert ssl_private_key=$tls_key"
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
crash dir = $dir/crash
log to stderr = false
err to stderr = false
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon max pg per osd = 1000
paxos propose interval = 0.1
mon tick interval = 1
mon data avail warn = 2
mon data avail crit = 1
[mon.a]
mon data = $dir/mon.a
[osd.0]
osd data = $dir/osd.0
osd objectstore = memstore
memstore device bytes = 1073741824
[client.rgw.a]
rgw frontends = beast $frontend
rgw data = $dir/rgw.a
rgw enable usage log = false
EOF
}

ceph_cmd() {
  local dir=$1
  shift
  ceph -c "$dir/ceph.conf" --connect-timeout 20 "$@"
}

start_mon() {
  local dir=$1 mon_port=$2 fsid=$3
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-mon -c "$dir/ceph.conf" -i a --mkfs --monmap "$dir/monmap" --keyring "$dir/keyring"
  ceph-mon -c "$dir/ceph.conf" -i a
}

start_osd() {
  local dir=$1 uuid
  uuid=$(cat /proc/sys/kernel/random/uuid)
  [[ $(ceph_cmd "$dir" osd new "$uuid") == 0 ]] || die "the cluster did not give the OSD id 0"
  mkdir -p "$dir/osd.0"
  ceph-osd -c "$dir/ceph.conf" -i 0 --mkfs --osd-uuid "$uuid" 2>>"$dir/log/osd-mkfs.log"
  ceph-osd -c "$dir/ceph.conf" -i 0
}

# radosgw answers an anonymous GET / with its bucket list (200) once its pools
# exist; before that the port is closed or the request fails.
wait_rgw() {
  local dir=$1 url=$2 deadline=$(($(now_ms) + 60000))
  until curl -sf -o /dev/null ${tls_ca:+--cacert "$tls_ca"} "$url/"; do
    (($(now_ms) < deadline)) || die "radosgw did not answer $url within 60 s (see $dir/log/)"
    [[ -f "$dir/run/client.rgw.a.pid" ]] && ! kill -0 "$(cat "$dir/run/client.rgw.a.pid")" 2>/dev/null &&
      die "radosgw exited (see $dir/log/client.rgw.a.log)"
    sleep 0.1
  done
}

# Stops the cluster once process $2 has ended (a test that crashed).
watch_parent() {
  local dir=$1 pid=$2
  (
    trap '' HUP
    while kill -0 "$pid" 2>/dev/null; do sleep 1; done
    "$0" stop "$dir"
  ) </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/run/watch.pid"
}

cmd_start() {
  local dir=${1:-} rgw_port=${2:-} mon_port=${3:-} watch=${4:-} fsid t0 url f
  [[ $dir ]] || usage
  t0=$(now_ms)
  for p in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph-authtool ceph curl; do
    command -v "$p" >/dev/null || die "$p not found: install the Debian packages ceph-mon ceph-osd radosgw ceph-common curl"
  done
  for f in "$tls_cert" "$tls_key" "$tls_ca"; do
    [[ -z $f || -r $f ]] || die "--tls: cannot read $f"
  done
  mkdir -p "$dir"
  [[ -z $(ls -A "$dir") ]] || die "$dir is not empty: give a new directory"
  dir=$(cd "$dir" && pwd)
  [[ $rgw_port ]] || rgw_port=$(free_port)
  [[ $mon_port ]] || mon_port=$(free_port)
  mkdir -p "$dir/run" "$dir/log" "$dir/crash" "$dir/mon.a" "$dir/rgw.a"
  fsid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$dir" "$mon_port" "$rgw_port" "$fsid"
  [[ -z $watch ]] || watch_parent "$dir" "$watch"
  start_mon "$dir" "$mon_port" "$fsid"
  start_osd "$dir"
  radosgw -c "$dir/ceph.conf" -n client.rgw.a
  url="http$([[ -z $tls_cert ]] || echo s)://127.0.0.1:$rgw_port"
  printf 'RGW_URL=%s\nRGW_CA=%s\nMON_PORT=%s\n' "$url" "$tls_ca" "$mon_port" >"$dir/env"
  wait_rgw "$dir" "$url"
  echo "ceph-single-host: radosgw at $url, ready in $(($(now_ms) - t0)) ms"
}

# Keys made here rather than by radosgw-admin, so that its JSON need not be
# parsed: 20 upper-case alphanumerics and 40 base64-like characters, as AWS's.
random_chars() {
  local set=$1 n=$2
  # (head closing the pipe kills tr: not an error here)
  (set +o pipefail; LC_ALL=C tr -dc "$set" </dev/urandom | head -c "$n")
}

cmd_user() {
  local dir=${1:-} uid=${2:-} access secret
  [[ $dir && $uid ]] || usage
  access=$(random_chars 'A-Z0-9' 20)
  secret=$(random_chars 'A-Za-z0-9' 40)
  radosgw-admin -c "$dir/ceph.conf" user create --uid "$uid" --display-name "$uid" \
    --access-key "$access" --secret-key "$secret" >"$dir/log/user-$uid.json" 2>>"$dir/log/radosgw-admin.log" ||
    die "radosgw-admin user create $uid failed (see $dir/log/radosgw-admin.log)"
  echo "$access:$secret"
}

cmd_suspend() {
  local dir=${1:-} uid=${2:-}
  [[ $dir && $uid ]] || usage
  radosgw-admin -c "$dir/ceph.conf" user suspend --uid "$uid" >/dev/null 2>>"$dir/log/radosgw-admin.log" ||
    die "radosgw-admin user suspend $uid failed (see $dir/log/radosgw-admin.log)"
}

# One signed S3 request with curl (x-amz-content-sha256 is required by radosgw
# and not sent by curl 7.88 itself). Prints the status; the answer's body is
# left in $dir/log/s3-response.xml.
s3_request() {
  local creds=$1 method=$2 url=$3 body=${4:-}
  local args=(-sS -o "$dir/log/s3-response.xml" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$creds"
    -X "$method" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
  [[ -z $RGW_CA ]] || args+=(--cacert "$RGW_CA")
  [[ -z $body ]] || args+=(--upload-file "$body")
  curl "${args[@]}" "$url"
}

cmd_bucket() {
  local dir=${1:-} bucket=${2:-} creds=${3:-} policy=${4:-} url code
  [[ $dir && $bucket && $creds ]] || usage
  # shellcheck source=/dev/null
  url=$(. "$dir/env" && echo "$RGW_URL")
  # shellcheck source=/dev/null
  RGW_CA=$(. "$dir/env" && echo "$RGW_CA")
  code=$(s3_request "$creds" PUT "$url/$bucket")
  [[ $code == 200 ]] || die "creating bucket $bucket: HTTP $code: $(cat "$dir/log/s3-response.xml")"
  if [[ $policy ]]; then
    code=$(s3_request "$creds" PUT "$url/$bucket?policy=" "$policy")
    [[ $code == 200 || $code == 204 ]] || die "setting the policy of $bucket: HTTP $code: $(cat "$dir/log/s3-response.xml")"
  fi
}

cmd_stop() {
  local dir=${1:-} f pid
  [[ $dir && -d $dir/run ]] || die "stop: $dir is not a cluster directory"
  for f in "$dir/run/watch.pid" "$dir/run/client.rgw.a.pid" "$dir/run/osd.0.pid" "$dir/run/mon.a.pid"; do
    [[ -f $f ]] || continue
    pid=$(cat "$f")
    [[ $f == */watch.pid && $pid == "$BASHPID" ]] && continue
    kill "$pid" 2>/dev/null || true
  done
  # give them 5 s, then SIGKILL
  for _ in $(seq 50); do
    local alive=0
    for f in "$dir"/run/{client.rgw.a,osd.0,mon.a}.pid; do
      [[ -f $f ]] && kill -0 "$(cat "$f" 2>/dev/null)" 2>/dev/null && alive=1
    done
    ((alive)) || return 0
    sleep 0.1
  done
  for f in "$dir"/run/{client.rgw.a,osd.0,mon.a}.pid; do
    if [[ -f $f ]]; then kill -9 "$(cat "$f" 2>/dev/null)" 2>/dev/null || true; fi
  done
}

tls_cert="" tls_key="" tls_ca=""

main() {
  local cmd=${1:-} args=() watch=""
  [[ $cmd ]] || usage
  shift
  while (($#)); do
    case $1 in
    --tls)
      (($# >= 4)) || die "--tls needs CERT KEY CA"
      tls_cert=$(realpath "$2") tls_key=$(realpath "$3") tls_ca=$(realpath "$4")
      shift 4
      ;;
    --watch)
      [[ ${2:-} =~ ^[0-9]+$ ]] || die "--watch needs a process id"
      watch=$2
      shift 2
      ;;
    *)
      args+=("$1")
      shift
      ;;
    esac
  done
  case $cmd in
  start) cmd_start "${args[0]:-}" "${args[1]:-}" "${args[2]:-}" "$watch" ;;
  user) cmd_user "${args[@]}" ;;
  suspend) cmd_suspend "${args[@]}" ;;
  bucket) cmd_bucket "${args[@]}" ;;
  stop) cmd_stop "${args[@]}" ;;
  *) usage ;;
  esac
}

main "$@"
