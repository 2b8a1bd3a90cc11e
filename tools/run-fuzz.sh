#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each one briefly.
#
#   tools/run-fuzz.sh                 # every target, 30 s each
#   FUZZ_SECONDS=300 tools/run-fuzz.sh safetensors_header_fuzz
#
# Targets (fuzz/*_fuzz.cc; docs/testing.md "Fuzzing"): safetensors_header, manifest, s3_xml,
# hub_json, http_headers, url, cog_request, prompt, clip_tokenizer. A target's dictionary, if
# any, is fuzz/<name>.dict.
#
# Env: FUZZ_SECONDS (per target, default 30), BUILD_FUZZ (build dir, default build-fuzz),
#      FUZZ_JOBS (ninja -j, default 2). Seeds come from fuzz/corpus/<name>/ (copied, never
#      modified); new interesting inputs go to $BUILD_FUZZ/fuzz/corpus-<name>/ and crashes to
#      $BUILD_FUZZ/fuzz/artifacts/. Exits non-zero when a target crashes or fails to build.
# Needs: clang and libclang-rt-14-dev (deps/apt.txt).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD_FUZZ:-$ROOT/build-fuzz}"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-30}"
JOBS="${FUZZ_JOBS:-2}"
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(safetensors_header_fuzz manifest_fuzz s3_xml_fuzz hub_json_fuzz http_headers_fuzz
           url_fuzz cog_request_fuzz prompt_fuzz clip_tokenizer_fuzz)
fi

if ! command -v clang++ >/dev/null; then
  echo "run-fuzz: clang++ not found; install it: apt-get install clang libclang-rt-14-dev" >&2
  exit 1
fi

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DSDXL_WITH_TORCH=OFF -DSDXL_BUILD_TESTS=OFF -DSDXL_BUILD_FUZZ=ON >/dev/null
ninja -C "$BUILD" -j "$JOBS" "${TARGETS[@]}"

status=0
for target in "${TARGETS[@]}"; do
  name="${target%_fuzz}"
  seeds="$ROOT/fuzz/corpus/$name"
  corpus="$BUILD/fuzz/corpus-$name"
  artifacts="$BUILD/fuzz/artifacts/"
  mkdir -p "$corpus" "$artifacts"
  dict_args=()
  case "$name" in
    safetensors_header) dict_args=(-dict="$ROOT/fuzz/safetensors.dict") ;;
    *) if [ -f "$ROOT/fuzz/$name.dict" ]; then dict_args=(-dict="$ROOT/fuzz/$name.dict"); fi ;;
  esac
  echo "== $target: ${SECONDS_PER_TARGET}s (seeds: $seeds)"
  if ! "$BUILD/fuzz/$target" "$corpus" "$seeds" "${dict_args[@]}" \
      -max_total_time="$SECONDS_PER_TARGET" -max_len=8192 -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="$artifacts" -print_final_stats=1 2>"$BUILD/fuzz/$target.log"; then
    echo "run-fuzz: $target FAILED; see $BUILD/fuzz/$target.log and $artifacts" >&2
    tail -40 "$BUILD/fuzz/$target.log" >&2
    status=1
  else
    grep -m1 -E "stat::peak_rss_mb" "$BUILD/fuzz/$target.log" || true
    grep -E "^Done [0-9]+ runs" "$BUILD/fuzz/$target.log" || true
  fi
done
exit $status
