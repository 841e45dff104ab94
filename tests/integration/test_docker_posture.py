"""Hardening posture of real containers (private dockerd, harness.docker): `guardrail audit` against
the README's baseline, and the seccomp profile refusing mount(2) inside a real container.

Neither needs the agent: `guardrail audit` reads the Engine API and /proc; the seccomp profile
is enforced by runc.
"""
import json
import os
import subprocess

import pytest

from harness.docker import IMAGE, OWNER_LABEL, SOCKET, dockerd, docker_containers  # noqa: F401

SECRET_VALUE = "x"
# A second, unmistakable secret value: "x" alone is a letter of many words.
CANARY_VALUE = "gr-canary-3f9a1c77e0"

ALL_CHECKS = {"capabilities_dropped", "bounding_set_empty", "seccomp_filter", "no_new_privs",
              "non_root_uid", "read_only_rootfs", "no_host_mounts", "no_runtime_socket",
              "no_secret_env", "cpu_limit", "memory_limit", "pids_limit", "not_privileged"}


def host_has_apparmor():
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


@pytest.fixture(scope="module")
def seccomp_profile(source_dir):
    path = os.path.join(source_dir, "profiles", "seccomp", "agent.json")
    assert os.path.isfile(path), path
    return path


def baseline_args(seccomp_profile):
    """The README's baseline flags (sizes made small); AppArmor only where the host has it."""
    args = ["--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--security-opt", "seccomp=" + seccomp_profile, "--read-only",
            "--user", "65534:65534", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "64"]
    if host_has_apparmor():
        args += ["--security-opt", "apparmor=guardrail-agent"]
    return args


def audit(guardrail_bin, *extra):
    res = subprocess.run([guardrail_bin, "audit", "--docker-socket", SOCKET] + list(extra),
                         capture_output=True, text=True, timeout=30)
    return res


def audit_json(guardrail_bin):
    res = audit(guardrail_bin, "--json")
    try:
        doc = json.loads(res.stdout)
    except ValueError:
        raise AssertionError("audit --json printed no JSON (rc %d): %r %r"
                             % (res.returncode, res.stdout, res.stderr))
    return res, doc


def entry_for(doc, container):
    found = [e for e in doc if e["id"] == container.id]
    assert len(found) == 1, (container.id, [e["id"] for e in doc])
    return found[0]


def failing(entry):
    return {f["check"] for f in entry["findings"] if not f["passed"]}


def strings_in(value):
    """Every string (keys included) anywhere in a JSON document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)


# ---- seccomp -----------------------------------------------------------------------------------

MOUNT_CMD = "mkdir -p /mnt && mount -t tmpfs none /mnt && grep ' /mnt ' /proc/mounts"


def run_once(daemon, *args):
    """`docker run --rm` in the foreground -> CompletedProcess."""
    return daemon.docker("run", "--rm", "--label", "%s=%s" % (OWNER_LABEL, daemon._owner),
                         *args, IMAGE, "sh", "-c", MOUNT_CMD, check=False, timeout=60)


def test_seccomp_profile_refuses_mount_in_a_real_container(docker_containers, seccomp_profile):
    d = docker_containers
    # CAP_SYS_ADMIN is granted in both runs and AppArmor is not in the way, so the only
    # difference is the seccomp profile: Docker's default one allows mount with CAP_SYS_ADMIN.
    without = run_once(d, "--cap-add", "SYS_ADMIN")
    assert without.returncode == 0 and "none /mnt tmpfs" in without.stdout, (
        "the control run (no Guardrail profile) could not mount: %r %r"
        % (without.stdout, without.stderr))
    privileged = run_once(d, *d.privileged_args())
    assert privileged.returncode == 0 and "none /mnt tmpfs" in privileged.stdout, (
        privileged.stdout, privileged.stderr)

    refused = run_once(d, "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=" + seccomp_profile)
    # busybox mount words EPERM as "permission denied (are you root?)" (it prints that for
    # errno EPERM only); the profile's default action is SCMP_ACT_ERRNO with errno 1 (EPERM).
    assert refused.returncode != 0, (refused.stdout, refused.stderr)
    assert "mount: permission denied" in refused.stderr, refused.stderr
    assert "/mnt" not in refused.stdout, refused.stdout
    with open(seccomp_profile) as f:
        profile = json.load(f)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO" and profile.get("defaultErrnoRet") == 1
    # --privileged discards any seccomp profile (Docker runs privileged containers unconfined,
    # --security-opt seccomp=... notwithstanding): the profile cannot help there, which is why
    # `guardrail audit` checks not_privileged and the live Seccomp mode, not the option.
    discarded = run_once(d, *d.privileged_args(), "--security-opt", "seccomp=" + seccomp_profile)
    assert discarded.returncode == 0 and "none /mnt tmpfs" in discarded.stdout, (
        discarded.stdout, discarded.stderr)


# ---- guardrail audit ---------------------------------------------------------------------------

def test_audit_flags_risky_container_and_passes_baseline(docker_containers, guardrail_bin,
                                                         seccomp_profile):
    d = docker_containers
    assert d.docker("ps", "-q").stdout.split() == [], "containers are still running"
    risky = d.run(args=(*d.privileged_args(), "-v", "%s:/var/run/docker.sock" % SOCKET,
                        "-e", "SECRET_TOKEN=" + SECRET_VALUE,
                        "-e", "GITHUB_TOKEN=" + CANARY_VALUE))
    good = d.run(args=baseline_args(seccomp_profile))

    res, doc = audit_json(guardrail_bin)
    assert res.returncode == 1, (res.returncode, res.stderr)
    bad = entry_for(doc, risky)
    assert bad["compliant"] is False
    assert bad["name"] == risky.name and bad["image"] == IMAGE
    fails = failing(bad)
    expected = {"not_privileged", "no_runtime_socket", "no_secret_env", "cpu_limit",
                "memory_limit", "pids_limit"}
    assert expected <= fails, (sorted(fails), bad)
    # A privileged root container fails these too.
    assert {"capabilities_dropped", "bounding_set_empty", "non_root_uid",
            "read_only_rootfs", "seccomp_filter"} <= fails, sorted(fails)
    checks = {f["check"] for f in bad["findings"]}
    assert ALL_CHECKS <= checks, sorted(ALL_CHECKS - checks)
    assert ("apparmor" in checks) == host_has_apparmor(), sorted(checks)
    secret = next(f for f in bad["findings"] if f["check"] == "no_secret_env")
    assert "SECRET_TOKEN" in secret["detail"] and "GITHUB_TOKEN" in secret["detail"], secret
    # The secrets' values never appear, in the JSON nor in the table.
    for s in strings_in(doc):
        assert s != SECRET_VALUE and "=" + SECRET_VALUE not in s and CANARY_VALUE not in s, s
    assert CANARY_VALUE not in res.stdout + res.stderr
    table = audit(guardrail_bin)
    assert table.returncode == 1, table
    assert CANARY_VALUE not in table.stdout and "SECRET_TOKEN=" not in table.stdout, table.stdout
    assert risky.name in table.stdout and "not_privileged" in table.stdout, table.stdout

    ok = entry_for(doc, good)
    assert ok["compliant"] is True and failing(ok) == set(), ok
    assert ALL_CHECKS <= {f["check"] for f in ok["findings"]}

    # Only the baseline container running: everything compliant, exit 0.
    d.remove(risky.id)
    res, doc = audit_json(guardrail_bin)
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    assert [e["id"] for e in doc] == [good.id] and doc[0]["compliant"] is True, doc
    table = audit(guardrail_bin)
    assert table.returncode == 0 and "1 container, 1 compliant" in table.stdout, table.stdout


def test_audit_exit_2_when_docker_is_unreachable(guardrail_bin, tmp_path):
    res = subprocess.run([guardrail_bin, "audit", "--json", "--docker-socket",
                          str(tmp_path / "no-such.sock")],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert res.stderr.strip(), "no reason given"
