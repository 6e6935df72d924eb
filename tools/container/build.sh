#!/usr/bin/env bash
# Builds the sipedge container image (deploy/container/Containerfile) with podman on a machine that cannot pull
# images, then checks it:
#   1. the runtime base image, under the exact name the Containerfile's FROM uses
#      (docker.io/library/debian:bookworm-slim), made from Debian's packages with mmdebstrap (variant minbase,
#      documentation, manual pages and translations left out as in the public slim image: 77 MB); kept once made
#      (REBUILD_BASE=1 makes it again);
#   2. target/release/sipedged (cargo build --release -p sipedged, skipped with NO_BUILD=1), copied stripped of
#      its debug lines to target/container/sipedged;
#   3. `podman build --target prebuilt` (that binary copied in; no Rust toolchain, no crates.io in the build),
#      tagged $IMAGE (default localhost/sipedge:ci);
#   4. the checks: the image runs as a non-root user, its entrypoint is the binary, which is there, and its
#      configuration is there and passes `sipedged --check`; both files taken out with podman create + podman cp
#      (into target/container/from-image/), the binary run as `--version`. Prints the image's size.
# Exit 1 when a check fails.
#
#   tools/container/build.sh
#   NO_BUILD=1 IMAGE=localhost/sipedge:ci tools/container/build.sh     # the run of .ci/run
#
# Needs Debian's podman, mmdebstrap and (where crun refuses the machine's cgroup v1/hybrid setup) runc.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=podman-lib.sh
source "$(dirname "$0")/podman-lib.sh"
cd "$repo_root"
IMAGE=${IMAGE:-localhost/sipedge:ci}
base=docker.io/library/debian:bookworm-slim
suite=bookworm

# The base: Essential and Priority required packages (with apt), as debian:bookworm-slim has; /usr merged by
# mmdebstrap's hook (the usrmerge package would pull in perl).
make_base() {
  local mirror=http://deb.debian.org/debian
  mmdebstrap --variant=minbase --format=tar --quiet --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    "$suite" - "deb $mirror $suite main" "deb $mirror $suite-updates main" \
    "deb http://deb.debian.org/debian-security $suite-security main" </dev/null 2>"$work/mmdebstrap.log" |
    pod import --quiet --change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD=["bash"]' - "$base" >/dev/null
}

t0=$SECONDS
if [[ -n "${REBUILD_BASE:-}" ]] || ! pod image exists "$base"; then
  make_base || { tail -n 20 "$work/mmdebstrap.log"; exit 1; }
  echo "base: $base made with mmdebstrap ($((SECONDS - t0)) s)"
else
  echo "base: $base already there (REBUILD_BASE=1 makes it again)"
fi

build_release 1200 sipedged
mkdir -p target/container
strip --strip-debug -o target/container/sipedged target/release/sipedged

t1=$SECONDS
pod build -f deploy/container/Containerfile --ignorefile deploy/container/Containerfile.dockerignore \
  --target prebuilt -t "$IMAGE" . >"$work/build.log" 2>&1 || { tail -n 20 "$work/build.log"; exit 1; }
echo "image: $IMAGE built with podman build --target prebuilt ($((SECONDS - t1)) s)"

fail=0
check() {
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}
user=$(pod image inspect --format '{{.Config.User}}' "$IMAGE")
entry=$(pod image inspect --format '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$IMAGE")
check "runs as a non-root user ($user)" test -n "$user" -a "${user%%:*}" != root -a "${user%%:*}" != 0
check "entrypoint and command: $entry" \
  test "$entry" = '["/usr/local/bin/sipedged"] ["--config","/etc/sipedge/sipedge.toml"]'

out=target/container/from-image
rm -rf "$out" && mkdir -p "$out"
cid=$(pod create "$IMAGE")
pod cp "$cid:/usr/local/bin/sipedged" "$out/sipedged"
pod cp "$cid:/etc/sipedge/sipedge.toml" "$out/sipedge.toml"
pod cp "$cid:/etc/passwd" "$out/passwd"
pod rm "$cid" >/dev/null
check "the image's user is in its /etc/passwd" grep -q "^${user%%:*}:x:10001:" "$out/passwd"
check "the image's binary is the one built ($("$out/sipedged" --version))" cmp -s "$out/sipedged" target/container/sipedged
check "the image's configuration passes sipedged --check" "$out/sipedged" --check --config "$out/sipedge.toml"
size=$(pod image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(pod image inspect --format '{{.Size}}' "$base")
echo "size: $IMAGE $((size / 1000000)) MB (base $base $((base_size / 1000000)) MB," \
  "sipedged $(($(stat -c %s target/container/sipedged) / 1000000)) MB)"
exit $fail
