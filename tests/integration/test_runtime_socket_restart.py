"""Runtime sockets that come back (docs/events.md, Runtime sockets that come back): the tests' real
private dockerd (harness.docker) restarted, which removes its socket and binds a new one at the
same path (a new inode), and a workload's connect to it refused at once after, with its alert.

On this kernel (no BPF-LSM) cgroup/connect_unix compares the path the client passes, so the
refusal holds whatever inode is behind the path. What the BPF-LSM backend needs, and this test
checks too, is that the agent followed the new socket: its inotify watch on the socket's
directory re-resolved the inode (logged once, counted) without a re-scan (this agent re-scans
every 600 s only). The refusal by inode, and by the bound name with the agent stopped, is checked
in tests/vm/.

The workload is a process of this test in a cgroup of its own zone (a container would see its
own /run, not the host's socket).
"""
import os
import re
import sys

import pytest

import harness.agent
from harness import NETPROBE
from harness.agent import assert_alert
from harness.docker import SOCKET, dockerd  # noqa: F401  (pytest fixture)
from harness.topology import Proc, try_rmdir, wait_until

ZONE = "sock-restart"
FOLLOWED = re.compile(r"followed runtime socket %s: (\w+) \(inode (\d+) -> (\d+), found by (\w+)\)"
                      % re.escape(SOCKET))


@pytest.fixture
def workload_rel(topo):
    """A workload cgroup of zone sock-restart (<base>/sockrestart/w), removed afterwards."""
    rel = topo.base_rel + "/sockrestart"
    made = []
    for path in (topo.cg2 + rel, topo.cg2 + rel + "/w"):
        if not os.path.isdir(path):
            os.mkdir(path)
            made.append(path)
    yield rel + "/w"
    for path in reversed(made):
        assert wait_until(lambda: try_rmdir(path), 5), "could not remove cgroup " + path


def policy(workload_rel):
    return "\n".join([
        "apiVersion: guardrail.io/v1alpha1", "kind: GuardrailPolicy",
        "metadata: {name: sockrestart}", "spec:", "  mode: enforce", "  zones:",
        "    - name: " + ZONE,
        '      selector: {cgroups: ["%s"]}' % workload_rel,
        "      guards:",
        "        runtimeSockets: {action: deny, paths: [%s]}" % SOCKET,
    ]) + "\n"


def connect_from(cgroup_dir):
    """connect() to the Docker socket from a process in cgroup_dir: (result, pid)."""
    proc = Proc([sys.executable, NETPROBE, "--cgroup", cgroup_dir, "connect-unix", SOCKET,
                 "--timeout", "1"], "connect-docker")
    rc = proc.wait_exit(15)
    out = proc.json_lines()
    assert rc == 0 and len(out) == 1, "connect-unix exited %d with %r; stderr: %s" % (
        rc, out, proc.stderr())
    return out[0], proc.pid


def runtime_socket_backend(agent):
    backends = [labels["backend"] for name, labels, value in agent.metrics()
                if name == "guardrail_guard_backend" and labels.get("guard") == "runtime-sockets"
                and value == 1]
    assert len(backends) == 1, backends
    return backends[0]


def expected(agent, workload_rel, pid, inode):
    backend = runtime_socket_backend(agent)
    return dict(kind="runtime_socket", policy="sockrestart", zone=ZONE,
                workload="%s:%s" % (ZONE, workload_rel), pid=pid, comm="netprobe",
                verdict="blocked", backend=backend, path=SOCKET, reason="runtime_socket",
                # cgroup/connect_unix matches the path and carries no inode.
                inode=inode if backend == "lsm" else 0)


def test_dockerd_restart_is_refused_at_once_and_followed(dockerd, topo, guardrail_bin, tmp_path,
                                                         workload_rel):
    agent = harness.agent.start_agent(guardrail_bin, str(tmp_path), topo,
                                      policy=policy(workload_rel), label="sockrestart",
                                      extra_args=["--rescan-seconds", "600"])
    try:
        cgroup_dir = topo.cg2 + workload_rel
        before = os.stat(SOCKET).st_ino
        mark = agent.mark()
        result, pid = connect_from(cgroup_dir)
        assert (result["result"], result.get("errno")) == ("error", "EPERM"), result
        (alert,) = agent.wait_alerts(mark, 1)
        assert_alert(alert, **expected(agent, workload_rel, pid, before))

        dockerd.restart()
        after = os.stat(SOCKET).st_ino
        assert after != before, "dockerd's restart kept the socket's inode: nothing to follow"
        # At once, no sleep: refused, one alert.
        mark = agent.mark()
        result, pid = connect_from(cgroup_dir)
        assert (result["result"], result.get("errno")) == ("error", "EPERM"), result
        (alert,) = agent.wait_alerts(mark, 1)
        assert_alert(alert, **expected(agent, workload_rel, pid, after))
        # The control: outside every workload the daemon answers on its new socket.
        assert dockerd.api_get("/_ping") == "OK"

        # The agent followed the new socket by inotify (no re-scan ran): its last resolution of
        # the path is the new inode, logged once per change and counted.
        def followed():
            return FOLLOWED.findall(agent.stderr_text())
        assert wait_until(lambda: followed() and int(followed()[-1][2]) == after, 5), (
            "the agent never resolved %s to its new inode %d: %r\n%s"
            % (SOCKET, after, followed(), agent.logs()))
        changes = followed()
        print("dockerd restarted: socket inode %d -> %d; the agent followed: %r"
              % (before, after, changes))
        assert all(trigger == "inotify" for *_, trigger in changes), changes
        assert int(changes[0][1]) == before, changes
        assert len(changes) <= 2, changes  # replaced, or gone then appeared
        counted = agent.metric("guardrail_unix_socket_resolutions_total", socket="runtime",
                               trigger="inotify")
        assert counted == len(changes), (counted, changes)
        assert agent.metric("guardrail_unix_socket_resolutions_total", trigger="rescan") in (
            None, 0), "a re-scan ran in a test whose agent re-scans every 600 s"
    finally:
        harness.agent.shutdown(agent)
