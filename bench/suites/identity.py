"""Container start -> identity in the maps: with the tests' private dockerd
(tests/integration/harness/docker.py: own socket, bridge 198.18.0.1/24, busybox image), `docker
run` a container that the policy places in a zone by its label, and time until the agent has
bound its cgroup: its cgroup id is a key of the active workloads map set (policy_state.active_set
selects maps/policy_maps/workloads_0 or _1 in the agent's pin dir), read through bpf(2) every
millisecond (libbpf's bpf_obj_get and bpf_map_lookup_elem through ctypes: a bpftool process per
poll would take longer than the poll interval).

Reported from the `docker run` call, from the container's start (inspect State.StartedAt, wall
clock), and the agent's own figure (its log: "identified N ms after its start event").
"""
import ctypes
import datetime
import os
import re
import subprocess
import sys
import time

try:
    from . import _pipeline_common as pc
except ImportError:  # loaded by file path, not as a package
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _pipeline_common as pc

SUITE = "identity"

ZONE_LABEL = "guardrail.io/zone"
POLL_S = 0.001
IDENTIFIED_RE = re.compile(r"container ([0-9a-f]{12}) identified ([0-9.]+) ms after its start")


class PinnedMaps:
    """The agent's pinned policy_state and workloads maps, read with bpf(2) through libbpf."""

    def __init__(self, pin_dir):
        self.lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
        self.lib.bpf_obj_get.argtypes = [ctypes.c_char_p]
        self.lib.bpf_map_lookup_elem.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        d = os.path.join(pin_dir, "maps", "policy_maps")
        self.fds = []
        self.state = self._open(os.path.join(d, "policy_state"))
        self.sets = [self._open(os.path.join(d, "workloads_%d" % i)) for i in (0, 1)]
        self.value = ctypes.create_string_buffer(4096)  # larger than any value of these maps

    def _open(self, path):
        fd = self.lib.bpf_obj_get(path.encode())
        if fd < 0:
            raise RuntimeError("bpf_obj_get %s: %s" % (path, os.strerror(ctypes.get_errno())))
        self.fds.append(fd)
        return fd

    def bound(self, cgroup_id):
        """True once cgroup_id is a key of the active workloads set."""
        zero = ctypes.c_uint32(0)
        if self.lib.bpf_map_lookup_elem(self.state, ctypes.byref(zero), self.value) != 0:
            return False
        active = int.from_bytes(self.value.raw[:4], "little") & 1  # gr_policy_state.active_set
        key = ctypes.c_uint64(cgroup_id)
        return self.lib.bpf_map_lookup_elem(self.sets[active], ctypes.byref(key),
                                            self.value) == 0

    def close(self):
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def _started_at(text):
    """RFC 3339 with nanoseconds -> Unix seconds (float)."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", text)
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return base + float("0." + (m.group(2) or "0"))


def _one(daemon, maps, docker_cgroups, rep):
    """Starts one labelled container; -> (run->cgroup, run->bound, start->bound) seconds, id."""
    before = set(os.listdir(docker_cgroups)) if os.path.isdir(docker_cgroups) else set()
    name = "grbench-ident-%d-%d" % (os.getpid(), rep)
    argv = ["/usr/bin/docker", "-H", "unix://" + daemon.socket, "run", "-d", "--name", name,
            "--label", "guardrail.io/itest-owner=%s" % daemon._owner,
            "--label", "%s=bench" % ZONE_LABEL, "gr-busybox:latest", "sleep", "3600"]
    env = dict(os.environ, DOCKER_CONFIG=os.path.join(daemon.workdir, "cli-config"))
    env.pop("DOCKER_HOST", None)
    t0, w0 = time.monotonic(), time.time()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    cgroup_id = t_cgroup = t_bound = w_bound = None
    deadline = t0 + 30
    while time.monotonic() < deadline:
        if cgroup_id is None:
            new = [e for e in os.listdir(docker_cgroups) if e not in before
                   and len(e) == 64] if os.path.isdir(docker_cgroups) else []
            if new:
                cgroup_id = os.stat(os.path.join(docker_cgroups, new[0])).st_ino
                t_cgroup = time.monotonic()
        if cgroup_id is not None and maps.bound(cgroup_id):
            t_bound, w_bound = time.monotonic(), time.time()
            break
        time.sleep(POLL_S)
    out, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        raise RuntimeError("docker run failed: %s" % err.strip())
    cid = out.strip().splitlines()[-1]
    daemon.started.append(cid)
    started = _started_at(daemon.inspect(cid)["State"]["StartedAt"])
    if t_bound is None:
        raise RuntimeError("container %s never bound within 30 s" % cid[:12])
    return (t_cgroup - t0, t_bound - t0, w_bound - started, w_bound - w0), cid


def _stub_pytest():
    """The harness module declares pytest fixtures; without pytest (a python3 that lacks it)
    those decorators are all it needs, so a stand-in is enough to use its Dockerd."""
    try:
        import pytest  # noqa: F401
    except ImportError:
        import types

        class Skipped(Exception):
            pass

        def skip(reason):
            raise Skipped(reason)
        stub = types.ModuleType("pytest")
        stub.fixture = lambda *a, **k: (a[0] if a and callable(a[0]) else (lambda f: f))
        stub.skip = skip
        sys.modules["pytest"] = stub


def _skip(reason):
    return {"tables": [{"title": "Container start -> identity in the maps",
                        "columns": ["skipped"], "rows": [["SKIPPED: " + reason]],
                        "note": "docker could not run here, so nothing was measured"}],
            "plots": []}


def run(ctx):
    sys.path.insert(0, os.path.join(ctx.source, "tests", "integration"))
    _stub_pytest()
    try:
        from harness import docker as hd
    except Exception as e:  # pytest or the harness missing
        return _skip("cannot import tests/integration/harness/docker.py: %s" % e)
    reason = hd.missing_requirement()
    if reason:
        return _skip(reason)
    daemon = hd.Dockerd()
    try:
        daemon.start()
    except BaseException as e:
        return _skip("the private dockerd did not start: %s" % str(e).splitlines()[0])
    samples, agent_ms = [], []
    try:
        policy = os.path.join(ctx.workdir, "identity-policy.yaml")
        with open(policy, "w") as f:
            f.write("apiVersion: guardrail.io/v1alpha1\nkind: GuardrailPolicy\n"
                    "metadata: {name: bench-identity}\nspec:\n  mode: enforce\n  zones:\n"
                    "    - name: bench\n      selector: {labels: {%s: bench}}\n"
                    "      egress:\n        - {cidr: 198.18.0.1/32, protocol: tcp, "
                    "ports: [443]}\n" % ZONE_LABEL)
        docker_cgroups = os.path.join(pc.cgroup2_mount(), "docker")
        with pc.AgentProc(ctx, policy, "identity", docker=True,
                          extra=["--docker-socket", daemon.socket]) as agent:
            agent.wait_ready()
            maps = PinnedMaps(agent.pin_dir)
            affinity = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {pc.LOAD_CPU})  # the poller away from the agent's CPU
            try:
                for rep in range(ctx.reps):
                    ctx.log("identity: container %d/%d" % (rep + 1, ctx.reps))
                    times, cid = _one(daemon, maps, docker_cgroups, rep)
                    samples.append(times)
                    time.sleep(0.3)  # the agent's log line follows the binding
                    for short, ms in IDENTIFIED_RE.findall(agent.log_text()):
                        if cid.startswith(short):
                            agent_ms.append(float(ms))
                    daemon.remove(cid)
            finally:
                os.sched_setaffinity(0, affinity)
                maps.close()
    finally:
        daemon.stop()
    ms = lambda i: [s[i] * 1e3 for s in samples]  # noqa: E731
    rows = [["docker run -> container cgroup exists", pc.fmt_mmm(ms(0), 1)],
            ["docker run -> cgroup bound in the active workloads map", pc.fmt_mmm(ms(1), 1)],
            ["container start (State.StartedAt) -> bound", pc.fmt_mmm(ms(2), 1)],
            ["agent's own: start event -> identified (its log)", pc.fmt_mmm(agent_ms, 1)]]
    return {
        "tables": [{
            "title": "Container start -> identity in the maps (ms)",
            "columns": ["interval", "ms"],
            "rows": rows,
            "note": "%d containers (busybox, `docker run -d`, labelled into zone bench), one at a "
                    "time, through the tests' private dockerd (cgroupfs driver). Bound: the "
                    "container cgroup's id is a key of the workloads map set that "
                    "policy_state.active_set selects, polled every %.0f ms via bpf(2). A "
                    "negative start -> bound means bound before dockerd recorded the start "
                    "(wall clocks). Poller on CPU %d, agent on CPU %d; dockerd unpinned. "
                    "median [min-max]." % (len(samples), POLL_S * 1e3, pc.LOAD_CPU,
                                           pc.AGENT_CPU)}],
        "plots": [],
    }
