#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/targets (each with the parser sources
# it exercises, instrumented by -sanitize=fuzzer,address) and runs each for
# SECONDS (default 15) from its corpus in fuzz/corpus. A crash fails the run
# and leaves the input in .build/fuzz/crashes/TARGET: add it to the corpus as
# a regression input once fixed.
#   fuzz-parsers.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
out=.build/fuzz
mkdir -p "$out"
declare -A sources=(
  [numbers]="Sources/TalosCore/Support/UntrustedNumber.swift"
  [request-id]="Sources/TalosCore/Support/RequestID.swift Sources/TalosCore/Support/Hex.swift"
  [client-address]="Sources/TalosServer/HTTP/ClientAddress.swift Sources/TalosCore/Support/UntrustedNumber.swift"
  [phc]="Sources/Citadel/Passwords/Argon2Parameters.swift"
)
status=0
for target in numbers request-id client-address phc; do
  # One module per target; the sources' `import TalosCore` names that module.
  # shellcheck disable=SC2086
  swiftc -sanitize=fuzzer,address -parse-as-library -module-name TalosCore -suppress-warnings \
    fuzz/targets/$target.swift ${sources[$target]} -o "$out/$target" 2> "$out/$target.build.log" || {
      cat "$out/$target.build.log" >&2; exit 1; }
  mkdir -p "$out/corpus/$target" "$out/crashes/$target"
  cp -n fuzz/corpus/$target/* "$out/corpus/$target/" 2>/dev/null || true
  if "$out/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$out/crashes/$target/" "$out/corpus/$target" fuzz/corpus/$target > "$out/$target.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$target.log" | grep -o '[0-9]*$' || echo 0)
    echo "fuzz $target: ${runs} runs in ${seconds} s, corpus $(ls "$out/corpus/$target" | wc -l) inputs, no crash"
  else
    echo "fuzz $target: CRASH, input in $out/crashes/$target" >&2
    tail -n 40 "$out/$target.log" >&2
    status=1
  fi
done
exit $status
