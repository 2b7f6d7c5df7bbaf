#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/targets and runs each for SECONDS
# (default 15) from its corpus in fuzz/corpus. A target is built from the
# parser sources it exercises, module by module (each a static library
# instrumented by -sanitize=fuzzer,address), so no instrumented build of the
# whole package is needed. A crash fails the run and leaves the input in
# .build/fuzz/crashes/TARGET: add it to the corpus as a regression input once
# fixed.
#   fuzz-parsers.sh [SECONDS] [TARGET...]   (FUZZ_OUT: another output directory)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
shift || true
out=${FUZZ_OUT:-.build/fuzz}
mkdir -p "$out"

core=$(find Sources/TalosCore -name '*.swift' | sort | tr '\n' ' ')
forge_catalog="Sources/Forge/RuntimeCatalog.swift Sources/Forge/Verdict.swift Sources/Forge/SandboxLimits.swift fuzz/shims/ResourceBundle.swift"
# Each target: the modules it needs, in dependency order, as MODULE=FILES
# separated by ';'. The target's own file imports them.
declare -A modules=(
  [numbers]="TalosCore=$core"
  [request-id]="TalosCore=$core"
  [client-address]="TalosCore=$core;TalosServer=Sources/TalosServer/HTTP/ClientAddress.swift"
  [phc]="Citadel=Sources/Citadel/Passwords/Argon2Parameters.swift"
  [elf]="Forge=Sources/Forge/Libraries/ELFDependencies.swift"
  [linker-script]="Forge=Sources/Forge/Libraries/LinkerScript.swift"
  [runtime-catalog]="Forge=$forge_catalog"
  [jwt]="TalosCore=$core;Citadel=Sources/Citadel/Tokens/UnverifiedAccessToken.swift"
  [one-time-codes]="Citadel=Sources/Citadel/MFA/SecondFactorCode.swift Sources/Citadel/Support/ConstantTime.swift"
  [judge0]="TalosCore=$core;Forge=$forge_catalog Sources/Forge/Jobs/ExecutionSpec.swift Sources/Forge/StageResult.swift;TalosServer=Sources/TalosServer/Forge/OrderedJSON.swift Sources/TalosServer/Forge/Judge0Submission.swift fuzz/shims/FuzzCatalog.swift"
  [request-bodies]="TalosCore=$core;Forge=$forge_catalog Sources/Forge/Jobs/ExecutionSpec.swift Sources/Forge/StageResult.swift;TalosServer=Sources/TalosServer/Controllers/IdentityRequests.swift Sources/TalosServer/Forge/ExecutionSubmitRequest.swift Sources/TalosServer/HTTP/DecodingProblem.swift"
  [piston]="TalosCore=$core;Forge=$forge_catalog Sources/Forge/Jobs/ExecutionSpec.swift Sources/Forge/StageResult.swift;TalosServer=Sources/TalosServer/Forge/OrderedJSON.swift Sources/TalosServer/Forge/PistonRequest.swift fuzz/shims/FuzzCatalog.swift"
)
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(numbers request-id client-address phc elf linker-script runtime-catalog jwt one-time-codes judge0 piston request-bodies)

flags=(-sanitize=fuzzer,address -enable-testing -parse-as-library -swift-version 6 -suppress-warnings
  -enable-upcoming-feature ExistentialAny -enable-upcoming-feature MemberImportVisibility
  -enable-upcoming-feature InternalImportsByDefault)

# Seeds generated here rather than committed as binaries.
mkdir -p "$out/seeds/elf"
python3 fuzz/make-elf-seed.py "$out/seeds/elf/minimal"

status=0
for target in "${targets[@]}"; do
  [[ -n ${modules[$target]:-} ]] || { echo "unknown fuzz target $target" >&2; exit 2; }
  build="$out/build/$target"
  rm -rf "$build" && mkdir -p "$build/modules" "$build/lib"
  libraries=()
  IFS=';' read -r -a groups <<< "${modules[$target]}"
  for group in "${groups[@]}"; do
    module=${group%%=*}
    # shellcheck disable=SC2086
    swiftc "${flags[@]}" -module-name "$module" -I "$build/modules" -emit-module -emit-module-path "$build/modules/$module.swiftmodule" \
      -emit-library -static -o "$build/lib/lib$module.a" ${group#*=} 2>> "$build/build.log" || {
        cat "$build/build.log" >&2; exit 1; }
    libraries=("-l$module" "${libraries[@]}")
  done
  # Static libraries carry no link entries for what they import: name them.
  swiftc "${flags[@]}" -module-name "Fuzz${target//-/}" -I "$build/modules" -L "$build/lib" "${libraries[@]}" \
    -lFoundation -lFoundationEssentials -lFoundationInternationalization -lswiftSynchronization \
    "fuzz/targets/$target.swift" -o "$out/$target" 2>> "$build/build.log" || { cat "$build/build.log" >&2; exit 1; }
  mkdir -p "$out/corpus/$target" "$out/crashes/$target" "fuzz/corpus/$target"
  seeds=("fuzz/corpus/$target")
  [[ -d $out/seeds/$target ]] && seeds+=("$out/seeds/$target")
  if "$out/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$out/crashes/$target/" "$out/corpus/$target" "${seeds[@]}" > "$out/$target.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$target.log" | grep -o '[0-9]*$' || echo 0)
    echo "fuzz $target: ${runs} runs in ${seconds} s ($((runs / seconds))/s), corpus $(ls "$out/corpus/$target" | wc -l) inputs, no crash"
  else
    echo "fuzz $target: CRASH, input in $out/crashes/$target" >&2
    tail -n 40 "$out/$target.log" >&2
    status=1
  fi
done
exit $status
