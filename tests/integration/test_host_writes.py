"""The host-write guard and the cgroup guard against the real agent on this kernel's fallback.

The host kernel refuses BPF-LSM, so both only detect here (tests/vm prevents them):

    host-writes  tp_btf/sys_exit of the opens  the opened file is judged (not its spelling):
                 /proc/sys, /proc/sysrq-trigger, sysfs, the kernel filesystems, listed host
                 paths by inode; kill sends SIGKILL before the caller can write through the fd
    cgroups      the same open exits for cgroupfs files outside the workload, tp_btf/
                 cgroup_attach_task for the move itself, tp_btf/sys_exit for clone3's
                 CLONE_INTO_CGROUP; on for every workload whatever its zone says

Nothing here writes a host file: the attempts open for write and close (attempt open-write),
except write-file into the test's own temporary directory. Every attempt runs inside a zone's
workload cgroup and again outside every workload, where it must work and raise no alert.
"""
import os
import subprocess

import pytest

import harness.agent
from harness.agent import assert_alert
from harness import BUILD_ATTEMPT, require_ia32
from harness.topology import is_mounted, remove_cgroups, run, wait_until

ZONES = {
    "hw": "hostWrites: {action: deny, paths: [%(listed)s]}",
    "hwkill": "hostWrites: {action: kill, paths: [%(listed)s]}",
    "cg": None,  # guards nothing: the cgroup guard is on all the same
    "cgkill": "cgroups: {action: kill}",
}


class Env:
    def __init__(self, topo, binary, workdir):
        self.topo = topo
        self.binary = binary
        self.workdir = workdir
        self.base_rel = topo.base_rel + "/hw"
        self.listed = os.path.join(workdir, "listed")
        self.elsewhere = os.path.join(workdir, "elsewhere")
        self.link = os.path.join(workdir, "listed-link")
        self.bind = os.path.join(workdir, "listed-bind")
        self.attempt_bin = os.path.join(workdir, "attempt")
        self.agent = None
        self._cgroups = []

    def policy(self):
        lines = ["apiVersion: guardrail.io/v1alpha1", "kind: GuardrailPolicy",
                 "metadata: {name: hostwrites}", "spec:", "  mode: enforce", "  zones:"]
        for short, guards in ZONES.items():
            lines += ["    - name: hw-%s" % short,
                      '      selector: {cgroups: ["%s/%s/*"]}' % (self.base_rel, short)]
            if guards:
                lines += ["      guards:", "        " + guards % {"listed": self.listed}]
        return "\n".join(lines) + "\n"

    def setup(self):
        res = subprocess.run([BUILD_ATTEMPT, self.attempt_bin], capture_output=True, text=True)
        if res.returncode != 0:
            pytest.fail("cannot build tests/tools/attempt.c: " + res.stderr[-2000:])
        for d in (self.listed, self.elsewhere, self.bind):
            os.makedirs(d)
        for d in (self.listed, self.elsewhere):
            with open(os.path.join(d, "file"), "w") as f:
                f.write("original\n")
        os.symlink(self.listed, self.link)
        run(["mount", "--bind", self.listed, self.bind])
        rels = [self.base_rel, self.base_rel + "/outside"]
        for short in ZONES:
            rels += ["%s/%s" % (self.base_rel, short), "%s/%s/w" % (self.base_rel, short),
                     "%s/%s/w/sub" % (self.base_rel, short)]
        for rel in rels:
            path = self.topo.cg2 + rel
            os.mkdir(path)
            self._cgroups.append(path)
        self.agent = harness.agent.start_agent(self.binary, self.workdir, self.topo,
                                               policy=self.policy(), label="hostwrites")
        return self

    def teardown(self):
        errors = []
        harness.agent.shutdown_into(self.agent, errors)
        for _ in range(10):
            if not is_mounted(self.bind):
                break
            run(["umount", "-l", self.bind], check=False)
        errors += remove_cgroups(self._cgroups)
        if errors:
            raise RuntimeError("host write teardown: " + "; ".join(errors))

    def cgroup(self, short, *below):
        return os.path.join("%s%s/%s/w" % (self.topo.cg2, self.base_rel, short), *below)

    def workload(self, short):
        return "hw-%s:%s/%s/w" % (short, self.base_rel, short)

    def attempt(self, short, *args):
        """attempt ARGS in zone short's workload cgroup (None: outside every workload):
        (stdout line, returncode, pid)."""
        argv = [self.attempt_bin]
        if short is not None:
            argv += ["run-in-cgroup", self.cgroup(short), "--", self.attempt_bin]
        proc = subprocess.Popen(argv + [str(a) for a in args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        return out.strip(), proc.returncode, proc.pid, err.strip()

    def expected(self, short, pid, **fields):
        return dict(policy="hostwrites", zone="hw-" + short, workload=self.workload(short),
                    cgroup_id=os.stat(self.cgroup(short)).st_ino, pid=pid, comm="attempt",
                    **fields)


env, agent = harness.agent.module_agent_fixtures(Env, "hostwrites")


def works_outside_unreported(env, agent, *args):
    mark = agent.mark()
    out, rc, _, err = env.attempt(None, *args)
    assert (out, rc) == ("OK", 0), (args, out, err)
    agent.wait_alerts(mark, 0)


# ---- host writes ---------------------------------------------------------------------------------

HOST_FILES = {
    "sysctl": ("/proc/sys/kernel/core_pattern", "proc"),
    "sysrq_trigger": ("/proc/sysrq-trigger", "proc"),
    "sysfs": ("/sys/class/net/lo/mtu", "sysfs"),
}


@pytest.mark.parametrize("target", sorted(HOST_FILES))
def test_host_file_write_open_detected_inside_not_outside(env, agent, target):
    path, fstype = HOST_FILES[target]
    if not os.path.exists(path):
        pytest.skip("SKIPPED LOUDLY: %s does not exist on this kernel (e.g. CONFIG_MAGIC_SYSRQ "
                    "off); the VM suites test it" % path)
    path = os.path.realpath(path)  # the alert names the file opened: /sys/class/... is a link
    mark = agent.mark()
    out, rc, pid, err = env.attempt("hw", "open-write", path)
    assert (out, rc) == ("OK", 0), (out, err)  # detection only on this kernel
    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected("hw", pid, kind="host_write", verdict="detected",
                                       backend="tracepoint", write_target=target, path=path,
                                       fstype=fstype))
    assert alert["open_flags"] & 3 == os.O_WRONLY, alert
    works_outside_unreported(env, agent, "open-write", path)


def test_listed_host_path_by_every_name(env, agent):
    """The listed directory is matched by inode: the path itself, a symlink to it and a bind
    mount of it are one directory; the alert names the path the caller opened."""
    for name in (env.listed, env.link, env.bind):
        mark = agent.mark()
        out, rc, pid, err = env.attempt("hw", "open-write", os.path.join(name, "file"))
        assert (out, rc) == ("OK", 0), (out, err)
        (alert,) = agent.wait_alerts(mark, 1)
        seen = os.path.join(env.bind if name == env.bind else env.listed, "file")
        assert_alert(alert, **env.expected("hw", pid, kind="host_write", verdict="detected",
                                           write_target="host_path", path=seen))
    works_outside_unreported(env, agent, "open-write", os.path.join(env.listed, "file"))


def test_kill_lands_before_the_write(env, agent):
    """action kill: the open is reported at its exit and SIGKILL ends the caller before its
    write(2) reaches the file."""
    target = os.path.join(env.listed, "file")
    mark = agent.mark()
    out, rc, pid, err = env.attempt("hwkill", "write-file", target, "overwritten")
    assert rc == -9 and out == "", (rc, out, err)
    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected("hwkill", pid, kind="host_write", verdict="killed",
                                       write_target="host_path", path=target))
    with open(target) as f:
        assert f.read() == "original\n"


def test_writes_elsewhere_and_other_zones_unreported(env, agent):
    mark = agent.mark()
    for short, path in (("hw", os.path.join(env.elsewhere, "file")),
                        ("cg", "/proc/sys/kernel/core_pattern")):  # no host-write guard there
        out, rc, _, err = env.attempt(short, "open-write", path)
        assert (out, rc) == ("OK", 0), (short, path, out, err)
    agent.wait_alerts(mark, 0)


# ---- the cgroup guard ----------------------------------------------------------------------------

def test_move_out_of_the_workload_detected(env, agent):
    """A workload that writes its pid to the root's cgroup.procs: on this kernel the move
    happens; the open for write is reported (tracepoint). The move itself is not: when the
    kernel reports it (tp_btf/cgroup_attach_task) the writer already sits in the destination."""
    root = env.topo.cg2
    mark = agent.mark()
    out, rc, pid, err = env.attempt("cg", "move-self", root)
    assert (out, rc) == ("OK", 0), (out, err)
    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected("cg", pid, kind="cgroup_escape", verdict="detected",
                                       backend="tracepoint", escape="open",
                                       path=root + "/cgroup.procs"))
    works_outside_unreported(env, agent, "move-self", env.cgroup("cg"))


def test_moving_another_process_out_detected_twice(env, agent):
    """A workload moving another of its processes out: the open (tracepoint) and the move
    itself (tp_btf, with the moved pid and the destination's path in the hierarchy)."""
    sleeper = subprocess.Popen([env.attempt_bin, "run-in-cgroup", env.cgroup("cg"), "--",
                                "sleep", "30"])
    try:
        assert wait_until(lambda: str(sleeper.pid) in open(
            env.cgroup("cg", "cgroup.procs")).read().split(), 5)
        mark = agent.mark()
        out, rc, pid, err = env.attempt("cg", "move-pid", env.topo.cg2, sleeper.pid)
        assert (out, rc) == ("OK", 0), (out, err)
        alerts = agent.wait_alerts(mark, 2)
        by_escape = {a["escape"]: a for a in alerts}
        assert set(by_escape) == {"open", "move"}, alerts
        assert_alert(by_escape["move"], kind="cgroup_escape", verdict="detected",
                     backend="tp_btf", zone="hw-cg", workload=env.workload("cg"), pid=pid,
                     moved_pid=sleeper.pid, path="/")
    finally:
        sleeper.kill()
        sleeper.wait()


def test_move_into_another_workload_killed(env, agent):
    """action kill: SIGKILL at the open's exit, before the write: the process never moves."""
    mark = agent.mark()
    out, rc, pid, err = env.attempt("cgkill", "move-self", env.cgroup("hw"))
    assert rc == -9, (rc, out, err)
    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected("cgkill", pid, kind="cgroup_escape", verdict="killed",
                                       escape="open", peer_workload=env.workload("hw")))


def test_other_cgroups_files_detected(env, agent):
    mark = agent.mark()
    out, rc, pid, err = env.attempt("cg", "open-write", env.cgroup("hw", "cgroup.freeze"))
    assert (out, rc) == ("OK", 0), (out, err)
    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected("cg", pid, kind="cgroup_escape", escape="open",
                                       path=env.cgroup("hw", "cgroup.freeze"),
                                       peer_workload=env.workload("hw")))


def test_own_limits_detected_own_subtree_free(env, agent):
    """The workload's own limits are the platform's; its children and moves below are its own."""
    mark = agent.mark()
    out, rc, pid, err = env.attempt("cg", "open-write", env.cgroup("cg", "cgroup.max.descendants"))
    assert (out, rc) == ("OK", 0), (out, err)
    (alert,) = agent.wait_alerts(mark, 1)
    assert alert["kind"] == "cgroup_escape" and alert["escape"] == "open", alert
    mark = agent.mark()
    for args in (("move-self", env.cgroup("cg", "sub")),
                 ("open-write", env.cgroup("cg", "sub", "cgroup.max.descendants")),
                 ("open-write", env.cgroup("cg", "cgroup.procs"))):
        out, rc, _, err = env.attempt("cg", *args)
        assert (out, rc) == ("OK", 0), (args, out, err)
    agent.wait_alerts(mark, 0)


def test_clone_into_another_cgroup_detected(env, agent):
    mark = agent.mark()
    out, rc, pid, err = env.attempt("cg", "clone-into-cgroup", env.topo.cg2)
    assert (out, rc) == ("OK", 0), (out, err)
    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected("cg", pid, kind="cgroup_escape", verdict="detected",
                                       backend="tracepoint", escape="clone_into_cgroup"))
    mark = agent.mark()
    out, rc, _, err = env.attempt("cg", "clone-into-cgroup", env.cgroup("cg", "sub"))
    assert (out, rc) == ("OK", 0), (out, err)
    agent.wait_alerts(mark, 0)
    works_outside_unreported(env, agent, "clone-into-cgroup", env.topo.cg2)


def test_other_processes_proc_files_detected_own_free(env, agent):
    """A workload may not open for write the /proc files of a process outside it (here pid 1's
    oom_score_adj: the same holds for the agent's); its own are its own."""
    mark = agent.mark()
    out, rc, pid, err = env.attempt("cg", "open-write", "/proc/1/oom_score_adj")
    assert (out, rc) == ("OK", 0), (out, err)
    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected("cg", pid, kind="cgroup_escape", verdict="detected",
                                       backend="tracepoint", escape="other_process",
                                       target_pid=1, path="/proc/1/oom_score_adj"))
    mark = agent.mark()
    out, rc, _, err = env.attempt("cg", "open-write", "/proc/self/oom_score_adj")
    assert (out, rc) == ("OK", 0), (out, err)
    agent.wait_alerts(mark, 0)
    out, rc, pid, err = env.attempt("cgkill", "open-write", "/proc/%d/oom_score_adj" % os.getpid())
    assert rc == -9, (rc, out, err)
    (alert,) = agent.wait_alerts(mark, 1)
    assert alert["escape"] == "other_process" and alert["verdict"] == "killed", alert
    assert alert["target_pid"] == os.getpid(), alert
    works_outside_unreported(env, agent, "open-write", "/proc/1/oom_score_adj")


def test_runtime_moves_into_workloads_unreported(env, agent):
    """The runtime (here: the test runner, outside every workload) places processes into
    workload cgroups: every attempt above starts that way; none of it is an escape."""
    mark = agent.mark()
    for short in ZONES:
        out, rc, _, err = env.attempt(short, "open-write", os.path.join(env.elsewhere, "file"))
        assert (out, rc) == ("OK", 0), (short, out, err)
    agent.wait_alerts(mark, 0)


def test_backends_in_metrics(env, agent):
    served = {labels["guard"]: labels["backend"] for name, labels, value in agent.metrics()
              if name == "guardrail_guard_backend" and value == 1}
    assert served.get("host-writes") == "tracepoint", served
    assert served.get("cgroups") == "tp_btf", served


# ---- the 32-bit syscall ABI ----------------------------------------------------------------------

@pytest.mark.parametrize("call", ["open-write", "openat-write"])
def test_ia32_write_open_is_judged_like_a_native_one(env, agent, call):
    """The same write open through int $0x80 from a 64-bit process (the ia32 open and openat):
    the per-syscall tracepoints never fire for a 32-bit syscall on x86, so the open exits are
    judged at the raw sys_exit tracepoint, which fires for every ABI."""
    require_ia32(env.attempt_bin)
    target = os.path.join(env.listed, "file")
    mark = agent.mark()
    out, rc, _, err = env.attempt(None, "ia32", call, target)
    assert (out, rc) == ("OK", 0), (out, err)
    agent.wait_alerts(mark, 0)  # outside every workload: no alert
    out, rc, pid, err = env.attempt("hw", "ia32", call, target)
    assert (out, rc) == ("OK", 0), (out, err)  # detection only on this kernel
    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected("hw", pid, kind="host_write", verdict="detected",
                                       backend="tracepoint", write_target="host_path",
                                       path=target))
    # action kill: the caller dies at the open's exit, before it can write.
    out, rc, pid, err = env.attempt("hwkill", "ia32", call, target)
    assert rc == -9 and out == "", (rc, out, err)
    (_, alert) = agent.wait_alerts(mark, 2)
    assert_alert(alert, **env.expected("hwkill", pid, kind="host_write", verdict="killed",
                                       write_target="host_path", path=target))
