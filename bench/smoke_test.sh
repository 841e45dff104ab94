#!/usr/bin/env bash
# CTest bench_smoke: bench/run.sh --smoke into OUT, then smoke_check.py. Skips (77) unless root.
# Usage: smoke_test.sh GUARDRAIL_BIN OUT
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: bench_smoke needs root (cgroups, network namespaces, BPF programs)" >&2
  exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$2"
rc=0
"$here/run.sh" --smoke --guardrail-bin "$1" --out "$2" --label ctest-smoke || rc=$?
/usr/bin/python3 "$here/smoke_check.py" "$2"
exit $rc
