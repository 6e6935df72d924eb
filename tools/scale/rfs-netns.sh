#!/usr/bin/env bash
# Runs a command in a new network namespace whose loopback steers every received packet to the CPU of the
# thread that reads the socket (RPS + RFS, Documentation/networking/scaling.rst), instead of processing it in
# the sender's context as plain loopback does.
#
#   tools/scale/rfs-netns.sh tools/scale/throughput.sh      # as root; e.g. ROUNDS=5 in the environment
#
# On plain loopback a server's send also runs the client's TCP receive, and that is charged to the server:
# 36% of the io_uring echo server's CPU in the 500-connection run. Under RFS each side's receive runs on the
# reader's CPU, and a send that queues packets for another CPU raises an IPI there instead.
#
# Needs root: it creates the namespace and sets the global net.core.rps_sock_flow_entries (the RFS table),
# which it puts back on exit. Only the new namespace's loopback has steering configured.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi

if [[ ${1:-} == --inside ]]; then
    shift
    mount -t sysfs none /sys
    ip link set lo up
    cpus=$(nproc)
    printf '%x\n' $(((1 << cpus) - 1)) >/sys/class/net/lo/queues/rx-0/rps_cpus
    echo 32768 >/sys/class/net/lo/queues/rx-0/rps_flow_cnt
    echo "rfs-netns: loopback rps_cpus=$(cat /sys/class/net/lo/queues/rx-0/rps_cpus)" \
        "rps_flow_cnt=$(cat /sys/class/net/lo/queues/rx-0/rps_flow_cnt)" >&2
    exec "$@"
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "rfs-netns: needs root (network namespace, net.core.rps_sock_flow_entries)" >&2
    exit 1
fi
flows=/proc/sys/net/core/rps_sock_flow_entries
old=$(cat "$flows")
trap 'echo "$old" >"$flows"' EXIT
echo 32768 >"$flows"
unshare --net --mount "$0" --inside "$@"
