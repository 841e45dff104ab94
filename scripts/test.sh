#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root) and runs every test: unit tests (no
# root), BPF_PROG_TEST_RUN and probe tests on this kernel (root), and the end-to-end integration
# suite (root: cgroups, network namespaces, veth, the real agent). Tests that need root or a
# missing kernel feature say so and skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build
ctest --output-on-failure --timeout 1500 "$@"
