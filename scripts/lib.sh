# shellcheck shell=bash
# Pieces shared by the scripts that start a small federation on loopback
# (scripts/demo.sh, examples/linreg/run.sh, examples/mlp/run.sh): a temporary directory,
# Mosquitto and the repository on free ports, nodes, and a cleanup that stops
# everything started here on exit, Ctrl-C or failure. Source it, then:
#
#   stack_init NAME           dir=$(mktemp -d /tmp/fedc-NAME.XXXXXX), traps;
#                             on failure the logs stay there, else it goes
#   start_broker              Mosquitto on a free port: $broker_port
#   start_repository          fedc-repository on a free port: $repo_port, $token
#   node_init ID FEDERATION   writes $dir/ID.ini (fedc-node init)
#   node_start ID             starts the node daemon, log in $dir/ID.log
#   wait_nodes ID...          until each node serves its federation
#   write_network FILE FEDERATION RESEARCHER_ID
#                             the [network] file for fedc-researcher --network
#   choose_blas_kernel        exports OPENBLAS_CORETYPE as fedc-node picks it
#                             for its plans, for the programs run here
#
# Reads $build (the build directory: bin/, plans/). Sets dir, pids (started
# processes, stopped in reverse order), broker_port, repo_port, token.

pids=()

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

start_broker() {
  local mosquitto
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
}

start_repository() {
  token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  "$build/bin/fedc-repository" --store "$dir/store" --port 0 --port-file "$dir/repository.port" \
    --token "$token" >"$dir/repository.log" 2>&1 &
  pids+=($!)
  wait_for 10 test -s "$dir/repository.port"
  repo_port=$(cat "$dir/repository.port")
}

node_init() { # node_init ID FEDERATION
  "$build/bin/fedc-node" --config "$dir/$1.ini" init --id "$1" --federation "$2" \
    --broker "tcp://127.0.0.1:$broker_port" --repository "http://127.0.0.1:$repo_port" \
    --token "$token" --data-dir "$1-data" >/dev/null
}

node_start() { # node_start ID
  "$build/bin/fedc-node" --config "$dir/$1.ini" start >"$dir/$1.log" 2>&1 &
  pids+=($!)
}

wait_nodes() { # wait_nodes ID...
  local id
  for id in "$@"; do
    wait_for 20 grep -q "serving federation" "$dir/$id.log"
  done
}

write_network() { # write_network FILE FEDERATION RESEARCHER_ID
  cat >"$1" <<NET
[network]
federation = $2
researcher_id = $3
broker_url = tcp://127.0.0.1:$broker_port
repository_url = http://127.0.0.1:$repo_port
repository_token = $token
NET
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
