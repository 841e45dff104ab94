#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root) and runs the agent on this host with
# the embedded default policy, profiles/default.yaml. Extra arguments go to `guardrail agent`.
# The startup log says what is enforced, with which backend, and where /metrics is served.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/guardrail probe
exec ./build/guardrail agent --policy profiles/default.yaml "$@"
