#!/usr/bin/env bash
# Downloads and unpacks the Debian kernels the VM tests boot: 6.1 LTS (bookworm) and 6.12 LTS
# (bookworm-backports / bookworm-security). No install, no postinst: `apt-get download` + `dpkg -x`.
#
#   fetch-kernels.sh [SERIES...]        SERIES: 6.1, 6.12 (default: both)
#
# Layout (cache dir: $GUARDRAIL_VM_CACHE, default /var/cache/guardrail-vm):
#   $CACHE/<kver>/boot/vmlinuz-<kver>, $CACHE/<kver>/lib/modules/<kver>/...,  $CACHE/<kver>/.complete
#   $CACHE/<series> -> <kver>         (symlink to the version last fetched for that series)
# Idempotent: a version already unpacked (.complete) is not downloaded again. When the package
# index cannot be read (offline), the cached version of the series is used.
# Package choice: the version the meta package (linux-image-cloud-amd64 for 6.1,
# linux-image-6.12-cloud-amd64 for 6.12) depends on, in its -unsigned flavour (the signed one as
# fallback). Override with GUARDRAIL_VM_PKG_6_1 / GUARDRAIL_VM_PKG_6_12 (exact package names).
# When a series cannot be resolved or downloaded, the index is refreshed once (apt-get update;
# GUARDRAIL_VM_NO_UPDATE=1 prevents it) and the series tried again.
set -euo pipefail

CACHE=${GUARDRAIL_VM_CACHE:-/var/cache/guardrail-vm}
series=("$@")
[ ${#series[@]} -gt 0 ] || series=(6.1 6.12)
mkdir -p "$CACHE"

meta_for() {
  case "$1" in
    6.1) echo linux-image-cloud-amd64 ;;
    6.12) echo linux-image-6.12-cloud-amd64 ;;
    *) echo "fetch-kernels: unknown series '$1' (want 6.1 or 6.12)" >&2; return 1 ;;
  esac
}

# Prints the image package (signed name, without -unsigned) for a series, or nothing.
resolve_pkg() {
  local s=$1 override var meta dep
  var="GUARDRAIL_VM_PKG_${s//./_}"
  override=${!var:-}
  if [ -n "$override" ]; then echo "${override%-unsigned}"; return; fi
  meta=$(meta_for "$s") || return 1
  dep=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  if [ -z "$dep" ] && [ "$s" = 6.12 ]; then
    # Meta package unknown (backports not configured?): take the newest 6.12 image in the index.
    dep=$(apt-cache pkgnames linux-image-6.12. 2>/dev/null | grep -E '^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64$' |
          sort -V | tail -1)
  fi
  echo "$dep"
}

fetch_one() {
  local s=$1 pkg kver dir tmp deb t0 t1 size
  pkg=$(resolve_pkg "$s")
  if [ -z "$pkg" ]; then
    if [ -f "$CACHE/$s/.complete" ]; then
      echo "fetch-kernels: $s: package index has no candidate; using cached $(readlink "$CACHE/$s")"
      return 0
    fi
    echo "fetch-kernels: $s: no kernel package found (run apt-get update; is bookworm-backports configured? see scripts/setup.sh)" >&2
    return 1
  fi
  kver=${pkg#linux-image-}
  dir="$CACHE/$kver"
  if [ -f "$dir/.complete" ]; then
    ln -sfn "$kver" "$CACHE/$s"
    echo "fetch-kernels: $s: $kver (cached in $dir)"
    return 0
  fi
  tmp=$(mktemp -d "$CACHE/.dl.XXXXXX")
  t0=$(date +%s.%N)
  # apt-get download writes to the current directory; run it as _apt-less root in $tmp.
  if ! (cd "$tmp" && apt-get download -q "${pkg}-unsigned" >"$tmp/log" 2>&1); then
    echo "fetch-kernels: $s: ${pkg}-unsigned not downloadable, trying $pkg" >&2
    if ! (cd "$tmp" && apt-get download -q "$pkg" >>"$tmp/log" 2>&1); then
      cat "$tmp/log" >&2
      rm -rf "$tmp"
      if [ -f "$CACHE/$s/.complete" ]; then
        echo "fetch-kernels: $s: download failed; using cached $(readlink "$CACHE/$s")" >&2
        return 0
      fi
      return 1
    fi
  fi
  t1=$(date +%s.%N)
  deb=$(ls "$tmp"/*.deb | head -1)
  size=$(stat -c %s "$deb")
  rm -rf "$dir.partial"
  dpkg -x "$deb" "$dir.partial"
  if [ ! -f "$dir.partial/boot/vmlinuz-$kver" ] || [ ! -d "$dir.partial/lib/modules/$kver" ]; then
    echo "fetch-kernels: $s: $deb has no boot/vmlinuz-$kver or lib/modules/$kver" >&2
    rm -rf "$tmp" "$dir.partial"
    return 1
  fi
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
  basename "$deb" >"$dir/.complete"
  rm -rf "$tmp"
  ln -sfn "$kver" "$CACHE/$s"
  awk -v s="$s" -v k="$kver" -v d="$(cat "$dir/.complete")" -v sz="$size" -v t0="$t0" -v t1="$t1" \
    -v u="$(du -sh "$dir" | cut -f1)" 'BEGIN {
      printf "fetch-kernels: %s: %s (downloaded %s, %.1f MB in %.1f s, unpacked %s)\n", s, k, d, sz / 1048576, t1 - t0, u }'
}

rc=0
updated=0
for s in "${series[@]}"; do
  if ! fetch_one "$s"; then
    # A stale or empty package index: refresh it once (network) and try again.
    if [ "$updated" = 0 ] && [ "${GUARDRAIL_VM_NO_UPDATE:-0}" != 1 ]; then
      echo "fetch-kernels: $s: refreshing the package index (apt-get update) and retrying" >&2
      apt-get update -q >/dev/null 2>&1 || true
      updated=1
      fetch_one "$s" && continue
    fi
    rc=1
  fi
done
exit $rc
