"""The workload hardening profiles and the systemd unit, checked without a container runtime:

- profiles/seccomp/agent.json is a valid Docker seccomp profile: default ERRNO(EPERM), the
  supported architectures, no forbidden syscall in any ALLOW rule (clone only with the
  namespace-flags filter), every syscall name known to libseccomp; and, built into a real filter
  with libseccomp (python3-seccomp), ordinary programs run under it while the forbidden syscalls
  fail with EPERM.
- profiles/apparmor/guardrail-agent compiles (`apparmor_parser -Q`) and holds the design's deny
  rules.
- deploy/systemd/guardrail.service passes `systemd-analyze verify`.

No root needed. A missing tool skips its tests and names the tool and the Debian package.
(Refusals inside a real Docker container come from the docker-fixture tests, not from here.)
"""
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.no_root

# Never in an ALLOW rule (clone only with the namespace-flags filter, personality only with the
# PER_LINUX values).
FORBIDDEN = {
    "mount", "umount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr", "pivot_root", "chroot",
    "bpf", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "process_madvise",
    "keyctl", "add_key", "request_key",
    "unshare", "setns", "clone3",
    "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "create_module",
    "perf_event_open", "userfaultfd", "open_by_handle_at", "name_to_handle_at",
    "reboot", "swapon", "swapoff", "syslog", "acct", "quotactl", "quotactl_fd",
    "iopl", "ioperm", "lookup_dcookie", "vm86", "vm86old",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "fanotify_init", "sethostname", "setdomainname",
    "settimeofday", "stime", "clock_settime", "clock_settime64",
}
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
# CLONE_NEWNET
CLONE_NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 \
    | 0x40000000
PERSONALITY_OK = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff}


def source_file(source_dir, *parts):
    """A file of the source tree that must exist."""
    path = os.path.join(source_dir, *parts)
    assert os.path.isfile(path), "missing " + path
    return path


@pytest.fixture(scope="module")
def seccomp_path(source_dir):
    return source_file(source_dir, "profiles", "seccomp", "agent.json")


@pytest.fixture(scope="module")
def profile(seccomp_path):
    with open(seccomp_path) as f:
        return json.load(f)  # invalid JSON fails here


def allow_rules(profile):
    return [r for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW"]


# ---------------------------------------------------------------------------------------------
# seccomp: the JSON itself

def test_seccomp_default_is_eperm(profile):
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile.get("defaultErrnoRet") == errno.EPERM


def test_seccomp_architectures(profile):
    arches = {a["architecture"]: set(a.get("subArchitectures") or []) for a in profile["archMap"]}
    assert arches == {"SCMP_ARCH_X86_64": {"SCMP_ARCH_X86", "SCMP_ARCH_X32"},
                      "SCMP_ARCH_AARCH64": set()}


def test_seccomp_rules_are_well_formed(profile):
    known = {"names", "action", "args", "comment", "includes", "excludes", "errnoRet"}
    for rule in profile["syscalls"]:
        assert set(rule) <= known, "unexpected keys in %r" % rule
        assert rule["names"] and all(isinstance(n, str) for n in rule["names"]), rule
        assert rule["action"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"), rule
        assert not rule.get("includes", {}).get("caps"), "no rule may depend on capabilities"
        for arg in rule.get("args") or []:
            assert set(arg) <= {"index", "value", "valueTwo", "op"}, arg
            assert arg["op"] in ("SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_MASKED_EQ"), arg
        indexes = [a["index"] for a in rule.get("args") or []]
        # runc turns several conditions on one argument into alternatives (OR): never rely on it.
        assert len(indexes) == len(set(indexes)), "two conditions on one argument: %r" % rule


def test_seccomp_no_forbidden_syscall_allowed(profile):
    for rule in allow_rules(profile):
        bad = FORBIDDEN & set(rule["names"])
        assert not bad, "forbidden syscalls allowed: %s" % sorted(bad)


def test_seccomp_clone_only_without_namespace_flags(profile):
    clone_rules = [r for r in allow_rules(profile) if "clone" in r["names"]]
    assert clone_rules, "clone must be allowed (fork, threads)"
    for rule in clone_rules:
        assert rule["names"] == ["clone"], "clone must have a rule of its own: %r" % rule
        assert rule.get("args") == [{"index": 0, "value": CLONE_NS_FLAGS, "valueTwo": 0,
                                     "op": "SCMP_CMP_MASKED_EQ"}], rule
        assert not rule.get("includes") and not rule.get("excludes"), rule
    clone3 = [r for r in profile["syscalls"] if "clone3" in r["names"]]
    assert clone3 and all(r["action"] == "SCMP_ACT_ERRNO" and r["errnoRet"] == errno.ENOSYS
                          for r in clone3), "clone3 must fail with ENOSYS (glibc falls back)"


def test_seccomp_personality_only_linux_values(profile):
    for rule in allow_rules(profile):
        if "personality" in rule["names"]:
            assert rule["names"] == ["personality"], rule
            (arg,) = rule["args"]
            assert arg["index"] == 0 and arg["op"] == "SCMP_CMP_EQ", rule
            assert arg["value"] in PERSONALITY_OK, rule


def test_seccomp_ordinary_syscalls_allowed(profile):
    allowed = set()
    for rule in allow_rules(profile):
        if not rule.get("args"):
            allowed.update(rule["names"])
    needed = {"read", "write", "openat", "close", "mmap", "mprotect", "munmap", "brk", "execve",
              "exit_group", "futex", "rt_sigaction", "rt_sigreturn", "newfstatat", "fstat",
              "getdents64", "pipe2", "dup3", "wait4", "epoll_wait", "connect", "accept4",
              "sendto", "recvfrom", "getrandom", "set_robust_list", "rseq", "prlimit64",
              "arch_prctl"}
    assert not needed - allowed, "missing: %s" % sorted(needed - allowed)


# ---------------------------------------------------------------------------------------------
# seccomp: through libseccomp

@pytest.fixture(scope="module")
def seccomp_mod():
    try:
        import seccomp  # Debian: python3-seccomp
    except ImportError:
        pytest.skip("SKIPPED (environment): python3-seccomp (libseccomp's Python binding) is not "
                    "installed for %s (scripts/setup.sh installs it): the seccomp profile is NOT "
                    "checked against libseccomp" % sys.executable)
    return seccomp


def test_seccomp_names_known_to_libseccomp(profile, seccomp_mod):
    arches = [seccomp_mod.Arch.X86_64, seccomp_mod.Arch.X86, seccomp_mod.Arch.X32,
              seccomp_mod.Arch.AARCH64]
    unknown = sorted({n for rule in profile["syscalls"] for n in rule["names"]
                      if all(seccomp_mod.resolve_syscall(a, n) < 0 for a in arches)})
    assert not unknown, "not a syscall on x86_64, x86, x32 or aarch64: %s" % unknown


# Runs in a child: builds the profile into a libseccomp filter the way Docker/runc do (native
# architecture plus the profile's sub-architectures, each rule's arch includes/excludes), loads it
# (with no_new_privs) and execs the command.
RUN_UNDER_PROFILE = textwrap.dedent("""
    import json, os, sys
    import seccomp
    GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
    prof = json.load(open(sys.argv[1]))
    native = os.uname().machine
    goarch = GO_ARCH.get(native, native)
    f = seccomp.SyscallFilter(seccomp.ERRNO(prof["defaultErrnoRet"]))
    for entry in prof["archMap"]:
        if entry["architecture"] == "SCMP_ARCH_" + native.upper():
            for sub in entry["subArchitectures"] or []:
                f.add_arch(getattr(seccomp.Arch, sub[len("SCMP_ARCH_"):]))
    ops = {"SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_NE": seccomp.NE,
           "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ}
    for rule in prof["syscalls"]:
        inc = rule.get("includes", {}).get("arches")
        exc = rule.get("excludes", {}).get("arches")
        if (inc and goarch not in inc) or (exc and goarch in exc):
            continue
        action = (seccomp.ALLOW if rule["action"] == "SCMP_ACT_ALLOW"
                  else seccomp.ERRNO(rule["errnoRet"]))
        args = [seccomp.Arg(a["index"], ops[a["op"]], a["value"], a.get("valueTwo", 0))
                for a in rule.get("args") or []]
        for name in rule["names"]:
            try:
                f.add_rule(action, name, *args)
            except (RuntimeError, ValueError, OSError):
                pass  # not a syscall of this architecture: runc skips it too
    f.load()
    os.execv(sys.argv[2], sys.argv[2:])
""")

# Calls each forbidden syscall with arguments that make it fail harmlessly (EFAULT, EINVAL, EBADF,
# ...) if the filter let it through, and prints {name: errno or what it returned}. The numbers
# come from libseccomp's tables (resolve_syscall makes no syscall), for this architecture.
PROBE_FORBIDDEN = textwrap.dedent("""
    import ctypes, json, seccomp
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    arch = seccomp.Arch.NATIVE
    L = ctypes.c_long
    calls = {
        "mount": (0, 0, 0, 0, 0), "umount2": (0, 0), "pivot_root": (0, 0),
        "fsopen": (0, 0), "fsconfig": (-1, 0xffff, 0, 0, 0), "fsmount": (-1, 0, 0),
        "fspick": (-1, 0, 0), "move_mount": (-1, 0, -1, 0, 0), "open_tree": (-1, 0, 0),
        "mount_setattr": (-1, 0, 0, 0, 0),
        "bpf": (-1, 0, 0), "ptrace": (16, -1, 0, 0),
        "process_vm_readv": (-1, 0, 0, 0, 0, 0), "process_vm_writev": (-1, 0, 0, 0, 0, 0),
        "keyctl": (-1, 0, 0, 0, 0), "add_key": (0, 0, 0, 0, 0), "request_key": (0, 0, 0, 0),
        "unshare": (0x00000001,),            # an invalid flag (CSIGNAL bit): EINVAL if allowed
        "setns": (-1, 0),
        "clone": (0x10000000 | 0x00000200,), # CLONE_NEWUSER|CLONE_FS: EINVAL if allowed
        "kexec_load": (0, 0, 0, 0xffffffff), "kexec_file_load": (-1, -1, 0, 0, 0xffffffff),
        "init_module": (0, 0, 0), "finit_module": (-1, 0, 0), "delete_module": (0, 0),
        "perf_event_open": (0, 0, -1, -1, 0), "userfaultfd": (0xffffffff,),
        "open_by_handle_at": (-1, 0, 0), "name_to_handle_at": (-1, 0, 0, 0, 0),
        "reboot": (0, 0, 0, 0), "swapon": (0, 0), "swapoff": (0,), "syslog": (0xffff, 0, 0),
        "acct": (ctypes.c_char_p(b"/nonexistent/guardrail"),), "quotactl": (0, 0, 0, 0),
        "iopl": (4,), "ioperm": (0x10000, 1, 1), "lookup_dcookie": (0, 0, 0),
        "personality": (0x0400000,),          # READ_IMPLIES_EXEC
        "io_uring_setup": (0, 0), "chroot": (0,),
    }
    out = {}
    for name, args in calls.items():
        nr = seccomp.resolve_syscall(arch, name)
        if nr < 0:
            continue  # not on this architecture
        ctypes.set_errno(0)
        ret = libc.syscall(L(nr), *[a if isinstance(a, ctypes.c_char_p) else L(a) for a in args])
        out[name] = ctypes.get_errno() if ret == -1 else "returned %d" % ret
    print(json.dumps(out))
""")


def run_under_profile(seccomp_path, *argv):
    return subprocess.run([sys.executable, "-c", RUN_UNDER_PROFILE, seccomp_path, *argv],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)


def test_seccomp_ordinary_programs_run(seccomp_path, seccomp_mod):
    """A shell pipeline, fork, threads (glibc tries clone3, gets ENOSYS, falls back to clone)
    and sockets work under the filter."""
    script = ("set -e; ls / >/dev/null; echo hello | tr a-z A-Z; "
              "printf 'x\\n' > \"${TMPDIR:-/tmp}/gr-seccomp-$$\"; rm -f \"${TMPDIR:-/tmp}/gr-seccomp-$$\"; "
              "exec %s -c 'import os, socket, threading; "
              "t = threading.Thread(target=print, args=(\"thread\",)); t.start(); t.join(); "
              "pid = os.fork(); pid or os._exit(7); print(\"child\", os.waitpid(pid, 0)[1] >> 8); "
              "a, b = socket.socketpair(); a.send(b\"ok\"); print(b.recv(2).decode())'"
              % sys.executable)
    res = run_under_profile(seccomp_path, "/bin/sh", "-c", script)
    assert res.returncode == 0, "rc=%d\nstdout:\n%s\nstderr:\n%s" % (res.returncode, res.stdout,
                                                                     res.stderr)
    assert res.stdout.split() == ["HELLO", "thread", "child", "7", "ok"], res.stdout


def test_seccomp_forbidden_syscalls_get_eperm(seccomp_path, seccomp_mod):
    res = run_under_profile(seccomp_path, sys.executable, "-c", PROBE_FORBIDDEN)
    assert res.returncode == 0, "rc=%d\nstderr:\n%s" % (res.returncode, res.stderr)
    results = json.loads(res.stdout)
    assert {"mount", "unshare", "clone", "bpf", "ptrace", "setns"} <= set(results), results
    wrong = {k: v for k, v in results.items() if v != errno.EPERM}
    assert not wrong, "not refused with EPERM: %s" % wrong


def test_seccomp_namespaces_refused_to_a_real_program(seccomp_path, seccomp_mod):
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("SKIPPED (environment): util-linux `unshare` not found")
    res = run_under_profile(seccomp_path, unshare, "--user", "--map-root-user", "true")
    assert res.returncode != 0 and "Operation not permitted" in res.stderr, res.stderr


# ---------------------------------------------------------------------------------------------
# AppArmor

@pytest.fixture(scope="module")
def apparmor_path(source_dir):
    return source_file(source_dir, "profiles", "apparmor", "guardrail-agent")


@pytest.fixture(scope="module")
def apparmor_parser():
    path = shutil.which("apparmor_parser") or next(
        (p for p in ("/usr/sbin/apparmor_parser", "/sbin/apparmor_parser") if os.access(p, os.X_OK)),
        None)
    if path is None:
        pytest.skip("SKIPPED (environment): apparmor_parser not found: install Debian's "
                    "`apparmor` package (scripts/setup.sh does); the AppArmor profile is NOT "
                    "checked")
    return path


def test_apparmor_profile_compiles(apparmor_parser, apparmor_path):
    # -Q: do not load into the kernel (no AppArmor module needed); -K: no cache; -S: write the
    # compiled policy to stdout, so the whole profile is compiled, not only parsed.
    res = subprocess.run([apparmor_parser, "-Q", "-K", "-S", apparmor_path],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert res.stdout, "apparmor_parser produced no compiled policy"
    names = subprocess.run([apparmor_parser, "-N", apparmor_path], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, timeout=60).stdout.split()
    assert names == ["guardrail-agent"]


def test_apparmor_profile_has_the_design_denials(apparmor_path):
    rules = set()
    with open(apparmor_path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("#include"):
                line = re.sub(r"(^|\s)#.*$", "", line).strip()  # a comment
            if line:
                rules.add(re.sub(r"\s+", " ", line))
    for rule in ("#include <abstractions/base>", "deny capability,", "deny network raw,",
                 "deny network packet,", "deny mount,", "deny umount,", "deny pivot_root,",
                 "deny ptrace,", "deny /{,var/}run/docker.sock rwklx,",
                 "deny /{,var/}run/containerd/containerd.sock{,.ttrpc} rwklx,",
                 "deny /{,var/}run/crio/crio.sock rwklx,", "deny @{PROC}/sys/** wkl,",
                 "deny /sys/** wkl,", "deny /sys/fs/bpf/** rwklx,"):
        assert rule in rules, "missing rule: " + rule


# ---------------------------------------------------------------------------------------------
# systemd

@pytest.fixture(scope="module")
def systemd_analyze():
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("SKIPPED (environment): systemd-analyze not found: install Debian's `systemd` "
                    "package; deploy/systemd/guardrail.service is NOT verified")
    return path


def test_systemd_unit_verifies(systemd_analyze, source_dir, guardrail_bin, tmp_path):
    """`systemd-analyze verify` checks that ExecStart's binary exists: verify a copy whose
    ExecStart points at this build's binary."""
    with open(os.path.join(source_dir, "deploy", "systemd", "guardrail.service")) as f:
        unit = f.read()
    prefix = "ExecStart=/usr/local/bin/guardrail "
    assert unit.count(prefix) == 1, "ExecStart must run /usr/local/bin/guardrail"
    copy = tmp_path / "guardrail.service"
    copy.write_text(unit.replace(prefix, "ExecStart=%s " % guardrail_bin))
    res = subprocess.run([systemd_analyze, "verify", str(copy)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=120,
                         env=dict(os.environ, SYSTEMD_LOG_LEVEL="notice"))
    assert res.returncode == 0, res.stdout
    # Unknown keys and bad values are only warnings: any line about our unit is a failure.
    about_unit = [line for line in res.stdout.splitlines() if "guardrail.service" in line]
    assert not about_unit, "\n".join(about_unit)


def test_systemd_unit_settings(source_dir):
    with open(os.path.join(source_dir, "deploy", "systemd", "guardrail.service")) as f:
        settings = {}
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")):
                key, _, value = line.partition("=")
                settings.setdefault(key, []).append(value)
    one = {k: v[-1] for k, v in settings.items()}
    assert one["ExecStart"] == ("/usr/local/bin/guardrail agent --policy /etc/guardrail/policy.yaml"
                                " --alerts /var/log/guardrail/alerts.jsonl")
    assert one["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert one["Restart"] == "on-failure" and one["NoNewPrivileges"] == "yes"
    assert one["ProtectSystem"] == "strict" and one["LimitMEMLOCK"] == "infinity"
    caps = set(one["CapabilityBoundingSet"].split())
    assert caps <= {"CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE",
                    "CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"}, caps
    assert "AmbientCapabilities" not in one
