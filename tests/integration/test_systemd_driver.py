"""Coverage from birth under the systemd cgroup driver: the runtimes put containers beside the
host's services (/system.slice/docker-<id>.scope), where no placeholder can be bound. The agent
binds the slice as an exempt birth parent, and bpf/birth_guard.bpf.c (tp_btf/cgroup_mkdir) binds
a child named as a runtime names its container scopes at its mkdir, as the default zone: the
container is judged before its first instruction, by the kernel alone.

The slice is the test's own, named as systemd names a nested slice (gr-sd<pid>.slice is
/gr.slice/gr-sd<pid>.slice, so the born scopes sit at level 3, not the usual 2). The agent learns
it as the real code path does: from the Docker daemon behind --docker-socket (GET /info says
CgroupDriver systemd; the socket's owner, found by SO_PEERCRED, is a process whose argv[0] is
"dockerd" with --cgroup-parent gr-sd<pid>.slice). That daemon is a stand-in answering the few
Engine API calls the agent makes, listing no container: a real dockerd with
native.cgroupdriver=systemd needs systemd as PID 1 over D-Bus to make its scopes, which this
machine does not run (see test_real_dockerd_with_the_systemd_driver for what it says).

Each check makes a cgroup named exactly as the runtime names it, puts a process in it right
after the mkdir (the agent SIGSTOPped, so only the kernel can have classified it) whose first
action is a UDP connect() the default zone refuses (cgroup/connect4, EPERM; nothing is sent).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from harness.agent import (BPFTOOL, Agent, bpftool_cgroup_programs, check_alert_schema,
                           shutdown)
from harness.topology import cgroup2_mount, policy_document, run, try_rmdir, wait_until

FORBIDDEN = ("198.18.255.254", 9)
UDP_CONNECT = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
               "s.connect(('%s', %d)); print('connected')" % FORBIDDEN)
ID = "0123456789abcdef" * 4  # a container id: 64 lowercase hex digits
RUNTIME_SCOPES = ["docker-%s.scope", "cri-containerd-%s.scope", "crio-%s.scope",
                  "libpod-%s.scope"]

POLICY = policy_document("systemd-driver", """\
  defaultZone: sandbox
  zones:
    - name: sandbox
""")

# The Engine API as the agent's Docker client asks it: a daemon with the systemd driver and no
# container. /events stays open (the watch's stream) until the stand-in ends.
FAKE_DOCKERD = r'''
import json, socket, socketserver, sys, time
from http.server import BaseHTTPRequestHandler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Api-Version", "1.41")
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        path = self.path.split("?")[0]
        if path.endswith("/_ping"):
            data = b"OK"
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(data)
        elif path.endswith("/version"):
            self.reply({"ApiVersion": "1.41", "Version": "stand-in"})
        elif path.endswith("/info"):
            self.reply({"CgroupDriver": "systemd", "CgroupVersion": "2", "Containers": 0})
        elif path.endswith("/containers/json"):
            self.reply([])
        elif path.endswith("/events"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            while True:
                time.sleep(3600)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

path = sys.argv[sys.argv.index("-H") + 1]
server = Server(path, Handler)
print("ready", flush=True)
server.serve_forever()
'''


def connect_from(cgroup_dir):
    """A process moved into the cgroup, whose first action is the forbidden connect."""
    return run(["sh", "-c", "echo $$ > %s/cgroup.procs && exec %s -c \"%s\""
                % (cgroup_dir, sys.executable, UDP_CONNECT)], check=False)


def refused(res):
    return res.returncode != 0 and "Operation not permitted" in res.stderr


def connected(res):
    return res.returncode == 0 and "connected" in res.stdout


def cgroup_id(path):
    return os.stat(path).st_ino


@pytest.fixture
def slice_tree():
    """/gr.slice/gr-sd<pid>.slice with a host service (foo.service) in it; removed after."""
    mount = cgroup2_mount()
    if not mount:
        pytest.skip("cgroup v2 is not mounted")
    top = mount + "/gr.slice"
    unit = "gr-sd%d.slice" % os.getpid()
    parent = top + "/" + unit
    os.makedirs(parent + "/foo.service", exist_ok=True)
    yield {"mount": mount, "unit": unit, "dir": parent, "rel": parent[len(mount):]}
    for dirpath, _, _ in sorted(os.walk(parent, topdown=False), key=lambda e: -len(e[0])):
        assert wait_until(lambda: try_rmdir(dirpath), 10), "cannot remove " + dirpath
    try_rmdir(top)  # another run's slice may still be in it


@pytest.fixture
def fake_dockerd(tmp_path, slice_tree):
    """The stand-in daemon on its own socket, as `dockerd --cgroup-parent <the test slice>`."""
    script = tmp_path / "fake_dockerd.py"
    script.write_text(FAKE_DOCKERD)
    sock = str(tmp_path / "docker.sock")
    # argv[0] "dockerd": the agent reads the daemon's flags only from a process named so.
    proc = subprocess.Popen(["bash", "-c", 'exec -a dockerd "$0" "$@"', sys.executable,
                             str(script), "--cgroup-parent", slice_tree["unit"], "-H", sock],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        with open("/proc/%d/cmdline" % proc.pid) as f:
            assert f.read().split("\0")[0] == "dockerd"
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def agent(guardrail_bin, tmp_path, fake_dockerd, slice_tree):
    a = Agent(guardrail_bin, str(tmp_path / "agent"), POLICY,
              extra_args=["--rescan-seconds", "30", "--docker-socket", fake_dockerd]).start()
    try:
        # The slice is bound and carries the programs once the first scan asked the daemon.
        assert wait_until(lambda: bpftool_cgroup_programs(slice_tree["dir"], effective=False),
                          15), "nothing attached to %s\n%s" % (slice_tree["dir"], a.logs())
        yield a
    finally:
        shutdown(a)


GR_WL_BORN = 1 << 7  # bpf/guardrail.h


def apply_changed_policy(agent, zone):
    """Adds a zone to the policy file and waits until the agent applied it (a map set swap)."""
    applied = agent.logs(limit=10 ** 7).count("applied '")
    with open(agent.policy_path, "a") as f:
        f.write("    - name: %s\n" % zone)
    assert wait_until(lambda: agent.logs(limit=10 ** 7).count("applied '") > applied, 10), \
        agent.logs()


def bpftool_dump(path):
    res = run([BPFTOOL, "-j", "map", "dump", "pinned", path])
    return json.loads(res.stdout)


def active_workloads(agent):
    """cgroup id -> gr_workload of the map set the programs read now (from the pins)."""
    maps = os.path.join(agent.pin_dir, "maps", "policy_maps")
    (state,) = bpftool_dump(os.path.join(maps, "policy_state"))
    active = state["formatted"]["value"]["active_set"]
    out = {}
    for e in bpftool_dump(os.path.join(maps, "workloads_%d" % active)):
        out[e["formatted"]["key"]] = e["formatted"]["value"]
    return out


def born_name(slice_tree):
    return "sandbox:%s/*" % slice_tree["rel"]


def test_containers_are_judged_from_their_mkdir_by_the_kernel_alone(agent, slice_tree):
    if "birth coverage unavailable" in agent.logs() or "identification only" in agent.logs():
        pytest.fail("the birth guard did not load on this kernel:\n" + agent.logs())
    parent = slice_tree["dir"]
    scopes = [parent + "/" + (pattern % ID) for pattern in RUNTIME_SCOPES]
    strays = [parent + "/foo.scope", parent + "/docker-%s.scope" % ID[:63],
              parent + "/crio-conmon-%s.scope" % ID]
    mark = agent.mark()
    agent.send_signal(signal.SIGSTOP)
    try:
        results = {}
        for d in scopes + strays:
            os.mkdir(d)
            results[d] = connect_from(d)  # right after the mkdir: no scan can have run
        results[parent + "/foo.service"] = connect_from(parent + "/foo.service")
        # A cgroup the container makes inside its scope is the container's (the programs look
        # at the born level too), never its exempt parent's.
        nested = scopes[0] + "/sub"
        os.mkdir(nested)
        results[nested] = connect_from(nested)
    finally:
        agent.send_signal(signal.SIGCONT)
    for d in scopes + [nested]:
        assert refused(results[d]), (d, results[d].stdout, results[d].stderr)
    for d in strays + [parent + "/foo.service"]:
        assert connected(results[d]), (d, results[d].stdout, results[d].stderr)

    # One alert per born scope (and the nested cgroup), naming it as the default zone's
    # not-yet-identified container.
    alerts = agent.wait_alerts(mark, len(scopes) + 1)
    assert len(alerts) == len(scopes) + 1, alerts
    by_cgroup = {a["cgroup_id"]: a for a in alerts}
    assert set(by_cgroup) == {cgroup_id(d) for d in scopes + [nested]}, alerts
    assert wait_until(lambda: try_rmdir(nested), 10)
    for a in alerts:
        check_alert_schema(a)
        assert a["kind"] == "net_connect" and a["verdict"] == "blocked", a
        assert (a["workload"], a["zone"]) == (born_name(slice_tree), "sandbox"), a
        assert a["dst"] == FORBIDDEN[0] and a["dport"] == FORBIDDEN[1], a

    # A policy swap (a changed file: a full compile and fill of the other map set) keeps the
    # born entries the policy does not name: still refused, and alerted again.
    apply_changed_policy(agent, "other")
    mark = agent.mark()
    for d in scopes:
        res = connect_from(d)
        assert refused(res), ("after the swap", d, res.stdout, res.stderr)
    assert connected(connect_from(parent + "/foo.service"))
    alerts = agent.wait_alerts(mark, len(scopes))
    assert {a["cgroup_id"] for a in alerts} == {cgroup_id(d) for d in scopes}, alerts
    held = active_workloads(agent)
    for d in scopes:
        assert held.get(cgroup_id(d), {}).get("flags", 0) & GR_WL_BORN, (d, held)
    # A scope removed since is dropped at the next swap; the others stay.
    gone = scopes.pop()
    gone_id = cgroup_id(gone)
    assert wait_until(lambda: try_rmdir(gone), 10)
    apply_changed_policy(agent, "third")
    held = active_workloads(agent)
    assert gone_id not in held, held
    for d in scopes:
        assert held.get(cgroup_id(d), {}).get("flags", 0) & GR_WL_BORN, (d, held)
    assert agent.running(), agent.logs()


def test_the_host_service_beside_the_containers_is_never_judged(agent, slice_tree):
    """foo.service and the slice itself are exempt: every connect goes through, no alert."""
    mark = agent.mark()
    for d in (slice_tree["dir"] + "/foo.service", slice_tree["dir"]):
        res = connect_from(d)
        assert connected(res), (d, res.stdout, res.stderr)
    time.sleep(1.0)
    assert agent.alerts()[mark:] == []
    # It is attached there (the born children inherit the programs), yet judges nobody.
    progs = bpftool_cgroup_programs(slice_tree["dir"] + "/foo.service")
    assert progs, "the programs are in effect below the birth parent"


def test_real_dockerd_with_the_systemd_driver():
    """A real dockerd with native.cgroupdriver=systemd needs systemd running as PID 1: tried
    once by hand on this machine (Docker 28.2.2, PID 1 process_api, hybrid cgroups), dockerd
    starts and reports "Cgroup Driver: systemd", but every `docker run` fails with "OCI runtime
    create failed: runc create failed: systemd not running on this host, cannot use systemd
    cgroups manager": runc asks systemd (over D-Bus) to make the docker-<id>.scope. So the check
    above names its cgroups exactly as the driver does and uses a stand-in daemon."""
    with open("/proc/1/comm") as f:
        init = f.read().strip()
    if init != "systemd":
        pytest.skip("real dockerd with native.cgroupdriver=systemd cannot run containers here: "
                    "PID 1 is %r, not systemd, and runc refuses (\"systemd not running on this "
                    "host, cannot use systemd cgroups manager\"); the stand-in daemon checks the "
                    "same kernel path" % init)
    pytest.skip("PID 1 is systemd: start the Docker suite's dockerd with --exec-opt "
                "native.cgroupdriver=systemd by hand (the harness launches it with cgroupfs)")
