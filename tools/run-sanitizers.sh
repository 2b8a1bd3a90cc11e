#!/usr/bin/env bash
# Sanitizer builds and the tests that run under them (issue 15; docs/testing.md "Sanitizers").
#
#   tools/run-sanitizers.sh            # asan, then tsan
#   tools/run-sanitizers.sh asan       # ASan + UBSan: every torch-free target, all its unit tests,
#                                      # and the integration tests that drive the binary
#   tools/run-sanitizers.sh tsan       # TSan: the transfer engine, the cold-start loader, the
#                                      # server and the thread helpers, unit + integration tests
#
# Both are torch-free builds (LibTorch is not instrumented); the engine is the fake engine library,
# built with the same sanitizer. Every sanitizer report is written to a file under
# $BUILD/sanitizer-logs/ (log_path), from test binaries and from every sdxl-tigris process the
# integration tests start, including servers stopped by signal. A report fails the run even where
# the test that triggered it passed (a test that expects exit 1 would not notice ASan's exit 1).
#
# Env: BUILD_ASAN (default build-asan), BUILD_TSAN (default build-tsan), SAN_JOBS (ninja/ctest -j,
#      default nproc), SAN_PYTEST_ARGS (extra pytest args, e.g. -x).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${SAN_JOBS:-$(nproc)}"
export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1
MODES=("$@")
[ ${#MODES[@]} -eq 0 ] && MODES=(asan tsan)

# -O1 keeps the build fast and the stacks readable; the sanitizers' own checks do the work. -g1
# (line tables only) is enough for file:line in reports and compiles 20-45 % faster than -g.
configure() {  # build-dir sanitizers
  cmake -S "$ROOT" -B "$1" -G Ninja -DSDXL_WITH_TORCH=OFF -DSDXL_SANITIZE="$2" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" ${CMAKE_FLAGS:-} >/dev/null
}

# Fails (and prints them) when any report was written.
check_logs() {  # log-dir label
  local reports
  reports=$(find "$1" -type f -size +0 | sort)
  if [ -n "$reports" ]; then
    echo "run-sanitizers: $2 wrote $(echo "$reports" | wc -l) report(s):" >&2
    for f in $reports; do
      echo "==== $f" >&2
      head -60 "$f" >&2
    done
    return 1
  fi
  echo "run-sanitizers: $2: no reports"
}

run_pytest() {  # build-dir junit-name tests...
  local build="$1" junit="$2"
  shift 2
  # shellcheck disable=SC2086
  SDXL_BUILD_DIR="$build" python3 -m pytest -q -rs -p no:cacheprovider \
    --junitxml="$build/$junit" ${SAN_PYTEST_ARGS:-} "$@"
}

run_asan() {
  local build="${BUILD_ASAN:-$ROOT/build-asan}"
  local logs="$build/sanitizer-logs"
  configure "$build" address,undefined
  echo "== asan: building every torch-free target"
  ninja -C "$build" -j "$JOBS"
  rm -rf "$logs" && mkdir -p "$logs"
  local supp="$ROOT/tools/sanitizers"
  export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:detect_invalid_pointer_pairs=1"
  export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  local status=0
  echo "== asan: unit tests"
  ctest --test-dir "$build" --output-on-failure -j "$JOBS" \
    --output-junit "$build/ctest-junit.xml" || status=1
  echo "== asan: integration tests that drive the binary"
  # Everything under tests/ that runs sdxl-tigris without LibTorch; the parity tests need the real
  # engine and the deploy tests build containers (both run in the normal build of `make test`).
  # Left to the normal build (`make test`), to keep CI within its time: the interop suite (the
  # same client paths as tests/storage, against moto) and the SIGKILL tests (a killed process
  # reports nothing; their reruns are the cp/pull/prepare runs tested here anyway).
  # Deselected: the RSS-growth check (ASan's quarantine holds freed memory by design; LeakSanitizer
  # checks leaks instead) and the loader tests that need the real engine.
  run_pytest "$build" pytest-junit.xml tests/storage tests/cli tests/prepare tests/loader \
    tests/weights tests/serve/test_serve_api.py \
    --ignore tests/storage/test_kill_points.py \
    --deselect tests/serve/test_serve_api.py::test_sequential_predictions_do_not_leak \
    --deselect tests/loader/test_pull.py::test_pull_load_streams_into_the_engine_through_resets \
    --deselect tests/loader/test_pull.py::test_a_full_disk_still_loads_without_the_cache \
    --deselect tests/loader/test_pull.py::test_variant_of_uncached_weights_counts_the_bucket_files \
    --deselect tests/loader/test_pull.py::test_sigkill_pull_at_random_points \
    --deselect tests/prepare/test_prepare_model.py::test_sigkill_at_random_points_then_rerun \
    || status=1
  check_logs "$logs" "ASan/UBSan/LSan" || status=1
  unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
  return $status
}

run_tsan() {
  local build="${BUILD_TSAN:-$ROOT/build-tsan}"
  local logs="$build/sanitizer-logs"
  configure "$build" thread
  echo "== tsan: building the concurrent parts, their tests and the binary"
  local dirs=(core http storage loader serve)
  ninja -C "$build" -j "$JOBS" core_test http_test http_tls_test storage_test loader_test \
    serve_test sdxl_fake_engine_ok sdxl-tigris
  rm -rf "$logs" && mkdir -p "$logs"
  export TSAN_OPTIONS="log_path=$logs/tsan:halt_on_error=0:second_deadlock_stack=1:suppressions=$ROOT/tools/sanitizers/tsan.supp"
  local status=0
  echo "== tsan: unit tests of ${dirs[*]} (thread helpers, HTTP, transfer engine, loader, server)"
  for d in "${dirs[@]}"; do
    ctest --test-dir "$build/src/$d" --output-on-failure -j "$JOBS" \
      --output-junit "$build/ctest-junit-$d.xml" || status=1
  done
  echo "== tsan: integration tests of the server, the streaming loader and parallel transfers"
  export SDXL_KILL_POINTS=1
  run_pytest "$build" pytest-junit.xml tests/serve/test_serve_api.py \
    tests/loader tests/storage/test_cp_roundtrip.py \
    --deselect tests/serve/test_serve_api.py::test_sequential_predictions_do_not_leak \
    --deselect tests/loader/test_pull.py::test_pull_load_streams_into_the_engine_through_resets \
    --deselect tests/loader/test_pull.py::test_a_full_disk_still_loads_without_the_cache \
    --deselect tests/loader/test_pull.py::test_variant_of_uncached_weights_counts_the_bucket_files \
    || status=1
  unset SDXL_KILL_POINTS
  check_logs "$logs" "TSan" || status=1
  unset TSAN_OPTIONS
  return $status
}

status=0
for mode in "${MODES[@]}"; do
  case "$mode" in
    asan) run_asan || status=1 ;;
    tsan) run_tsan || status=1 ;;
    *) echo "run-sanitizers: unknown mode '$mode' (asan, tsan)" >&2; exit 2 ;;
  esac
done
exit $status
