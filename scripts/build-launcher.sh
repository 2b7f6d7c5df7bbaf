#!/usr/bin/env bash
# Builds talos-launch, the first program of every sandbox box, beside the
# talos binaries of each build configuration given (default: debug).
#   scripts/build-launcher.sh [debug|release ...]
# Static: a box may hold no C library. Rebuilt only when its source changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source=launcher/talos-launch.c
cc=${CC:-gcc-12}
for configuration in "${@:-debug}"; do
  directory=.build/$configuration
  mkdir -p "$directory"
  target=$directory/talos-launch
  if [[ ! -x $target || $source -nt $target ]]; then
    "$cc" -static -O2 -s -Wall -Wextra -Werror -o "$target.tmp" "$source"
    chmod 755 "$target.tmp"
    mv -f "$target.tmp" "$target"
  fi
done
