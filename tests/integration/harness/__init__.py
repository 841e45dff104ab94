"""The integration suite's harness: what the tests drive and where the test tools live.

    agent     `guardrail agent` under test: policy files, readiness, alerts, metrics, bpftool
    docker    a private dockerd for the session, busybox containers
    kube_api  the tests' own Kubernetes API server (HTTPS, own CA), its objects and kubeconfigs
    services  Prometheus and Alertmanager started for a test
    process   stopping a child process by its pid
    topology  network namespaces on one bridge, a cgroup per workload, probe processes

The programs that attempt forbidden actions are shared with the VM suite, so they live in
tests/tools/, not here.
"""
import os
import signal
import subprocess

import pytest

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE_DIR = os.path.dirname(TESTS_DIR)
TOOLS_DIR = os.path.join(TESTS_DIR, "tools")

# The probe client and server (Python: runs in any netns and cgroup the test names).
NETPROBE = os.path.join(TOOLS_DIR, "netprobe.py")
# Builds the static attempt tool from tests/tools/attempt.c: `build-attempt.sh OUT`.
BUILD_ATTEMPT = os.path.join(TOOLS_DIR, "build-attempt.sh")


def require_ia32(attempt_bin):
    """Skip loudly when this kernel takes no 32-bit syscalls (no IA32 emulation, or booted with
    ia32_emulation=0: int $0x80 then ends in SIGSEGV or ENOSYS); any other outcome of a plain
    ia32 getpid is a failure, not a skip."""
    res = subprocess.run([attempt_bin, "ia32", "getpid"], capture_output=True, text=True,
                         timeout=15)
    if res.returncode == -signal.SIGSEGV or res.stdout.strip() == "ERR ENOSYS":
        pytest.skip("SKIPPED LOUDLY: this kernel refuses 32-bit syscalls (%s, rc %d): no ia32 "
                    "path to guard" % (res.stdout.strip() or res.stderr.strip(), res.returncode))
    assert (res.stdout.strip(), res.returncode) == ("OK", 0), (res.stdout, res.stderr)
