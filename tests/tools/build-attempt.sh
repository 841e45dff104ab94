#!/bin/sh
# Builds the static attempt tool (one privileged action per run, see attempt.c) into OUT.
# One recipe for both suites: the integration tests run it on the host, the VM image carries it.
#   tests/tools/build-attempt.sh OUT
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUT" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
exec "${CC:-cc}" -static -O2 -Wall -o "$1" "$here/attempt.c"
