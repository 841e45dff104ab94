#!/usr/bin/env bash
# One fuzzing run: FUZZER CORPUS WORK SECONDS. Fuzzes for SECONDS from the committed CORPUS
# (read only) plus what earlier runs found in WORK; fails on a crash, a sanitizer report, an
# input taking over 10 s (-timeout) or more than 2 GiB (-rss_limit_mb). The failing input is
# kept as WORK/artifacts/*: add it to CORPUS (under a name saying what it is) once fixed, so the
# unit tests replay it on every build.
set -euo pipefail
fuzzer=$1 corpus=$2 work=$3 seconds=$4
mkdir -p "$work/found" "$work/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
set +e
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/found" "$corpus" 2>&1 |
  grep -av '^#[0-9]*.*\(NEW\|REDUCE\|pulse\)'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "fuzz: $(basename "$fuzzer") failed (exit $rc); the input: $(ls "$work/artifacts" | head -5)" >&2
fi
exit "$rc"
