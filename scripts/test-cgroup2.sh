#!/usr/bin/env bash
# `make test-cgroup2`: the sandbox suites on a real cgroup v2 kernel.
#
# This host's kernel mounts cgroup v1 and its mounts must not change, so a
# small Debian VM (qemu, software emulation) boots with
# `systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all`, sees the built test
# binary, the Swift runtime and this repository over 9p, and runs the
# engine's suites three times: with the engine at the hierarchy's root, in a
# systemd-like service cgroup, and in a container-like delegated subtree
# with its own cgroup namespace. Emulation is ~45x slower than the host, so
# the root placement runs every Python and JavaScript case (every limit,
# verdict and escape probe) and one Go program, the other two a set that
# covers each limit once.
#
# The VM image is built once (scripts/cgroup2-vm/build-image.sh, ~2.5 min)
# and cached outside the clone under $TALOS_VM_CACHE, keyed by the build
# script's digest; boots use snapshot=on and never change it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
cache=${TALOS_VM_CACHE:-/var/cache/talos-vm}
key=$(sha256sum scripts/cgroup2-vm/build-image.sh | cut -c1-16)
image=$cache/$key
if [[ ! -f $image/rootfs.img ]]; then
  mkdir -p "$cache"
  # Only older images of this script, never anything else in the cache.
  find "$cache" -mindepth 1 -maxdepth 1 -name '[0-9a-f]*' -regextype posix-extended -regex '.*/[0-9a-f]{16}' \
    ! -name "$key" -exec rm -rf {} +
  echo "building the cgroup v2 VM image into $image"
  scripts/cgroup2-vm/build-image.sh "$image"
fi
tests=.build/debug/talosPackageTests.xctest
[[ -x $tests ]] || swift build --build-tests
scripts/build-launcher.sh debug
swiftlib=$(cd "$(dirname "$(readlink -f "$(command -v swiftc)")")/../lib/swift/linux" && pwd)
kernel=$image/vmlinux
[[ -f $kernel ]] || kernel=$image/vmlinuz

results=$(mktemp -d /tmp/talos-cgroup2-XXXXXX)
[[ -n ${TALOS_VM_KEEP:-} ]] || trap 'rm -rf "$results"' EXIT
# Private: qemu (this user) writes the console there, the guest its results.
chmod 700 "$results"

root_cases=${TALOS_VM_ROOT_CASES:-python,javascript,hello_go}
placed_cases=${TALOS_VM_PLACED_CASES:-hello_python,memory_bomb_fast_python,fork_bomb_python,cpu_spin_python,sleep_past_wall_python,stdout_flood_python,disk_fill_tmp_python,write_outside_python,daemon_escape_python,memory_bomb_heap_javascript}
append="root=/dev/vda rw console=ttyS0 quiet panic=-1 init=/sbin/talos-vm-init"
append+=" systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all"
append+=" talos.repo=$repo talos.swiftlib=$swiftlib talos.cases.root=$root_cases talos.cases.placed=$placed_cases"

echo "booting the cgroup v2 VM ($(basename "$kernel")), results in $results"
status=0
timeout "${TALOS_VM_TIMEOUT:-1800}" qemu-system-x86_64 \
  -machine q35,accel=tcg -cpu max,avx=off,avx2=off,erms=off,fsrm=off -smp 2 -m 6G \
  -nodefaults -no-user-config -display none -no-reboot \
  -serial "file:$results/console.log" \
  -kernel "$kernel" -initrd "$image/initrd.img" -append "$append" \
  -drive "file=$image/rootfs.img,if=virtio,format=raw,snapshot=on" \
  -virtfs "local,path=$repo,mount_tag=repo,security_model=none,readonly=on" \
  -virtfs "local,path=$swiftlib,mount_tag=swift,security_model=none,readonly=on" \
  -virtfs "local,path=$results,mount_tag=results,security_model=none" || status=$?

if [[ ! -f $results/booted ]]; then
  echo "the VM did not boot (qemu status $status); console:" >&2
  tail -n 60 "$results/console.log" >&2 || true
  exit 1
fi
echo "kernel $(cat "$results/kernel"), cgroup2 controllers: $(cat "$results/controllers")"
failed=0
for placement in root doctor service container; do
  log=$results/$placement.log
  rc=$(cat "$results/$placement.rc" 2>/dev/null || echo missing)
  read -r start end <"$results/$placement.time" 2>/dev/null || { start=0; end=0; }
  [[ $start =~ ^[0-9]+(\.[0-9]+)?$ && $end =~ ^[0-9]+(\.[0-9]+)?$ ]] || { start=0; end=0; }
  seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%d", b - a }')
  summary=$(grep -E "Test run with|tests? in .* (passed|failed)" "$log" 2>/dev/null | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g')
  echo "placement $placement: exit $rc in ${seconds}s (emulated): $summary"
  if [[ $rc != 0 ]]; then
    failed=1
    sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -A 2 -E "recorded an issue" | cut -c1-400 | head -n 120 >&2 || tail -n 80 "$log" >&2
  fi
done
[[ -f $results/done ]] || { echo "the VM stopped before the last placement (qemu status $status)" >&2; failed=1; }
exit $failed
