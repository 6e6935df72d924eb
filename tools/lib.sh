# shellcheck shell=bash
# Shared helpers for the scripts under tools/ (source it; bash only). Sourcing sets
#   repo_root      the top directory of the repository
#   benchlib       tools/benchlib.py, the Python side of these scripts (`python3 "$benchlib" COMMAND ...`)
#   sipedged_bin   the release sipedged that start_sipedged runs (a script may point it elsewhere)
#   work           a temporary directory, removed at exit
# and an EXIT trap that stops every process started by spawn (and Kamailio), then removes $work.
#
#   free_port                        a free TCP port on 127.0.0.1
#   free_udp_pair                    a UDP port p with p and p+1 free (two workers' sockets toward the core)
#   wait_tcp PORT                    wait (≤ 10 s) until something listens on 127.0.0.1:PORT
#   spawn CMD...                     start CMD in the background (pid in $spawned_pid); it is stopped at exit
#   stop_pids PID...                 SIGTERM, then wait (≤ 5 s in all) until they are gone
#   spawn_timed SECS PORT LOG CMD... spawn `timeout SECS CMD` logging to LOG, wait for PORT; sets $server_wrap
#                                    (the timeout process, what to stop) and $server_pid (CMD itself, what to watch)
#   start_sipedged LOG PORT ARGS...  $sipedged_bin ARGS in the background logging to LOG, until it listens on PORT;
#                                    pid in $sipedged_pid
#   start_wsecho PORT AGENT ARGS...  the release wsecho (built when missing) on 127.0.0.1:PORT with ARGS, logging to
#                                    target/wsecho-AGENT.log, until it listens
#   start_kamailio CFG LOG ARGS...   Kamailio with CFG (forks into the background; pid file in $work), stopped at
#                                    exit or by stop_kamailio; pid in $kamailio_pid
#   start_core PORT                  Kamailio as the SIP core (deploy/kamailio/core.cfg) on UDP 127.0.0.1:PORT
#   start_edge_over_core [TOML...]   start_core on a free port, then sipedged in edge mode in front of it (2 workers,
#                                    no admin listener, TOML lines added to its config) on a free port: $port; its
#                                    config is $work/edge.toml, its log $work/edge.log
#   build_release SECS PKG...        cargo build --release -q -p PKG... bounded by SECS, unless NO_BUILD is set
#   ensure_built BIN PKG             cargo build --release -p PKG when BIN is not there yet
#   abs_dirs VAR...                  mkdir -p the directory named by each variable and make the variable absolute
#   sys_limits                       "nofile N, ephemeral ports LOW HIGH, somaxconn N"
#   sys_load                         the 1, 5 and 15 minute load averages

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
benchlib=$repo_root/tools/benchlib.py
sipedged_bin=$repo_root/target/release/sipedged
work=$(mktemp -d)
spawned=()

free_port() { python3 "$benchlib" free-port; }

free_udp_pair() { python3 "$benchlib" free-udp-pair; }

wait_tcp() { python3 "$benchlib" wait-tcp "$1"; }

spawn() {
  "$@" &
  spawned_pid=$!
  spawned+=("$spawned_pid")
}

stop_pids() {
  local p left keep=()
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    left=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && left=1; done
    [[ $left == 0 ]] && break
    sleep 0.1
  done
  # Reap the ones that are gone (children of this shell) and forget them, so that the exit trap never signals
  # a process id the system has handed to someone else since.
  for p in "$@"; do kill -0 "$p" 2>/dev/null || wait "$p" 2>/dev/null || true; done
  for p in "${spawned[@]}"; do
    [[ " $* " == *" $p "* ]] || keep+=("$p")
  done
  spawned=("${keep[@]}")
}

spawn_timed() {
  local secs=$1 port=$2 log=$3
  shift 3
  spawn timeout "$secs" "$@" >"$log" 2>&1
  server_wrap=$spawned_pid
  wait_tcp "$port"
  # The command is the child of `timeout` (a `taskset` in front of it execs into it).
  # shellcheck disable=SC2034 # for the caller
  server_pid=$(pgrep -P "$server_wrap" | head -n1)
}

start_sipedged() {
  local log=$1 port=$2
  shift 2
  spawn "$sipedged_bin" "$@" >"$log" 2>&1
  # shellcheck disable=SC2034 # for the caller
  sipedged_pid=$spawned_pid
  wait_tcp "$port"
}

start_wsecho() {
  local port=$1 agent=$2 bin=$repo_root/target/release/wsecho
  shift 2
  ensure_built "$bin" wsecho
  spawn "$bin" --listen "127.0.0.1:$port" "$@" >"$repo_root/target/wsecho-$agent.log" 2>&1
  wait_tcp "$port"
}

start_kamailio() {
  local cfg=$1 log=$2
  shift 2
  kamailio -f "$cfg" -P "$work/kamailio.pid" "$@" -E >"$log" 2>&1
  kamailio_pid=$(cat "$work/kamailio.pid")
}

stop_kamailio() {
  stop_pids "$kamailio_pid"
  rm -f "$work/kamailio.pid"
}

start_core() {
  start_kamailio "$repo_root/deploy/kamailio/core.cfg" "$work/kamailio.log" -A "CORE_LISTEN=udp:127.0.0.1:$1"
}

start_edge_over_core() {
  local core local_base
  core=$(free_port)
  start_core "$core"
  local_base=$(free_udp_pair)
  port=$(free_port)
  cat >"$work/edge.toml" <<TOML
[[listen]]
address = "127.0.0.1:$port"
[core]
uri = "sip:127.0.0.1:$core;transport=udp"
local_address = "127.0.0.1:$local_base"
[runtime]
workers = 2
TOML
  if [[ $# -gt 0 ]]; then printf '%s\n' "$@" >>"$work/edge.toml"; fi
  start_sipedged "$work/edge.log" "$port" --config "$work/edge.toml" --admin ""
}

build_release() {
  local secs=$1 pkg args=()
  shift
  for pkg in "$@"; do args+=(-p "$pkg"); done
  if [[ -z "${NO_BUILD:-}" ]]; then
    (cd "$repo_root" && timeout "$secs" cargo build --release -q "${args[@]}")
  fi
}

ensure_built() {
  [ -x "$1" ] || (cd "$repo_root" && cargo build --release -p "$2")
}

abs_dirs() {
  local var
  for var in "$@"; do
    mkdir -p "${!var}"
    printf -v "$var" '%s' "$(cd "${!var}" && pwd)"
  done
}

sys_limits() {
  echo "nofile $(ulimit -n), ephemeral ports $(tr '\t' ' ' </proc/sys/net/ipv4/ip_local_port_range)," \
    "somaxconn $(cat /proc/sys/net/core/somaxconn)"
}

sys_load() { cut -d' ' -f1-3 /proc/loadavg; }

cleanup_spawned() {
  local pids=("${spawned[@]}")
  [ -f "$work/kamailio.pid" ] && pids+=("$(cat "$work/kamailio.pid")")
  stop_pids "${pids[@]}"
  rm -rf "$work"
}
trap cleanup_spawned EXIT
