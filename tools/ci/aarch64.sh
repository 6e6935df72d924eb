#!/usr/bin/env bash
# Cross-compiles the tests of wsmask and sipscan for aarch64-unknown-linux-gnu and runs them under
# qemu-user, so that their NEON kernels are built and executed on an x86-64 host.
#
# Installs what is missing first: Debian qemu-user, gcc-aarch64-linux-gnu (the linker) and
# libc6-dev-arm64-cross (the target's libc, also the runner's -L prefix), with apt-get only when
# one of them is absent; the Rust target with rustup. Then it builds, lints the aarch64 code with
# clippy, runs the tests, prints the build and run times, and fails unless the output shows that
# both crates ran their NEON path.
#
# Extra arguments go to the test binaries (e.g. `bash tools/ci/aarch64.sh --nocapture`).
# PROPTEST_CASES=N overrides every property test's case count (proptest reads it) when the
# emulated run must be shorter.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu
log=target/ci-aarch64.log

need_apt=()
command -v qemu-aarch64 >/dev/null 2>&1 || need_apt+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need_apt+=(gcc-aarch64-linux-gnu)
[ -e "$sysroot/lib/libc.so" ] || need_apt+=(libc6-dev-arm64-cross)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_apt[@]}"
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $sysroot"
cargo_test=(cargo test -p wsmask -p sipscan --target "$target")

start=$SECONDS
"${cargo_test[@]}" --no-run
built=$((SECONDS - start))
# The host's clippy step never sees the aarch64-only code (cfg(target_arch = "aarch64")).
start=$SECONDS
cargo clippy -p wsmask -p sipscan --all-targets --target "$target" -- -D warnings
linted=$((SECONDS - start))

start=$SECONDS
mkdir -p target
status=0
"${cargo_test[@]}" --no-fail-fast -- "$@" 2>&1 | tee "$log" || status=$?
ran=$((SECONDS - start))

grep -E '^test result:' "$log" |
  awk '{p+=$4; f+=$6} END {printf "aarch64 tests under qemu-user: %d passed, %d failed\n", p, f}'
fail=$((status != 0))
for crate in wsmask sipscan; do
  if grep -q "^$crate: .*ran the neon path" "$log"; then
    echo "ok   $crate ran its NEON path"
  else
    echo "FAIL $crate: no test reports running the NEON path"; fail=1
  fi
done
echo "aarch64 build ${built}s, clippy ${linted}s, qemu-user test run ${ran}s"
exit "$fail"
