#!/usr/bin/env bash
# The sanitizer and fuzzing checks (after scripts/setup.sh installed clang 19): configures
# build-sanitize/ with clang 19, ASan, UBSan and libFuzzer (cmake/Sanitizers.cmake), builds only
# the unit tests and the fuzz targets, then runs the unit tests under the sanitizers
# (ctest -L unit there) and each fuzz target for GUARDRAIL_FUZZ_SECONDS (ctest -L fuzz, default 60).
# The main build directory is not touched. Extra arguments go to both ctest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${GUARDRAIL_SANITIZE_DIR:-build-sanitize}
seconds=${GUARDRAIL_FUZZ_SECONDS:-60}
jobs=${GUARDRAIL_JOBS:-$(nproc)}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang-19 \
  -DCMAKE_CXX_COMPILER=clang++-19 -DGUARDRAIL_FUZZ=ON -DGUARDRAIL_FUZZ_SECONDS="$seconds" \
  ${GUARDRAIL_SANITIZE_CMAKE_ARGS:-} >/dev/null
cmake --build "$dir" -j"$jobs" --target unit_tests fuzz_targets
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rc=0
ctest --test-dir "$dir" -L unit --output-on-failure -j"$jobs" "$@" || rc=$?
# The fuzzers are single-threaded: two at a time on two cores.
ctest --test-dir "$dir" -L fuzz --output-on-failure -j"$jobs" "$@" || rc=$?
exit "$rc"
