# shellcheck shell=bash
# podman as the scripts under tools/container/ run it (source it). `pod ARGS...` is `podman ARGS...`, with
# `--runtime runc` where the cgroup hierarchy is not unified (cgroup v1 or hybrid): crun, podman's default runtime
# on Debian, refuses to start a container there ("cgroups in hybrid mode not supported"), runc does not. Set
# PODMAN_RUNTIME to choose the runtime yourself.
if [[ -n "${PODMAN_RUNTIME:-}" ]]; then
  podman_args=(--runtime "$PODMAN_RUNTIME")
elif [[ ! -e /sys/fs/cgroup/cgroup.controllers ]] && command -v runc >/dev/null 2>&1; then
  podman_args=(--runtime runc)
else
  podman_args=()
fi

pod() { podman "${podman_args[@]}" "$@"; }
