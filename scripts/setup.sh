#!/usr/bin/env bash
# Installs everything Guardrail needs to build and test on a fresh Debian 12 machine, as root.
# Idempotent: safe to run again; it only installs what is missing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages and mounts bpffs/tracefs)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
backports=/etc/apt/sources.list.d/guardrail-bookworm-backports.list
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main" >"$backports"
  rm -f /var/lib/apt/guardrail-updated
fi

# libbpf >= 1.4 and bpftool >= 7.5 come from bookworm-backports (1.1 lacks cgroup/connect_unix).
backports_pkgs=(libbpf-dev bpftool)
pkgs=(build-essential cmake clang llvm pkg-config libelf-dev zlib1g-dev
      libboost-program-options-dev libspdlog-dev libfmt-dev prometheus-cpp-dev libyaml-dev
      nlohmann-json3-dev libgtest-dev libgmock-dev googletest libcurl4-openssl-dev libssl-dev
      iproute2 iputils-ping netcat-openbsd socat curl python3 python3-pytest clang-format
      python3-jsonschema prometheus prometheus-alertmanager
      qemu-system-x86 busybox-static cpio apparmor systemd python3-seccomp docker.io
      clang-19 libclang-rt-19-dev python3-yaml libcivetweb-dev nftables)
# kubectl (for `kubectl kustomize deploy/daemonset` in the manifest tests): Debian's
# kubernetes-client, unless a kubectl is there already. Node.js and npm: the manifests' offline
# schema validation (kubernetes-models, installed below into tests/integration/manifests).
command -v kubectl >/dev/null 2>&1 || pkgs+=(kubernetes-client)
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
# clang-19 and its runtimes (ASan, UBSan, libFuzzer) are for scripts/sanitize.sh: clang 14
# cannot build libstdc++ 12's <expected>.

missing=()
for p in "${pkgs[@]}" "${backports_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
libbpf_ok=0
if dpkg --compare-versions "$(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null || echo 0)" ge 1:1.4; then
  libbpf_ok=1
fi

# docker.io is here for the tests' private dockerd (own socket, own bridge on 198.18.0.0/24).
# When this script installs it, the system's docker service must not start (it would take
# 172.17.0.0/16): services are held back during the install, and docker's are disabled after.
# A Docker host whose docker.io was already installed is left exactly as it was.
fresh_docker=0
dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q 'install ok installed' || fresh_docker=1

if [ ${#missing[@]} -gt 0 ] || [ "$libbpf_ok" -eq 0 ]; then
  apt-get update -q
  held=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    held=1
  fi
  trap '[ "$held" -eq 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -q --no-install-recommends "${pkgs[@]}"
  apt-get install -y -q --no-install-recommends -t bookworm-backports "${backports_pkgs[@]}" libbpf1
fi

# The prometheus and prometheus-alertmanager packages are here for their binaries (promtool and
# the integration tests, which start their own instances on free loopback ports): stop and disable
# the system services their postinst may have started, so nothing holds ports 9090/9093. With
# systemd as init use systemctl; otherwise (containers, sysvinit) the init.d scripts.
services=(prometheus prometheus-alertmanager)
[ "$fresh_docker" -eq 1 ] && services+=(docker.socket docker containerd)
for svc in "${services[@]}"; do
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  else
    if [ -x "/etc/init.d/$svc" ]; then
      "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
      { command -v update-rc.d >/dev/null 2>&1 && update-rc.d "$svc" disable >/dev/null 2>&1; } || true
    fi
    # Offline (no systemd running): removes the unit's wants symlink for a later boot.
    { command -v systemctl >/dev/null 2>&1 && systemctl disable "$svc" >/dev/null 2>&1; } || true
  fi
done

# Kernel filesystems the agent and the tests use; the host does not mount them by default.
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/kernel/security || mount -t securityfs securityfs /sys/kernel/security 2>/dev/null || true
# kubernetes-models for tests/integration/test_manifests.py, pinned by its package-lock.json, into
# that directory's node_modules. Best effort: without the npm registry the test skips loudly.
manifests="$(cd "$(dirname "$0")/.." && pwd)/tests/integration/manifests"
if [ ! -d "$manifests/node_modules/kubernetes-models" ]; then
  (cd "$manifests" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) ||
    echo "setup.sh: npm could not install kubernetes-models (registry unreachable?); the manifest schema test will skip" >&2
fi
echo "setup.sh: dependencies installed; bpffs at /sys/fs/bpf"
