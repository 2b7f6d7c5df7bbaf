#!/bin/sh
# The VM's first process after talos-vm-init: runs the sandbox suites on
# the cgroup v2 kernel in the three places an engine finds itself, writes
# each one's log and exit status to the results share, and powers off.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p"; }
repo=$(arg talos.repo)
swiftlib=$(arg talos.swiftlib)
controllers="+cpu +memory +pids +io"

poweroff_now() {
  sync
  echo o >/proc/sysrq-trigger
  sleep 30
}

mkdir -p /results
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 results /results || poweroff_now
mount -t cgroup2 cgroup2 /sys/fs/cgroup || { echo "no cgroup2" >/results/failure; poweroff_now; }
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mkdir -p "$swiftlib"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro swift "$swiftlib" || { echo "no swift share" >/results/failure; poweroff_now; }
hostname talos-vm
# Loopback stays down, as on a host whose network is not up yet: doctor
# must still answer.
uname -r >/results/kernel
cat /sys/fs/cgroup/cgroup.controllers >/results/controllers
echo "1" >/results/booted

tests="$repo/.build/debug/talosPackageTests.xctest"
export HOME=/root TALOS_TEST_EMULATED=1
run_suite() {
  # $1: placement name; the rest: the command prefix that places the process.
  name=$1
  shift
  start=$(cut -d' ' -f1 /proc/uptime)
  "$@" "$tests" --testing-library swift-testing --filter "$TALOS_VM_FILTER" >"/results/$name.log" 2>&1
  echo $? >"/results/$name.rc"
  end=$(cut -d' ' -f1 /proc/uptime)
  echo "$start $end" >"/results/$name.time"
}

# Root placement: the engine is the hierarchy's root, every case of the
# selection; then doctor, alone, with loopback down.
sandbox="ForgeSandboxTests/(hostile|boxCgroup|tmpfsWorkDirectory|partitionWorkDirectory|setupFailureReason)"
export TALOS_HOSTILE_CASES
TALOS_HOSTILE_CASES=$(arg talos.cases.root)
TALOS_VM_FILTER=$sandbox
run_suite root env
TALOS_VM_FILTER="DoctorTests/(wholeRun|cgroupV2Delegation)"
run_suite doctor env

# systemd-like: a service cgroup with the controllers delegated to it, the
# engine the only process in it.
TALOS_HOSTILE_CASES=$(arg talos.cases.placed)
TALOS_VM_FILTER="ForgeSandboxTests/(hostile|boxCgroup)"
echo "$controllers" >/sys/fs/cgroup/cgroup.subtree_control
mkdir -p /sys/fs/cgroup/system.slice/talos.service
echo "$controllers" >/sys/fs/cgroup/system.slice/cgroup.subtree_control
run_suite service sh -c 'echo $$ >/sys/fs/cgroup/system.slice/talos.service/cgroup.procs && exec "$@"' service

# container-like: a delegated subtree seen through its own cgroup
# namespace, with /sys/fs/cgroup remounted so it is the namespace's root.
mkdir -p /sys/fs/cgroup/machine.slice/box.scope
echo "$controllers" >/sys/fs/cgroup/machine.slice/cgroup.subtree_control
run_suite container sh -c 'echo $$ >/sys/fs/cgroup/machine.slice/box.scope/cgroup.procs && exec unshare --cgroup --mount sh -c "umount /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec \"\$@\"" container "$@"' container

echo "1" >/results/done
poweroff_now
