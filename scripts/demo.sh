#!/usr/bin/env bash
# README's first command: set-up (scripts/setup.sh), then a real federated
# experiment on loopback: Mosquitto, the repository and three hospital nodes
# holding uneven shares of the breast-cancer data, a logistic regression
# trained for 10 rounds. Everything started here is stopped on exit, Ctrl-C
# or failure. Results (history, final parameters) land in out/logreg/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FEDC_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh"

dir=$(mktemp -d /tmp/fedc-demo.XXXXXX)
chmod 755 "$dir"
pids=()

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if ((status != 0)); then
    echo "demo: failed; logs kept in $dir" >&2
  else
    rm -rf "$dir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nobody listens on (bash's /dev/tcp connect fails).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

wait_for() { # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1))
  shift
  until "$@" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
broker_port=$(free_port)
{
  echo "listener $broker_port 127.0.0.1"
  echo "allow_anonymous true"
  echo "set_tcp_nodelay true"
  echo "persistence false"
  [[ $(id -u) -eq 0 ]] && echo "user root"
} >"$dir/mosquitto.conf"
"$mosquitto" -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
pids+=($!)
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$broker_port"

token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$build/bin/fedc-repository" --store "$dir/store" --port 0 --port-file "$dir/repository.port" \
  --token "$token" >"$dir/repository.log" 2>&1 &
pids+=($!)
wait_for 10 test -s "$dir/repository.port"
repo_port=$(cat "$dir/repository.port")

# Three hospitals, uneven shares of the 569 rows (the counts header is kept
# true to each share: fedc-node checks it).
data="$root/examples/data/breast_cancer.csv"
shares=("1 100" "101 180" "281 289")
for i in 0 1 2; do
  read -r first count <<<"${shares[i]}"
  csv="$dir/hospital-$i.csv"
  awk -v first="$first" -v count="$count" -F, 'NR == 1 { sub(/^[0-9]+/, count); print; next }
    NR - 1 >= first && NR - 1 < first + count' "$data" >"$csv"
  cfg="$dir/hospital-$i.ini"
  "$build/bin/fedc-node" --config "$cfg" init --id "hospital-$i" --federation demo \
    --broker "tcp://127.0.0.1:$broker_port" --repository "http://127.0.0.1:$repo_port" \
    --token "$token" --data-dir "hospital-$i-data" >/dev/null
  "$build/bin/fedc-node" --config "$cfg" dataset add --name "breast-cancer-$i" \
    --tags breast-cancer,tabular --file "$csv" \
    --description "share $i of the Wisconsin diagnostic data" >/dev/null
  "$build/bin/fedc-node" --config "$cfg" plan approve "$build/plans/logreg.so" --name logreg >/dev/null
  "$build/bin/fedc-node" --config "$cfg" start >"$dir/hospital-$i.log" 2>&1 &
  pids+=($!)
  echo "demo: hospital-$i holds $count rows"
done
for i in 0 1 2; do
  wait_for 20 grep -q "serving federation" "$dir/hospital-$i.log"
done

cat >"$dir/network.ini" <<NET
[network]
federation = demo
researcher_id = demo-researcher
broker_url = tcp://127.0.0.1:$broker_port
repository_url = http://127.0.0.1:$repo_port
repository_token = $token
NET

echo "demo: broker on port $broker_port, repository on port $repo_port; running 10 rounds"
"$build/bin/fedc-researcher" run "$root/examples/logreg/experiment.ini" --network "$dir/network.ini" \
  --output "$root/out/logreg"
