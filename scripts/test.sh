#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root) and runs every test: unit tests (no
# root), BPF_PROG_TEST_RUN and probe tests on this kernel (root), and the end-to-end integration
# suite (root: cgroups, network namespaces, veth, the real agent). Tests that need root or a
# missing kernel feature say so and skip. Then the sanitizer and fuzzing checks (scripts/sanitize.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
rc=0
(cd build && ctest --output-on-failure --timeout 1500 "$@") || rc=$?
# The unit tests under ASan and UBSan, and a short run of each fuzz target (build-sanitize/);
# GUARDRAIL_SANITIZE=0 skips them.
if [ "${GUARDRAIL_SANITIZE:-1}" != 0 ]; then
  bash scripts/sanitize.sh || rc=$?
fi
exit "$rc"
