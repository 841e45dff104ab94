"""Host guards (zones[].guards) against the real agent, on the backends this kernel gives them.

The host kernel refuses BPF-LSM (see `guardrail probe`), so the guards run on their fallbacks:

    raw-sockets      cgroup/sock_create    prevention: socket() gets EPERM, verdict "blocked"
    runtime-sockets  cgroup/connect_unix   prevention by the path the client passes
    capabilities     tp_btf/cap_capable    detection ("detected"), or "killed" with action kill
    mounts           tp_btf/sys_exit      detection; kill kills, the mount may still happen
    bpf              tp_btf/sys_exit      detection; kill kills

The syscall guards see every syscall ABI: the ia32 tests make the same calls through int $0x80.

One agent serves the whole module: each zone below selects its own workload cgroup
(/gr-itest-<id>/hg/<zone>/w) and guards only what its tests need, so every count is exact (for
instance the mount zone has no capability guard, whose CAP_SYS_ADMIN events would otherwise join
the mount event). Every attempt is made from inside the zone's workload cgroup and again from
outside every workload (the test runner's cgroup), where it must work and raise no event. The
agent runs with --dedup-window-seconds 0 --rate-limit 0: one alert per event.
"""
import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import harness.agent
from harness.agent import assert_alert, schema_errors, wait_metric
from harness import BUILD_ATTEMPT, NETPROBE, require_ia32
from harness.topology import is_mounted, Proc, remove_cgroups, run, wait_until

# zone suffix -> the guards of that zone (YAML flow mappings, one per line)
ZONE_GUARDS = {
    "sock": ["rawSockets: {action: deny}",
             "runtimeSockets: {action: deny, paths: [%(runtime_socket)s]}"],
    "capdeny": ["capabilities: {deny: [ALL], action: deny}"],
    "capkill": ["capabilities: {deny: [net_raw], action: kill}"],
    "mount": ["mounts: {action: deny}"],
    "mountkill": ["mounts: {action: kill}"],
    "bpf": ["bpf: {action: deny}"],
    "bpfkill": ["bpf: {action: kill}"],
    "netadmin": ["capabilities: {deny: [net_admin], action: deny}"],
    "sysadmin": ["capabilities: {deny: [sys_admin], action: deny}"],
    "hostwrite": ["hostWrites: {action: deny}"],  # its tests: test_host_writes.py
}

# What `guardrail probe` must choose on a kernel without BPF-LSM, and what the agent reports.
FALLBACK_BACKENDS = {
    "network": "cgroup_sock_addr+cgroup_skb",
    "raw-sockets": "cgroup_sock",
    "runtime-sockets": "cgroup_connect_unix",
    "capabilities": "tp_btf",
    "mounts": "tracepoint",
    "bpf": "tracepoint",
    "host-writes": "tracepoint",
    "cgroups": "tp_btf",
    "agent": "tp_btf",
}

CAP_NET_RAW = 13
ETH_P_ALL_NETWORK_ORDER = 0x0300  # htons(ETH_P_ALL) on a little-endian machine, as passed
IPPROTO_ICMP = 1
BPF_MAP_CREATE = 0


class HostGuardEnv:
    """The module's agent, its workload cgroups, and the runtime socket it guards."""

    def __init__(self, topo, binary, workdir):
        self.topo = topo
        self.binary = binary
        self.workdir = workdir
        self.base_rel = topo.base_rel + "/hg"
        self.runtime_socket = "/run/gr-itest-%d.sock" % topo.id
        self.runtime_link = "/run/gr-itest-%d-link.sock" % topo.id
        self.agent = None
        self.server = None
        self._cgroups = []   # created by us, parents first
        self._procs = []     # every probe we started (killed by pid in teardown)

    # ---- setup / teardown ------------------------------------------------------------------

    def policy(self):
        lines = ["apiVersion: guardrail.io/v1alpha1", "kind: GuardrailPolicy",
                 "metadata: {name: hostguards}", "spec:", "  mode: enforce", "  zones:"]
        for short, guards in ZONE_GUARDS.items():
            lines += ["    - name: hg-%s" % short,
                      '      selector: {cgroups: ["%s/%s/*"]}' % (self.base_rel, short),
                      "      guards:"]
            lines += ["        " + g % {"runtime_socket": self.runtime_socket} for g in guards]
        return "\n".join(lines) + "\n"

    def setup(self):
        for short in ZONE_GUARDS:
            for rel in (self.base_rel, "%s/%s" % (self.base_rel, short),
                        "%s/%s/w" % (self.base_rel, short)):
                path = self.topo.cg2 + rel
                if not os.path.isdir(path):
                    os.mkdir(path)
                    self._cgroups.append(path)
        for path in (self.runtime_socket, self.runtime_link):
            assert not os.path.lexists(path), "%s exists already" % path
        # The runtime socket is served from outside every workload, so connecting from outside
        # works and the only thing between a workload and it is the guard.
        self.server = Proc([sys.executable, NETPROBE, "serve-unix", self.runtime_socket],
                           "serve-unix")
        self._procs.append(self.server)
        self.server.wait_ready()
        os.symlink(self.runtime_socket, self.runtime_link)
        self.agent = harness.agent.start_agent(self.binary, self.workdir, self.topo,
                                          policy=self.policy(), label="hostguards")
        return self

    def teardown(self):
        errors = []
        harness.agent.shutdown_into(self.agent, errors)
        for proc in self._procs:
            proc.stop()
        for path in (self.runtime_link, self.runtime_socket):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        errors += remove_cgroups(self._cgroups)
        if errors:
            raise RuntimeError("host guard teardown: " + "; ".join(errors))

    # ---- queries ---------------------------------------------------------------------------

    def cgroup_dir(self, short):
        return "%s%s/%s/w" % (self.topo.cg2, self.base_rel, short)

    def workload(self, short):
        return "hg-%s:%s/%s/w" % (short, self.base_rel, short)

    def expected(self, short, pid, **fields):
        """The fields every alert of a probe `pid` in zone `short` must carry."""
        return dict(policy="hostguards", zone="hg-" + short, workload=self.workload(short),
                    cgroup_id=os.stat(self.cgroup_dir(short)).st_ino, pid=pid, tid=pid,
                    comm="netprobe", **fields)

    # ---- probes ----------------------------------------------------------------------------

    def probe(self, zone, *args, timeout=15):
        """Run netprobe (in zone's workload cgroup, or outside every workload when zone is None)
        to completion; returns (returncode, JSON lines, pid). Killed by pid on a timeout."""
        argv = [sys.executable, NETPROBE]
        if zone is not None:
            argv += ["--cgroup", self.cgroup_dir(zone)]
        proc = Proc(argv + [str(a) for a in args],
                    "%s:%s" % (zone or "outside", " ".join(str(a) for a in args)))
        self._procs.append(proc)
        rc = proc.wait_exit(timeout)
        return rc, proc.json_lines(), proc.pid, proc.stderr()

    def attempt(self, zone, *args):
        """A probe that must exit 0 and print one JSON result line; returns (result, pid)."""
        rc, out, pid, err = self.probe(zone, *args)
        assert rc == 0 and len(out) == 1, (
            "netprobe %s (%s) exited %d with %r; stderr: %s"
            % (" ".join(map(str, args)), zone or "outside", rc, out, err))
        return out[0], pid



env, agent = harness.agent.module_agent_fixtures(HostGuardEnv, "hostguards")



# ---- raw and packet sockets ---------------------------------------------------------------------

@pytest.mark.parametrize("family", ["inet", "inet6"])
def test_raw_socket_blocked_inside_works_outside(env, agent, family):
    mark = agent.mark()
    inside, pid = env.attempt("sock", "raw-socket", "--family", family)
    assert inside == {"result": "error", "errno": "EPERM", "pid": pid}
    outside, _ = env.attempt(None, "raw-socket", "--family", family)
    assert outside["result"] == "ok", outside
    # A zone that does not guard raw sockets is not affected either.
    other, _ = env.attempt("bpf", "raw-socket", "--family", family)
    assert other["result"] == "ok", other

    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected("sock", pid, kind="raw_socket", verdict="blocked",
                                       backend="cgroup_sock", socket_family=family,
                                       socket_type="raw", socket_protocol=IPPROTO_ICMP))


def test_packet_socket_detected_inside_works_outside(env, agent):
    """On this kernel's fallback, cgroup/sock_create only runs from inet_create/inet6_create, never
    for AF_PACKET: packet sockets are DETECTED at socket() (tp_btf/sys_exit),
    not prevented. `guardrail probe` says so ("prevention (raw inet); detection (+kill)
    (packet)"); the LSM backend (tests/vm) prevents them."""
    mark = agent.mark()
    outside, _ = env.attempt(None, "packet-socket")
    assert outside["result"] == "ok", outside
    agent.wait_alerts(mark, 0)  # outside every workload: no alert
    inside, pid = env.attempt("sock", "packet-socket")
    assert inside["result"] == "ok", inside
    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected("sock", pid, kind="raw_socket", verdict="detected",
                                       backend="tracepoint", socket_family="packet",
                                       socket_type="raw",
                                       socket_protocol=ETH_P_ALL_NETWORK_ORDER))


# ---- runtime sockets ----------------------------------------------------------------------------

def test_runtime_socket_path_blocked_inside_works_outside(env, agent):
    mark = agent.mark()
    inside, pid = env.attempt("sock", "connect-unix", env.runtime_socket)
    assert inside == {"result": "error", "errno": "EPERM", "pid": pid}
    outside, _ = env.attempt(None, "connect-unix", env.runtime_socket)
    assert outside == {"result": "ok", "greeting": "hello", "pid": outside["pid"]}

    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected("sock", pid, kind="runtime_socket", verdict="blocked",
                                       backend="cgroup_connect_unix", path=env.runtime_socket,
                                       inode=0, reason="runtime_socket"))


def test_runtime_socket_through_symlink_is_not_caught(env, agent):
    """DOCUMENTED LIMITATION of the cgroup/connect_unix fallback in denylist mode (see `guardrail
    probe`: "a symlink, hard link or bind mount under another canonical name is not
    recognised"; allowlist mode closes it, tests/integration/test_unix_sockets.py): the program compares the path the client passed, so a workload that connects
    through a symlink to the runtime socket reaches it, and no alert is raised.

    This test pins the hole as it is: the connect succeeds and no event is raised. When the
    guard matches the socket's inode (the BPF-LSM backend does, via unix_stream_connect), this
    test must flip to EPERM plus one runtime_socket alert."""
    mark = agent.mark()
    inside, _ = env.attempt("sock", "connect-unix", env.runtime_link)
    assert inside["result"] == "ok" and inside["greeting"] == "hello", inside
    outside, _ = env.attempt(None, "connect-unix", env.runtime_link)
    assert outside["result"] == "ok", outside
    agent.wait_alerts(mark, 0)


# ---- capabilities -------------------------------------------------------------------------------
# The attempts run with only CAP_NET_RAW (netprobe drop-caps-except, done before joining the
# cgroup): a root process with CAP_SYS_ADMIN passes many silent kernel checks that a
# deny-ALL capability guard would report too.

def assert_alert_only_inside(env, agent, mark, probe_args, zone, pid, **fields):
    """The probe `probe_args` outside every workload still works, and the attempt by `pid` in
    `zone` made exactly one alert since `mark`, with `fields`."""
    outside, _ = env.attempt(None, *probe_args)
    assert outside["result"] == "ok", outside

    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected(zone, pid, **fields))


NET_RAW_SOCKET = ["drop-caps-except", "net_raw", "--", "raw-socket"]


def test_capability_use_detected_inside_not_outside(env, agent):
    mark = agent.mark()
    inside, pid = env.attempt("capdeny", *NET_RAW_SOCKET)
    assert inside["result"] == "ok", "detection only: the raw socket must still open: %r" % inside
    # A check that fails did no harm and is not reported.
    refused, _ = env.attempt("capdeny", "drop-caps-except", "none", "--", "raw-socket")
    assert refused["errno"] == "EPERM", refused
    assert_alert_only_inside(env, agent, mark, NET_RAW_SOCKET, "capdeny", pid, kind="capability",
                             verdict="detected", backend="tp_btf", capability="CAP_NET_RAW",
                             capability_number=CAP_NET_RAW)


def test_capability_use_killed_inside_not_outside(env, agent):
    mark = agent.mark()
    rc, out, pid, err = env.probe("capkill", *NET_RAW_SOCKET)
    assert rc == -signal.SIGKILL, "want death by SIGKILL, got rc %d, %r, %s" % (rc, out, err)
    assert out == [], "the process was killed in socket(): it printed %r" % out
    assert_alert_only_inside(env, agent, mark, NET_RAW_SOCKET, "capkill", pid, kind="capability",
                             verdict="killed", backend="tp_btf", capability="CAP_NET_RAW",
                             capability_number=CAP_NET_RAW)


# ---- mounts -------------------------------------------------------------------------------------

def test_mount_detected_inside_not_outside(env, agent, mount_dir):
    mark = agent.mark()
    inside, pid = env.attempt("mount", "mount-tmpfs", mount_dir)
    assert inside == {"pid": pid, "result": "ok", "unmounted": True}, (
        "detection only: the mount must happen: %r" % inside)
    outside, _ = env.attempt(None, "mount-tmpfs", mount_dir)
    assert outside["result"] == "ok", outside

    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected("mount", pid, kind="mount", verdict="detected",
                                       backend="tracepoint", operation="mount", source="tmpfs",
                                       target=mount_dir, fstype="tmpfs", flags=0))


def test_mount_killed_inside_not_outside(env, agent, mount_dir):
    """Kill is not prevention on this backend: the SIGKILL lands before mount() returns, but
    the mount itself may still happen (the mount_dir fixture unmounts it)."""
    mark = agent.mark()
    rc, out, pid, err = env.probe("mountkill", "mount-tmpfs", mount_dir)
    assert rc == -signal.SIGKILL, "want death by SIGKILL, got rc %d, %r, %s" % (rc, out, err)
    assert out == [], out
    run(["umount", "-l", mount_dir], check=False)
    outside, _ = env.attempt(None, "mount-tmpfs", mount_dir)
    assert outside["result"] == "ok", outside

    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, **env.expected("mountkill", pid, kind="mount", verdict="killed",
                                       backend="tracepoint", operation="mount", source="tmpfs",
                                       target=mount_dir, fstype="tmpfs", flags=0))


# ---- bpf() --------------------------------------------------------------------------------------

def assert_bpf_alert_only_inside(env, agent, mark, zone, pid, verdict):
    """bpf() outside every workload still works, and the attempt by `pid` in `zone` made exactly
    one alert since `mark`, with `verdict`."""
    assert_alert_only_inside(env, agent, mark, ["bpf-map-create"], zone, pid, kind="bpf",
                             verdict=verdict, backend="tracepoint", bpf_command=BPF_MAP_CREATE)


def test_bpf_detected_inside_not_outside(env, agent):
    mark = agent.mark()
    inside, pid = env.attempt("bpf", "bpf-map-create")
    assert inside["result"] == "ok", "detection only: bpf() must still work: %r" % inside
    assert_bpf_alert_only_inside(env, agent, mark, "bpf", pid, "detected")


def test_bpf_killed_inside_not_outside(env, agent):
    mark = agent.mark()
    rc, out, pid, err = env.probe("bpfkill", "bpf-map-create")
    assert rc == -signal.SIGKILL, "want death by SIGKILL, got rc %d, %r, %s" % (rc, out, err)
    assert out == [], out
    assert_bpf_alert_only_inside(env, agent, mark, "bpfkill", pid, "killed")


# ---- metrics and the probe ------------------------------------------------------------------------

def test_guard_backends_in_metrics_match_probe(env, agent):
    res = subprocess.run([env.binary, "probe", "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    probed = {g["guard"]: g["backend"] for g in report["guards"]}
    served = collections.defaultdict(list)
    for name, labels, value in agent.metrics():
        if name == "guardrail_guard_backend" and value == 1:
            served[labels["guard"]].append(labels["backend"])
    assert {g: b for g, (b,) in served.items()} == probed and all(
        len(b) == 1 for b in served.values()), (
        "guardrail_guard_backend %r != guardrail probe --json guards %r" % (dict(served), probed))
    lsm = {f["name"]: f["available"] for f in report["features"]}
    if not (lsm.get("bpf_lsm") or lsm.get("lsm_cgroup")):
        assert probed == FALLBACK_BACKENDS


def test_violation_counter_counts_host_kind(env, agent):
    labels = dict(kind="raw_socket", verdict="blocked", zone="hg-sock")
    before = agent.metric("guardrail_violations_total", **labels) or 0
    mark = agent.mark()
    inside, _ = env.attempt("sock", "raw-socket")
    assert inside["errno"] == "EPERM", inside
    agent.wait_alerts(mark, 1)
    assert wait_metric(agent, before + 1, "guardrail_violations_total", **labels) == before + 1


def test_every_alert_of_the_module_validates(env, agent):
    """Runs last: whatever the module's agent wrote is schema-valid and of a host kind."""
    alerts = agent.alerts()
    assert alerts, "the module's tests raised no alert at all"
    bad = [(a, errs) for a in alerts if (errs := schema_errors(a))]
    assert not bad, "\n".join("%s\n  %s" % (json.dumps(a), "; ".join(e)) for a, e in bad)
    assert {a["kind"] for a in alerts} <= harness.agent.HOST_KINDS


# ---- the schema's kind-specific fields (no root needed) ----------------------------------------

_COMMON = {
    "time": "2026-11-28T22:53:11.441515303Z", "first_time": "2026-11-28T22:53:11.441515303Z",
    "last_time": "2026-11-28T22:53:11.441515303Z", "count": 1, "policy": "p", "workload": "z:/a",
    "zone": "z", "cgroup_id": 7, "pid": 1, "tid": 1, "ppid": 0, "comm": "netprobe", "exe": "",
    "parent_exe": "", "node": "n", "labels": {},
}
_NET = {"kind": "net_connect", "verdict": "blocked", "backend": "cgroup_sock_addr",
        "direction": "egress", "protocol": "tcp", "family": "ipv4", "src": "0.0.0.0", "sport": 0,
        "dst": "198.18.0.4", "dport": 80, "peer_workload": "", "peer_zone": "world",
        "peer_scope": "address", "rule": "default-deny"}
_HOST = {
    "capability": {"verdict": "detected", "backend": "tp_btf", "capability": "CAP_NET_RAW",
                   "capability_number": 13},
    "raw_socket": {"verdict": "detected", "backend": "tracepoint", "socket_family": "packet",
                   "socket_type": "raw", "socket_protocol": 768},
    "mount": {"verdict": "killed", "backend": "tracepoint", "operation": "mount",
              "source": "tmpfs", "target": "/mnt", "fstype": "tmpfs", "flags": 0},
    "runtime_socket": {"verdict": "blocked", "backend": "cgroup_connect_unix",
                       "path": "/run/docker.sock", "inode": 0, "reason": "runtime_socket"},
    "unix_socket": {"verdict": "blocked", "backend": "lsm", "path": "@spire", "inode": 0,
                    "reason": "other_workload", "peer_workload": "agent-b"},
    "bpf": {"verdict": "detected", "backend": "tracepoint", "bpf_command": 0},
}


@pytest.mark.no_root
@pytest.mark.parametrize("kind", sorted(_HOST))
def test_schema_host_kinds(kind):
    alert = dict(_COMMON, kind=kind, **_HOST[kind])
    assert schema_errors(alert) == []
    field = sorted(set(_HOST[kind]) - {"verdict", "backend"})[0]
    missing = {k: v for k, v in alert.items() if k != field}
    assert schema_errors(missing), "an alert of kind %s without %r validated" % (kind, field)
    assert schema_errors(dict(alert, dport=80)), "a %s alert with a network field validated" % kind
    other = next(k for k in sorted(_HOST) if k != kind)
    foreign = sorted(set(_HOST[other]) - {"verdict", "backend"})[0]
    assert schema_errors(dict(alert, **{foreign: _HOST[other][foreign]})), (
        "a %s alert with the %s field %r validated" % (kind, other, foreign))
    assert schema_errors(dict(alert, backend="cgroup_skb")), "backend cgroup_skb for " + kind


@pytest.mark.no_root
def test_schema_network_kind_keeps_its_contract():
    alert = dict(_COMMON, **_NET)
    assert schema_errors(alert) == []
    assert schema_errors({k: v for k, v in alert.items() if k != "direction"})
    assert schema_errors(dict(alert, capability="CAP_NET_RAW"))
    assert schema_errors(dict(alert, unknown_field=1))


# ---- the rest of the issue's attempts, with the VM tests' static attempt tool -------------------
#
# tests/tools/attempt.c makes one privileged action per run (mount family, CAP_NET_ADMIN and
# CAP_SYS_ADMIN actions, ...), the same actions the BPF-LSM tests make in the VMs; here each runs
# inside a workload cgroup and outside every workload against the fallback backends.


@pytest.fixture(scope="module")
def attempt_bin(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("attempt") / "attempt")
    res = subprocess.run([BUILD_ATTEMPT, out], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.fail("cannot build tests/tools/attempt.c: " + res.stderr[-2000:])
    return out


def attempt_run(env, binary, zone, *args):
    """attempt ARGS in zone's workload cgroup (or outside every workload): (line, pid)."""
    argv = [binary]
    if zone is not None:
        argv += ["run-in-cgroup", env.cgroup_dir(zone), "--", binary]
    proc = subprocess.Popen(argv + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out.strip(), proc.pid, err.strip()


@pytest.fixture
def mount_dirs(tmp_path):
    """A target, a host path to bind or clone, and a tmpfs to remount; all unmounted after."""
    target, host, remount = (tmp_path / n for n in ("target", "hostpath", "remount"))
    for d in (target, host, remount):
        d.mkdir()
    run(["mount", "-t", "tmpfs", "gr-remount", str(remount)])
    yield str(target), str(host), str(remount)
    for d in (target, remount):
        for _ in range(10):
            if not is_mounted(str(d)):
                break
            run(["umount", "-l", str(d)], check=False)
        assert not is_mounted(str(d)), "could not unmount %s" % d


def new_alerts(agent, mark, kind):
    return [a for a in agent.alerts()[mark:] if a["kind"] == kind]


# Each mount action makes one new mount, so one event: fsopen/fsconfig make none and a
# move_mount of a detached mount (MOVE_MOUNT_F_EMPTY_PATH) was reported when it was made.
MOUNT_ACTIONS = {
    "bind-mount": (lambda t, h, r: ("bind-mount", h, t), "mount"),
    "new-mount-api": (lambda t, h, r: ("new-mount-api", t), "fsmount"),
    "fsmount-detached": (lambda t, h, r: ("fsmount-detached",), "fsmount"),
    "open-tree-clone": (lambda t, h, r: ("open-tree-clone", h, t), "open_tree"),
    "remount": (lambda t, h, r: ("remount", r), "mount"),
    "userns-mount": (lambda t, h, r: ("userns-mount", t), "mount"),
}


@pytest.mark.parametrize("action", sorted(MOUNT_ACTIONS))
def test_every_mount_path_is_detected_once_inside_not_outside(env, agent, attempt_bin, mount_dirs,
                                                               action):
    """Detection only on this kernel: the action succeeds, with exactly one mount event inside
    the workload and none outside it."""
    build, operation = MOUNT_ACTIONS[action]
    args = build(*mount_dirs)
    mark = agent.mark()
    inside, pid, err = attempt_run(env, attempt_bin, "mount", *args)
    assert inside == "OK", (inside, err)
    outside, _, err = attempt_run(env, attempt_bin, None, *args)
    assert outside == "OK", (outside, err)
    (alert,) = agent.wait_alerts(mark, 1)
    assert alert["kind"] == "mount" and alert["verdict"] == "detected", alert
    assert alert["operation"] == operation and alert["zone"] == "hg-mount", alert
    assert alert["workload"] == env.workload("mount") and alert["pid"] == pid, alert
    assert not schema_errors(alert), schema_errors(alert)


def test_cap_net_admin_is_detected_inside_not_outside(env, agent, attempt_bin):
    """ioctl(SIOCSIFFLAGS) on lo asks for CAP_NET_ADMIN: detected, exactly once, inside."""
    mark = agent.mark()
    inside, pid, err = attempt_run(env, attempt_bin, "netadmin", "net-admin")
    assert inside == "OK", (inside, err)
    outside, _, err = attempt_run(env, attempt_bin, None, "net-admin")
    assert outside == "OK", (outside, err)
    (alert,) = agent.wait_alerts(mark, 1)
    assert (alert["kind"], alert["capability"], alert["verdict"]) == (
        "capability", "CAP_NET_ADMIN", "detected"), alert
    assert alert["pid"] == pid and alert["backend"] == "tp_btf", alert


def test_cap_sys_admin_is_detected_inside_not_outside(env, agent, attempt_bin):
    """sethostname() asks for CAP_SYS_ADMIN. On tp_btf the kernel's own silent CAP_SYS_ADMIN
    probes (memory accounting on mmap, for a process that holds it) are indistinguishable from
    use, so a root process yields several events: assert at least one, all CAP_SYS_ADMIN from the
    attempt, and none from outside. (The LSM backend in tests/vm refuses it with one event.)"""
    mark = agent.mark()
    inside, pid, err = attempt_run(env, attempt_bin, "sysadmin", "sys-admin")
    assert inside == "OK", (inside, err)
    assert wait_until(lambda: new_alerts(agent, mark, "capability"), 5), "no capability alert"
    time.sleep(0.8)  # let the rest of the process's checks arrive
    got = agent.alerts()[mark:]
    assert got and all(a["capability"] == "CAP_SYS_ADMIN" and a["zone"] == "hg-sysadmin"
                       for a in got), got
    assert pid in {a["pid"] for a in got}, (pid, got)
    mark = agent.mark()
    outside, _, err = attempt_run(env, attempt_bin, None, "sys-admin")
    assert outside == "OK", (outside, err)
    agent.wait_alerts(mark, 0)


def test_runtime_socket_through_a_hard_link_is_not_caught(env, agent, attempt_bin):
    """DOCUMENTED LIMITATION of the path-matching fallback, like the symlink: a hard link to the
    runtime socket under another name connects unseen (the LSM backend, matching the inode,
    refuses it in tests/vm)."""
    link = "/run/gr-itest-%d-hard.sock" % env.topo.id
    os.link(env.runtime_socket, link)
    try:
        mark = agent.mark()
        inside, _, err = attempt_run(env, attempt_bin, "sock", "connect-unix", link)
        assert inside == "OK", (inside, err)
        agent.wait_alerts(mark, 0)
    finally:
        os.unlink(link)


# ---- the 32-bit syscall ABI ---------------------------------------------------------------------
# int $0x80 from a 64-bit process reaches the kernel's ia32 syscall table on every x86-64 kernel
# with IA32 emulation (Debian's default). The per-syscall tracepoints never fire for such a call
# (the kernel's ARCH_TRACE_IGNORE_COMPAT_SYSCALLS), which once let a workload mount, make packet
# sockets or call bpf() unseen on this backend; the guards now watch the raw syscall tracepoints.

IA32_ACTIONS = {
    # action: (attempt args from the mount target, zone, kind, alert fields)
    "mount-tmpfs": (lambda t: ("mount-tmpfs", t), "mount", "mount", {"operation": "mount"}),
    "packet-socket": (lambda t: ("packet-socket",), "sock", "raw_socket",
                      {"socket_family": "packet", "socket_protocol": ETH_P_ALL_NETWORK_ORDER}),
    "bpf-map-create": (lambda t: ("bpf-map-create",), "bpf", "bpf",
                       {"bpf_command": BPF_MAP_CREATE}),
}


@pytest.mark.parametrize("action", sorted(IA32_ACTIONS))
def test_ia32_syscall_is_detected_like_a_native_one(env, agent, attempt_bin, mount_dirs, action):
    build, zone, kind, fields = IA32_ACTIONS[action]
    args = build(mount_dirs[0])
    require_ia32(attempt_bin)
    mark = agent.mark()
    outside, _, err = attempt_run(env, attempt_bin, None, "ia32", *args)
    assert outside == "OK", (outside, err)
    agent.wait_alerts(mark, 0)  # outside every workload: no alert
    inside, pid, err = attempt_run(env, attempt_bin, zone, "ia32", *args)
    assert inside == "OK", ("detection only on this kernel", inside, err)
    (alert,) = agent.wait_alerts(mark, 1)
    want = env.expected(zone, pid, kind=kind, verdict="detected", backend="tracepoint", **fields)
    want["comm"] = "attempt"
    assert_alert(alert, **want)


def test_ia32_bpf_is_killed(env, agent, attempt_bin):
    require_ia32(attempt_bin)
    mark = agent.mark()
    argv = [attempt_bin, "run-in-cgroup", env.cgroup_dir("bpfkill"), "--", attempt_bin, "ia32",
            "bpf-map-create"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=15)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)
    (alert,) = agent.wait_alerts(mark, 1)
    assert alert["kind"] == "bpf" and alert["verdict"] == "killed", alert
    assert alert["zone"] == "hg-bpfkill" and alert["backend"] == "tracepoint", alert
