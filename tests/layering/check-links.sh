#!/usr/bin/env bash
# The library graph's promise, checked on what the linker produced: a test executable that links
# only one subsystem's library must not load the shared libraries of the layers above it.
#   check-links.sh EXECUTABLE FORBIDDEN_REGEX
# Exit 1, naming what it found, when the executable needs a forbidden library.
set -euo pipefail
exe=$1 forbidden=$2
needed=$(objdump -p "$exe" | awk '$1 == "NEEDED" {print $2}')
if bad=$(grep -E "$forbidden" <<<"$needed"); then
  echo "$(basename "$exe") links $(tr '\n' ' ' <<<"$bad")- a layer it must not depend on" >&2
  exit 1
fi
echo "$(basename "$exe"): none of /$forbidden/ among: $(tr '\n' ' ' <<<"$needed")"
