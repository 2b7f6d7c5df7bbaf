#!/usr/bin/env bash
# Builds the small Debian VM that runs the sandbox suites on a cgroup v2
# kernel: a debootstrap root filesystem (crun, tini, the runtimes, the
# libraries the test binary needs) as an ext4 image, the Debian kernel
# (uncompressed when possible, for a fast PVH boot) and its initrd.
#
# Usage: build-image.sh OUT_DIR. The image never changes after it is built
# (the VM boots it with snapshot=on), so callers cache OUT_DIR keyed by this
# file's digest.
set -euo pipefail
out=${1:?usage: build-image.sh OUT_DIR}
mirror=${TALOS_VM_MIRROR:-http://deb.debian.org/debian}
staging=$out.staging
rm -rf "$staging"
mkdir -p "$staging"
trap 'rm -rf "$staging"' EXIT

packages=linux-image-amd64,initramfs-tools,kmod,udev,procps,util-linux,crun,tini,python3,nodejs,golang-go,libargon2-1,libcurl4,libxml2,libsqlite3-0,zlib1g,ca-certificates
debootstrap --variant=minbase --include="$packages" bookworm "$staging/rootfs" "$mirror" >"$staging/debootstrap.log" 2>&1 || {
  tail -n 40 "$staging/debootstrap.log" >&2
  exit 1
}

# The first process: mounts the repository share and hands over to the
# guest script there, so changing the suites never needs a new image.
cat >"$staging/rootfs/sbin/talos-vm-init" <<'INIT'
#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
modprobe 9pnet_virtio 2>/dev/null
modprobe 9p 2>/dev/null
repo=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^talos.repo=//p')
mkdir -p "$repo"
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro repo "$repo"; then
  echo "talos-vm: cannot mount the repository share" >&2
  echo o >/proc/sysrq-trigger
fi
exec /bin/sh "$repo/scripts/cgroup2-vm/guest.sh"
INIT
chmod 755 "$staging/rootfs/sbin/talos-vm-init"
echo talos-vm >"$staging/rootfs/etc/hostname"

kernel=$(ls "$staging"/rootfs/boot/vmlinuz-* | sort -V | tail -n 1)
initrd=$(ls "$staging"/rootfs/boot/initrd.img-* | sort -V | tail -n 1)
cp "$kernel" "$staging/vmlinuz"
cp "$initrd" "$staging/initrd.img"
# PVH boots an ELF kernel directly and skips the decompressor (~5 s under
# emulation). The compressed payload is found by its magic number.
python3 - "$staging/vmlinuz" "$staging/vmlinux" <<'PY' || echo "booting the compressed kernel" >&2
import lzma, subprocess, sys
data = open(sys.argv[1], "rb").read()
for magic, kind in ((b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x1f\x8b\x08", "gzip")):
    start = data.find(magic)
    while start != -1:
        try:
            if kind == "xz":
                out = lzma.LZMADecompressor().decompress(data[start:])
            elif kind == "gzip":
                import zlib
                out = zlib.decompressobj(31).decompress(data[start:])
            else:
                out = subprocess.run(["zstd", "-dc"], input=data[start:], capture_output=True).stdout
        except Exception:
            out = b""
        if out.startswith(b"\x7fELF"):
            open(sys.argv[2], "wb").write(out)
            sys.exit(0)
        start = data.find(magic, start + 1)
sys.exit(1)
PY
rm -rf "$staging"/rootfs/boot/* "$staging"/rootfs/var/cache/apt/archives/*.deb
mkfs.ext4 -q -F -L talos-vm -d "$staging/rootfs" "$staging/rootfs.img" 3G
rm -rf "$staging/rootfs" "$staging/debootstrap.log"
rm -rf "$out"
mv "$staging" "$out"
trap - EXIT
echo "VM image ready in $out"
