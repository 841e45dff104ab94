#!/usr/bin/env bash
# Builds the busybox initramfs the VM tests boot.
#
#   build-initramfs.sh KERNEL_MODULES_DIR OUT.cpio.gz
#
# KERNEL_MODULES_DIR: the unpacked kernel's lib/modules/<kver> (from fetch-kernels.sh); only
# read when modules are asked for (GUARDRAIL_VM_MODULES).
#
# Environment:
#   GUARDRAIL_BIN          the agent to test (default: <repo>/build/guardrail); copied with its
#                          whole shared-library closure (ldd) and the dynamic loader
#   GUARDRAIL_VM_ATTEMPT   a prebuilt static attempt tool (default: built here from tests/tools)
#   GUARDRAIL_VM_MODULES   kernel modules to load at boot, with their dependencies, e.g. "veth"
#                          (default: none)
#   GUARDRAIL_VM_STRIP     1 (default): strip debug info from the agent's copy (smaller, faster boot)
#
# The image holds: static busybox and its applet links, /init (mounts proc, sysfs, devtmpfs,
# cgroup2, bpffs, securityfs, tracefs, debugfs; brings lo up; runs /test/run-tests.sh between the
# GUARDRAIL-VM markers; powers off), /usr/local/bin/guardrail + libraries, /test/attempt,
# /test/run-tests.sh and /test/policy.yaml.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ $# -ne 2 ]; then
  echo "usage: $0 KERNEL_MODULES_DIR OUT.cpio.gz" >&2
  exit 2
fi
moddir=$1
out=$2
guardrail=${GUARDRAIL_BIN:-$repo/build/guardrail}
modules=${GUARDRAIL_VM_MODULES:-}
busybox=${GUARDRAIL_VM_BUSYBOX:-/bin/busybox}

die() { echo "build-initramfs: $*" >&2; exit 1; }
[ -x "$guardrail" ] || die "agent binary not found: $guardrail (build it, or set GUARDRAIL_BIN)"
[ -x "$busybox" ] || die "$busybox missing (apt-get install busybox-static)"
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || ldd "$busybox" 2>&1 | grep -q 'not a dynamic' ||
  die "$busybox is not static (install busybox-static)"
command -v cpio >/dev/null || die "cpio missing (apt-get install cpio)"

root=$(mktemp -d /tmp/guardrail-initramfs.XXXXXX)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,root,test,usr/local/bin,lib64}
chmod 1777 "$root/tmp"

# Busybox with one link per applet (no --install at boot).
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
ln -sf ../bin/busybox "$root/sbin/poweroff"
ln -sf ../bin/busybox "$root/sbin/insmod"

# A binary and every library ldd lists, at the same paths (the loader included).
copy_closure() {
  local bin=$1 dest=$2 lib
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$bin" "$root$dest"
  if ldd "$bin" >/dev/null 2>&1; then
    ldd "$bin" | awk '/=> \// {print $3} /^[ \t]*\// {print $1}' | sort -u | while read -r lib; do
      [ -e "$root$lib" ] && continue
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
    if ldd "$bin" | grep -q 'not found'; then
      ldd "$bin" | grep 'not found' >&2
      die "unresolved libraries for $bin"
    fi
  fi
}

copy_closure "$guardrail" /usr/local/bin/guardrail
if [ "${GUARDRAIL_VM_STRIP:-1}" = 1 ] && command -v strip >/dev/null; then
  strip --strip-debug "$root/usr/local/bin/guardrail"
fi
[ -e "$root/lib64/ld-linux-x86-64.so.2" ] || die "dynamic loader not copied (ldd output unexpected)"

# The attempt tool: static, so no closure needed.
if [ -n "${GUARDRAIL_VM_ATTEMPT:-}" ]; then
  cp "$GUARDRAIL_VM_ATTEMPT" "$root/test/attempt"
else
  "$repo/tests/tools/build-attempt.sh" "$root/test/attempt"
fi
ln -sf ../../test/attempt "$root/usr/local/bin/attempt"
# A stand-in Docker daemon with the systemd cgroup driver (coverage from birth, run-tests.sh).
cc -static -O2 -Wall -o "$root/test/dockerd" "$here/fake-dockerd.c" || die "cannot build fake-dockerd.c"
cp "$here/run-tests.sh" "$here/policy.yaml" "$root/test/"
chmod +x "$root/test/run-tests.sh"

# Kernel modules with their dependencies (read from each module's .modinfo "depends=", so no
# modules.dep/depmod is needed: dpkg -x runs no postinst), decompressed for busybox insmod.
: >"$root/etc/modules-load"
if [ -n "$modules" ]; then
  [ -d "$moddir/kernel" ] || die "$moddir/kernel missing (KERNEL_MODULES_DIR must be lib/modules/<kver>)"
  kver=$(basename "$moddir")
  modtmp="$root/.modtmp"
  mkdir -p "$modtmp"
  declare -A seen=()
  add_module() {  # depth first: dependencies before the module
    local name=${1//-/_} src rel dst deps d
    [ -n "${seen[$name]:-}" ] && return 0
    seen[$name]=1
    src=$(find "$moddir/kernel" -regextype posix-extended \
            -regex ".*/(${name}|${name//_/-})\.ko(\.(xz|zst|gz))?" | head -1)
    [ -n "$src" ] || die "module $1 not found under $moddir/kernel"
    rel=${src#"$moddir/"}
    dst="/lib/modules/$kver/${rel%.ko*}.ko"
    mkdir -p "$root$(dirname "$dst")"
    case "$src" in
      *.xz) xz -dc "$src" >"$modtmp/m.ko" ;;
      *.zst) zstd -qdc "$src" >"$modtmp/m.ko" ;;
      *.gz) gzip -dc "$src" >"$modtmp/m.ko" ;;
      *) cp "$src" "$modtmp/m.ko" ;;
    esac
    deps=$(objcopy -O binary --only-section=.modinfo "$modtmp/m.ko" /dev/stdout | tr '\0' '\n' |
           sed -n 's/^depends=//p' | tr ',' ' ')
    mv "$modtmp/m.ko" "$root$dst"
    for d in $deps; do add_module "$d"; done
    echo "$dst" >>"$root/etc/modules-load"
  }
  for m in $modules; do add_module "$m"; done
  rm -rf "$modtmp"
fi

cat >"$root/init" <<'INIT'
#!/bin/sh
# Guardrail VM test init: mount the kernel filesystems, run the tests, power off.
export PATH=/bin:/sbin:/usr/local/bin:/test
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /sys/fs/cgroup /sys/fs/bpf /sys/kernel/security /sys/kernel/tracing /sys/kernel/debug
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t securityfs securityfs /sys/kernel/security
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
hostname guardrail-vm
ip link set lo up
while read -r m; do
  [ -n "$m" ] && { insmod "$m" || echo "init: insmod $m failed"; }
done </etc/modules-load
echo "=== GUARDRAIL-VM-BEGIN === kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)"
[ -s /etc/modules-load ] && echo "init: modules loaded: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
sh /test/run-tests.sh
rc=$?
echo "=== GUARDRAIL-VM-RESULT rc=$rc === uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
INIT
chmod +x "$root/init"

# /dev/console must exist before devtmpfs is mounted, or init starts without a console.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$root/dev/null" c 1 3 2>/dev/null || true

mkdir -p "$(dirname "$out")"
(cd "$root" && find . -print0 | cpio --null -o -H newc --owner 0:0 --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
echo "build-initramfs: $out ($(du -h "$out" | cut -f1), agent $guardrail${modules:+, modules: $modules})"
