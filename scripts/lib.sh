# shellcheck shell=bash
# Pieces shared by the scripts that start a small federation on loopback
# (scripts/demo.sh, examples/linreg/run.sh, examples/mlp/run.sh): a temporary directory,
# a federation provisioned by fedc-admin (TLS broker with passwords and ACL,
# HTTPS repository with per-participant tokens, signed messages), nodes, and a
# cleanup that stops everything started here on exit, Ctrl-C or failure.
# Source it, then:
#
#   stack_init NAME           dir=$(mktemp -d /tmp/fedc-NAME.XXXXXX), traps;
#                             on failure the logs stay there, else it goes
#   provision FEDERATION RESEARCHER_ID
#                             fedc-admin init + add-researcher in $fed
#                             ($dir/fed), free ports: $broker_port, $repo_port
#   start_broker              Mosquitto with the provisioned config
#   start_repository          fedc-repository with the provisioned config
#   node_init ID              fedc-admin add-node; the node's config is
#                             $(node_config ID); broker and repository reload
#   node_start ID             starts the node daemon, log in $dir/ID.log
#   wait_nodes ID...          until each node serves its federation
#   write_network FILE        the [network] file for fedc-researcher --network
#                             (the researcher's bundle, paths made absolute)
#   choose_blas_kernel        exports OPENBLAS_CORETYPE as fedc-node picks it
#                             for its plans, for the programs run here
#
# Reads $build (the build directory: bin/, plans/). Sets dir, fed, pids
# (started processes, stopped in reverse order), broker_port, repo_port.

pids=()

# A port nobody listens on (bash's /dev/tcp connect fails), below the
# kernel's ephemeral range: a port in that range may be taken by any outgoing
# connection between this check and the server's bind.
free_port() {
  local port lo=32768 hi
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  ((lo > 21000)) || lo=61000
  while :; do
    port=$((20000 + RANDOM % (lo - 20000)))
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

stack_cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if ((status != 0)); then
    echo "$stack_name: failed; logs kept in $dir" >&2
  else
    rm -rf "$dir"
  fi
  exit "$status"
}

stack_init() { # stack_init NAME
  : "${build:?set build (the build directory) before stack_init}"
  stack_name=$1
  dir=$(mktemp -d "/tmp/fedc-$1.XXXXXX")
  chmod 755 "$dir"
  trap stack_cleanup EXIT
  trap 'exit 130' INT TERM
}

provision() { # provision FEDERATION RESEARCHER_ID
  fed=$dir/fed
  researcher_id=$2
  broker_port=$(free_port)
  repo_port=$(free_port)
  while [[ $repo_port == "$broker_port" ]]; do repo_port=$(free_port); done
  "$build/bin/fedc-admin" init "$fed" --federation "$1" --broker-port "$broker_port" \
    --repository-port "$repo_port" >"$dir/admin.log"
  "$build/bin/fedc-admin" add-researcher "$fed" "$2" >>"$dir/admin.log"
}

start_broker() {
  local mosquitto
  mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  "$mosquitto" -c "$fed/broker/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
  broker_pid=$!
  pids+=("$broker_pid")
  wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$broker_port"
}

start_repository() {
  "$build/bin/fedc-repository" --config "$fed/repository/repository.ini" >"$dir/repository.log" 2>&1 &
  repo_pid=$!
  pids+=("$repo_pid")
  wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$repo_port"
}

node_config() { # node_config ID
  echo "$fed/nodes/$1/node.ini"
}

# Lines of FILE that hold PATTERN (0 when there is no FILE).
count_lines() { # count_lines FILE PATTERN
  grep -c -- "$2" "$1" 2>/dev/null || true
}

# Sends SIGHUP to PID until its log LOG shows a reload (a new line holding
# PATTERN) begun after the call: mosquitto 2.0 clears its reload flag after
# reloading, so a SIGHUP that arrives during a reload is lost, and two
# node_init in a row lost the second node's password (the broker refused it
# as not authorised).
reload_and_wait() { # reload_and_wait PID LOG PATTERN
  local before
  before=$(count_lines "$2" "$3")
  for _ in 1 2 3 4 5; do
    kill -HUP "$1"
    wait_for 2 bash -c "(( \$(grep -c -- '$3' '$2') > $before ))" && return 0
  done
  echo "process $1 did not reload after 5 SIGHUPs (no new \"$3\" in $2)" >&2
  return 1
}

node_init() { # node_init ID
  "$build/bin/fedc-admin" add-node "$fed" "$1" >>"$dir/admin.log"
  # The running broker and repository re-read passwords, ACL and tokens.
  reload_and_wait "${broker_pid:?start_broker first}" "$dir/mosquitto.log" "Reloading config"
  reload_and_wait "${repo_pid:?start_repository first}" "$dir/repository.log" "SIGHUP: re-read"
}

node_start() { # node_start ID
  "$build/bin/fedc-node" --config "$(node_config "$1")" start >"$dir/$1.log" 2>&1 &
  pids+=($!)
}

wait_nodes() { # wait_nodes ID...
  local id
  for id in "$@"; do
    wait_for 60 grep -q "serving federation" "$dir/$id.log" # 20 s was short under a loaded CI
  done
}

write_network() { # write_network FILE
  local bundle=$fed/researchers/$researcher_id
  # The bundle's paths are relative to its own directory: make them absolute.
  sed -E "s#^([a-z_]*(file|key|dir)) = ([^/].*)#\1 = $bundle/\3#" "$bundle/network.ini" >"$1"
}

# Debian's OpenBLAS 0.3.21 does not know recent CPUs and falls back to its
# slowest kernels; fedc-node names one for its plans' children when
# OPENBLAS_CORETYPE is unset. This does the same for what a script runs
# itself (fedc-centralized), so that both use the same kernel.
choose_blas_kernel() {
  if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
    if grep -qw avx512bw /proc/cpuinfo && grep -qw avx512f /proc/cpuinfo; then
      export OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo; then
      export OPENBLAS_CORETYPE=Haswell
    fi
  fi
}
