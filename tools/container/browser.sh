#!/usr/bin/env bash
# Runs the sipedge container image and the browser interop test against it (tools/browser/run.mjs: JsSIP and
# SIP.js in Chromium, register, MESSAGE, call), the way a user runs the image: `podman run` with no arguments (the
# image's own configuration: standalone, WebSocket on 8080, metrics on 9090), both ports published on free
# loopback ports, RLIMIT_NOFILE and RLIMIT_NPROC set within this shell's hard limits (podman's defaults are above
# them here, and the runtime cannot raise a hard limit).
#
# Two runs: as shipped (podman's default seccomp profile refuses io_uring, so the daemon falls back to epoll), then
# with `--security-opt seccomp=unconfined` (io_uring). Pass (exit 0), in each: the daemon in the container says it
# listens on 0.0.0.0:8080 with the expected backend; it runs as user 10001, not root; /metrics answers through the
# published admin port; both browser stacks pass against the published WebSocket port with permessage-deflate
# agreed; SIGTERM (podman stop) drains it and it exits with status 0 within its 10 s grace.
#
#   tools/container/browser.sh                          # IMAGE=localhost/sipedge:ci, built by build.sh if missing
#
# Needs podman (and runc: see podman-lib.sh), Chromium and tools/browser's npm packages (`npm ci` there).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
# shellcheck source=podman-lib.sh
source "$here/podman-lib.sh"
IMAGE=${IMAGE:-localhost/sipedge:ci}
pod image exists "$IMAGE" || IMAGE=$IMAGE bash "$here/build.sh"
(cd "$repo_root/tools/browser" && { [ -f dist/jssip-client.js ] || node build.mjs; })

container=""
# shellcheck disable=SC2317 # called by the EXIT trap
stop_container() {
  if [[ -n $container ]]; then
    pod stop -t 15 "$container" >/dev/null 2>&1 || true
    pod rm -f "$container" >/dev/null 2>&1 || true
  fi
}
trap 'stop_container; cleanup_spawned' EXIT

limit() { local hard=$1 want=$2; if [[ $hard == unlimited || $hard -gt $want ]]; then echo "$want"; else echo "$hard"; fi; }
nofile=$(limit "$(ulimit -Hn)" 65536)
nproc=$(limit "$(ulimit -Hu)" 4096)
fail=0
check() {
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}

# run_image LABEL BACKEND PODMAN-RUN-ARGS...: the image with no arguments, checked, the browsers against it,
# stopped with SIGTERM. BACKEND is the I/O backend its log must name (Epoll or Uring).
run_image() {
  local label=$1 want=$2 port admin listening uid metrics t0 status
  shift 2
  port=$(free_port)
  admin=$(free_port)
  container=$(pod run -d --name "sipedge-$label-$$" -p "127.0.0.1:$port:8080" -p "127.0.0.1:$admin:9090" \
    --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc" "$@" "$IMAGE")
  # The published port takes connections before the daemon listens (the runtime holds it): wait for the log line.
  listening=""
  for _ in $(seq 1 100); do
    listening=$(pod logs "$container" 2>&1 | grep -m1 '^sipedge listening on' || true)
    [[ -n $listening ]] && break
    sleep 0.1
  done
  check "$label: the daemon listens: ${listening:-(no line in 10 s)}" grep -q "ws://0.0.0.0:8080/.*$want backend" \
    <<<"$listening"
  uid=$(pod exec "$container" id -u)
  check "$label: the daemon runs as uid $uid, not root" test "$uid" = 10001
  metrics=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
    "http://127.0.0.1:$admin/metrics")
  check "$label: /metrics answers on the published admin port" grep -q '^sipedge_' <<<"$metrics"
  if ! (cd "$repo_root/tools/browser" && node run.mjs --ws "ws://127.0.0.1:$port" \
    --extensions permessage-deflate --label "$label"); then
    fail=1
    pod logs "$container" 2>&1 | tail -n 20
  fi
  t0=$SECONDS
  pod stop -t 15 "$container" >/dev/null
  status=$(pod inspect --format '{{.State.ExitCode}}' "$container")
  check "$label: SIGTERM drained the daemon, exit status $status in $((SECONDS - t0)) s" test "$status" = 0
  pod rm "$container" >/dev/null
  container=""
}

# podman's default seccomp profile refuses io_uring_setup (ENOSYS): the daemon falls back to epoll.
run_image container-epoll Epoll
# Without the seccomp filter the io_uring probe passes.
run_image container-uring Uring --security-opt seccomp=unconfined
exit $fail
