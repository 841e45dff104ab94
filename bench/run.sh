#!/usr/bin/env bash
# bench/run.sh: builds the load generators and BPF objects the suites need, then runs every
# benchmark suite (bench/run.py) and writes OUT/<date>.md plus PNG plots.
#
#   bench/run.sh [--smoke] [--guardrail-bin PATH] [--label NAME] [--out DIR] [--only SUITE,...]
#                [--reps N]
#
# Default binary: build/guardrail, else build-dev/guardrail. Default OUT: bench/results/<date>/
# (the markdown is also copied to bench/results/<date>.md). Needs root (cgroups, netns, BPF).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
bin="" out="" args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --guardrail-bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --smoke) args+=(--smoke); shift ;;
    --label|--only|--reps) args+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  for b in "$src/build/guardrail" "$src/build-dev/guardrail"; do
    [ -x "$b" ] && { bin=$b; break; }
  done
fi
[ -n "$bin" ] && [ -x "$bin" ] || { echo "run.sh: no guardrail binary (build it, or --guardrail-bin)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (cgroups, network namespaces, BPF)" >&2; exit 2; }

date=$(date -u +%F)
[ -n "$out" ] || out="$src/bench/results/$date"
# The tools are built apart from the results (nothing binary lands in bench/results/).
tools=$(mktemp -d /tmp/guardrail-bench-tools.XXXXXX)
trap 'rm -rf "$tools"' EXIT

# The tools: plain C11 load generators and the floor arm (empty programs + a libbpf loader).
cflags=(-O2 -Wall -Wextra -std=gnu11)
for t in netloop sysloop; do
  gcc "${cflags[@]}" -o "$tools/$t" "$src/bench/tools/$t.c"
done
clang=$(command -v clang || command -v clang-19 || command -v clang-16)
"$clang" -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -Wno-unused-parameter \
  -I"$src/vmlinux" $(pkg-config --cflags libbpf) \
  -c "$src/bench/bpf/empty_floor.bpf.c" -o "$tools/empty_floor.bpf.o"
# shellcheck disable=SC2046
gcc "${cflags[@]}" -o "$tools/floor_loader" "$src/bench/tools/floor_loader.c" $(pkg-config --cflags --libs libbpf)
# Anything the other suites add: bench/tools/<name>.c builds to <name> (one file each, -lbpf
# when it includes libbpf).
for c in "$src"/bench/tools/*.c; do
  name=$(basename "$c" .c)
  [ -x "$tools/$name" ] && continue
  if grep -q '<bpf/' "$c"; then
    gcc "${cflags[@]}" -o "$tools/$name" "$c" $(pkg-config --cflags --libs libbpf) -lpthread
  else
    gcc "${cflags[@]}" -o "$tools/$name" "$c" -lpthread
  fi
done
for b in "$src"/bench/bpf/*.bpf.c; do
  name=$(basename "$b" .c)
  [ -f "$tools/$name.o" ] && continue
  "$clang" -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Wno-unused-parameter \
    -I"$src/vmlinux" -I"$src/bpf" $(pkg-config --cflags libbpf) -c "$b" -o "$tools/$name.o"
done

# Mounts the suites rely on (idempotent).
grep -qs ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf
grep -qs ' /sys/kernel/tracing tracefs ' /proc/mounts || mount -t tracefs tracefs /sys/kernel/tracing || true

outarg=()
[ -n "$out" ] && [ "$out" != "$src/bench/results/$date" ] && outarg=(--out "$out")
# Debian's python3 (python3-matplotlib, python3-yaml), not whatever python3 is first in PATH.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
rc=0
"$py" "$src/bench/run.py" --guardrail-bin "$bin" --tools "$tools" "${outarg[@]}" "${args[@]}" || rc=$?
exit $rc
