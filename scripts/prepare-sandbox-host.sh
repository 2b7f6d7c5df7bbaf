#!/usr/bin/env bash
# Makes this host able to start crun boxes, changing only what crun needs.
#
# Hosts with cgroup v1 controllers plus a cgroup2 mount that holds a
# controller (here: hugetlb at /sys/fs/cgroup/unified) are refused by crun
# ("cgroups in hybrid mode not supported, drop all controllers from
# cgroupv2"). Mounting hugetlb as its own v1 hierarchy moves it off the
# cgroup2 mount. `talos doctor` explains the same thing.
set -euo pipefail

unified=/sys/fs/cgroup/unified
if [[ -f $unified/cgroup.controllers ]] && grep -qw hugetlb "$unified/cgroup.controllers"; then
  if ! mountpoint -q /sys/fs/cgroup/hugetlb 2>/dev/null; then
    if [[ $(id -u) -ne 0 ]]; then
      echo "the sandbox needs hugetlb moved to a v1 hierarchy; run as root:" >&2
      echo "  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb" >&2
      exit 1
    fi
    echo "moving the hugetlb cgroup controller to a v1 hierarchy, as crun requires on this host"
    mkdir -p /sys/fs/cgroup/hugetlb
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
  fi
fi
