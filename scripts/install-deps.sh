#!/usr/bin/env bash
# Installs the Debian packages Talos needs that are not installed yet.
#   install-deps.sh run    build and serve
#   install-deps.sh test   also PostgreSQL server and the benchmark tools
set -euo pipefail

profile=${1:-run}
# Build and serve, plus the sandbox: crun, a static init, and the toolchains
# of the runtimes catalog (Sources/Forge/runtimes.json).
packages=(pkg-config libargon2-dev libsqlite3-dev libssl-dev crun uidmap tini
  python3 nodejs golang-1.19-go rustc gcc-12 g++-12 libc6-dev libstdc++-12-dev binutils-x86-64-linux-gnu)
if [[ $profile == test ]]; then
  # python3-jwt and python3-argon2 check that other libraries accept our
  # tokens and password hashes.
  # python3-venv holds the official judge0 SDK (from PyPI), which the
  # compatibility tests drive unmodified against Talos.
  # qemu, debootstrap and e2fsprogs boot the cgroup v2 VM (make test-cgroup2)
  # and build the partitioned disk the sandbox tests put a work directory on.
  packages+=(postgresql postgresql-contrib wrk curl python3-jwt python3-cryptography python3-argon2 python3-venv
    qemu-system-x86 debootstrap e2fsprogs)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}"
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ $profile == test ]]; then
  venv="$(cd "$(dirname "$0")/.." && pwd)/.build/judge0-sdk"
  if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import judge0' 2>/dev/null; then
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'judge0==0.0.8'
  fi
  # schemathesis generates requests from Talos's OpenAPI document.
  fuzz="$(cd "$(dirname "$0")/.." && pwd)/.build/schemathesis"
  if [[ ! -x $fuzz/bin/schemathesis ]]; then
    /usr/bin/python3 -m venv "$fuzz"
    "$fuzz/bin/pip" install -q --disable-pip-version-check 'schemathesis==4.32.5'
  fi
fi
