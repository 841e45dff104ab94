#!/usr/bin/env bash
# Boots Debian kernels under QEMU (TCG, never KVM) with a busybox initramfs holding the agent,
# runs tests/vm/run-tests.sh inside, and reports per kernel.
#
#   run-vm-tests.sh [--guardrail PATH] [KERNEL...]
#
# KERNEL: a series (6.1, 6.12; default: both), or a kernel version already unpacked in the cache.
#
# Environment:
#   GUARDRAIL_BIN               agent binary (default <repo>/build/guardrail; --guardrail wins)
#   GUARDRAIL_VM_CACHE          kernel cache (default /var/cache/guardrail-vm, see fetch-kernels.sh)
#   GUARDRAIL_VM_LOGDIR         console logs and initramfs images (default /tmp/guardrail-vm)
#   GUARDRAIL_VM_TIMEOUT        hard limit per boot, seconds (default 300)
#   GUARDRAIL_VM_BOOT_TIMEOUT   the runner must start within this many seconds (default 120)
#   GUARDRAIL_VM_MODULES        kernel modules to load at boot (see build-initramfs.sh)
#   GUARDRAIL_VM_APPEND        extra kernel command-line arguments (debugging)
#   GUARDRAIL_VM_NO_FETCH=1     do not call fetch-kernels.sh (offline; the cache must be filled)
#
# A boot whose console never shows the BEGIN marker (early panic, hang) is retried once; a run
# that started is never retried: a missing RESULT marker or rc != 0 fails that kernel.
# The guest has no network device (-nic none): nothing it does can leave this machine.
# Exit status: 0 when every kernel passed, 1 otherwise, 2 for usage/setup errors, 77 (skipped)
# when not root or when qemu-system-x86_64 is missing.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
guardrail=${GUARDRAIL_BIN:-$repo/build/guardrail}
kernels=()
while [ $# -gt 0 ]; do
  case "$1" in
    --guardrail) guardrail=$2; shift 2 ;;
    --guardrail=*) guardrail=${1#*=}; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) kernels+=("$1"); shift ;;
  esac
done
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)

CACHE=${GUARDRAIL_VM_CACHE:-/var/cache/guardrail-vm}
LOGDIR=${GUARDRAIL_VM_LOGDIR:-/tmp/guardrail-vm}
TIMEOUT=${GUARDRAIL_VM_TIMEOUT:-300}
BOOT_TIMEOUT=${GUARDRAIL_VM_BOOT_TIMEOUT:-120}
export GUARDRAIL_VM_CACHE=$CACHE

BEGIN_RE='=== GUARDRAIL-VM-BEGIN ==='
RESULT_RE='=== GUARDRAIL-VM-RESULT rc=([0-9]+) ==='

die() { echo "run-vm-tests: $*" >&2; exit 2; }
skip() {
  echo "run-vm-tests: ********************************************************************" >&2
  echo "run-vm-tests: SKIPPED: $*" >&2
  echo "run-vm-tests: the BPF-LSM guards were NOT tested (scripts/setup.sh installs what is needed)" >&2
  echo "run-vm-tests: ********************************************************************" >&2
  exit 77
}
[ "$(id -u)" -eq 0 ] || skip "not root (fetching kernels into $CACHE and building the initramfs need root)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
[ -x "$guardrail" ] || die "agent binary not found: $guardrail"
guardrail=$(readlink -f "$guardrail")
mkdir -p "$LOGDIR" || die "cannot create $LOGDIR"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
t_start=$(now)

# Kernels: fetch the series asked for (idempotent; offline falls back to the cache).
series=()
for k in "${kernels[@]}"; do
  case "$k" in 6.1|6.12) series+=("$k") ;; esac
done
if [ ${#series[@]} -gt 0 ] && [ "${GUARDRAIL_VM_NO_FETCH:-0}" != 1 ]; then
  "$here/fetch-kernels.sh" "${series[@]}" || die "fetch-kernels.sh failed"
fi

# The attempt tool, once for every image.
attempt="$LOGDIR/attempt"
"$repo/tests/tools/build-attempt.sh" "$attempt" || die "cannot build tests/tools/attempt.c (cc -static)"
export GUARDRAIL_VM_ATTEMPT=$attempt GUARDRAIL_BIN=$guardrail

# boot KERNEL_IMAGE INITRD LOG: prints "noboot", "timeout" or "ran <seconds-to-BEGIN>".
boot() {
  local vmlinuz=$1 initrd=$2 log=$3 t0 t_begin="" pid waited=0
  : >"$log"
  t0=$(now)
  timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -m 512 -nographic \
    -no-reboot -nic none -kernel "$vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 quiet panic=-1${GUARDRAIL_VM_APPEND:+ $GUARDRAIL_VM_APPEND}" </dev/null >"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$LOGDIR/.qemu.pid"
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$t_begin" ]; then
      if grep -q "$BEGIN_RE" "$log"; then
        t_begin=$(elapsed "$t0" "$(now)")
      elif [ "$(elapsed "$t0" "$(now)" | cut -d. -f1)" -ge "$BOOT_TIMEOUT" ]; then
        echo "run-vm-tests: no BEGIN marker after ${BOOT_TIMEOUT}s: stopping this boot" >>"$log"
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        echo noboot
        return
      fi
    fi
    sleep 0.2
  done
  wait "$pid"
  local qrc=$?
  [ -n "$t_begin" ] || { grep -q "$BEGIN_RE" "$log" && t_begin=$(elapsed "$t0" "$(now)"); }
  if [ -z "$t_begin" ]; then
    echo noboot
  elif [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
    echo "timeout $t_begin"
  else
    echo "ran $t_begin"
  fi
}

# Interrupted (ctest timeout, ^C): stop the VM too (timeout passes the signal on to QEMU).
trap 'kill "$(cat "$LOGDIR/.qemu.pid" 2>/dev/null)" 2>/dev/null; exit 130' INT TERM

passed=0
failed=0
summaries=()
for k in "${kernels[@]}"; do
  kdir="$CACHE/$k"
  if [ ! -f "$kdir/.complete" ]; then
    summaries+=("FAIL $k: not in $CACHE (run fetch-kernels.sh)")
    failed=$((failed + 1))
    continue
  fi
  kdir=$(readlink -f "$kdir")
  kver=$(basename "$kdir")
  vmlinuz="$kdir/boot/vmlinuz-$kver"
  initrd="$LOGDIR/initramfs-$kver.cpio.gz"
  t_k=$(now)
  echo "=== $k ($kver) ==="
  if ! "$here/build-initramfs.sh" "$kdir/lib/modules/$kver" "$initrd"; then
    summaries+=("FAIL $k ($kver): initramfs build failed")
    failed=$((failed + 1))
    continue
  fi
  t_built=$(now)
  retried=""
  for try in 1 2; do
    log="$LOGDIR/console-$kver.try$try.log"
    t_boot=$(now)
    res=$(boot "$vmlinuz" "$initrd" "$log")
    t_done=$(now)
    [ "${res%% *}" = noboot ] || break
    echo "run-vm-tests: $k: boot $try never reached the runner (log: $log); last console lines:"
    tr -d '\r' <"$log" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1b[a-zA-Z]//g' | tail -n 15 | sed 's/^/  | /'
    retried=" (retried after a failed boot)"
  done
  clean="$LOGDIR/console-$kver.log"
  # Without carriage returns and terminal escapes (the firmware clears the screen).
  tr -d '\r' <"$log" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1b[a-zA-Z]//g; s/.\{1,\}\(=== GUARDRAIL-VM-\)/\1/' >"$clean"
  # The runner's output, between the markers.
  sed -n "/$BEGIN_RE/,/=== GUARDRAIL-VM-RESULT/p" "$clean"
  rcline=$(grep -Eo "$RESULT_RE" "$clean" | tail -1)
  tests=$(grep -Eo 'run-tests: [0-9]+ passed, [0-9]+ failed' "$clean" | tail -1)
  timing="boot-to-runner ${res#* }s, run $(elapsed "$t_boot" "$t_done")s, initramfs $(elapsed "$t_k" "$t_built")s"
  case "$res" in
    noboot) verdict="FAIL"; why="never reached the runner in 2 boots" ; timing="" ;;
    timeout*) verdict="FAIL"; why="timed out after ${TIMEOUT}s (no RESULT marker)" ;;
    *)
      if [ -z "$rcline" ]; then
        verdict="FAIL"; why="no RESULT marker (VM died during the run?)"
      else
        rc=$(echo "$rcline" | grep -Eo 'rc=[0-9]+' | cut -d= -f2)
        if [ "$rc" = 0 ]; then verdict="PASS"; why="rc=0"; else verdict="FAIL"; why="rc=$rc"; fi
      fi
      ;;
  esac
  [ "$verdict" = PASS ] && passed=$((passed + 1)) || failed=$((failed + 1))
  summaries+=("$verdict $k ($kver): $why${tests:+, ${tests#run-tests: }}${timing:+; $timing}$retried; log $clean")
done

echo
echo "=== VM summary (agent $guardrail) ==="
for s in "${summaries[@]}"; do echo "$s"; done
echo "$passed passed, $failed failed (total $(elapsed "$t_start" "$(now)")s)"
[ "$failed" -eq 0 ]
