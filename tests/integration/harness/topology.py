"""Test topology: network namespaces on one bridge, a cgroup per workload, probe processes.

Layout (every address in 198.18.0.0/15, one /16 on-link network; see shared/KERNEL.md):

    netns <p>-sw     bridge "<p>br", one veth per node ("<p>o", "<p>a", ...)
    netns <p>-orch   eth0 198.18.0.2/16   cgroup /gr-itest-<id>/orchestrator   zone control-plane
    netns <p>-a      eth0 198.18.0.3/16   cgroup /gr-itest-<id>/agents/a       zone agent-sandbox
    netns <p>-b      eth0 198.18.0.4/16   cgroup /gr-itest-<id>/agents/b       zone agent-sandbox
    netns <p>-vdb    eth0 198.18.0.5/16   cgroup /gr-itest-<id>/vectordb       zone data-plane
    netns <p>-ext    eth0 198.18.200.5/16 and 198.18.201.5/16, no cgroup     "world"

where <p> is "gr" + the pytest pid. Each workload cgroup holds a `sleep` in its namespace from
the start, so an agent started later finds the workload's addresses there. IPv6 is disabled in
every namespace (as Docker does for containers without IPv6) so that no stray neighbour
discovery traffic can show up in the exact alert counts.

Everything created here is removed by Topology.teardown(), which only kills processes it
started and only removes cgroups and namespaces it created.
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

from . import NETPROBE


def cgroup2_mount():
    """The cgroup v2 mount point from /proc/self/mounts, or None."""
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 3 and fields[2] == "cgroup2":
                return fields[1].replace("\\040", " ")
    return None


def run(cmd, check=True, timeout=20):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=timeout)
    if check and res.returncode != 0:
        raise RuntimeError("command failed (%d): %s\nstdout: %s\nstderr: %s"
                           % (res.returncode, " ".join(cmd), res.stdout, res.stderr))
    return res


def is_mounted(path):
    """Whether something is mounted on `path` (as /proc/self/mountinfo says)."""
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == real for line in f)


def try_rmdir(path):
    """Removes an (empty) directory: true when it is gone, false while it is still busy (a
    cgroup whose last process has not left yet)."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def remove_cgroups(paths):
    """Removes cgroups we made, deepest first; a member still there (a probe's child) is killed
    through cgroup.kill first. Returns the problems, one string each."""
    def has_procs(path):
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                return bool(f.read().strip())
        except FileNotFoundError:
            return False

    errors = []
    for path in sorted(paths, key=lambda p: -p.count("/")):
        try:
            if has_procs(path):
                kill = os.path.join(path, "cgroup.kill")
                if os.path.exists(kill):
                    with open(kill, "w") as f:
                        f.write("1")
                wait_until(lambda: not has_procs(path), 5)
            wait_until(lambda: try_rmdir(path), 5)
            if os.path.isdir(path):
                errors.append("could not remove cgroup " + path)
        except OSError as exc:
            errors.append("cgroup %s: %s" % (path, exc))
    return errors


def wait_until(predicate, timeout, interval=0.05):
    """Poll predicate() until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Proc:
    """A process we started, with its stdout collected line by line in the background."""

    def __init__(self, argv, label):
        self.label = label
        self.argv = argv
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, bufsize=1)
        self.pid = self.popen.pid
        self._lines = []
        self._err = []
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._pump, args=(self.popen.stdout, self._lines),
                                          daemon=True),
                         threading.Thread(target=self._pump, args=(self.popen.stderr, self._err),
                                          daemon=True)]
        for t in self._threads:
            t.start()

    def _pump(self, stream, sink):
        for line in stream:
            with self._cond:
                sink.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def lines(self):
        with self._cond:
            return list(self._lines)

    def stderr(self):
        with self._cond:
            return "\n".join(self._err)

    def json_lines(self):
        return [json.loads(l) for l in self.lines() if l.startswith("{")]

    def wait_lines(self, count, timeout):
        """Wait until `count` stdout lines arrived (or the process exited); return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._lines) < count:
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None
                                 and not any(t.is_alive() for t in self._threads)):
                    break
                self._cond.wait(min(left, 0.1))
            return list(self._lines)

    def wait_ready(self, timeout=5.0):
        lines = self.wait_lines(1, timeout)
        if not lines or lines[0] != "READY":
            self.stop()
            raise RuntimeError("%s did not become ready within %.0fs: stdout=%r stderr=%r"
                               % (self.label, timeout, lines, self.stderr()))

    def wait_exit(self, timeout):
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise RuntimeError("%s did not finish within %.0fs: stdout=%r stderr=%r"
                               % (self.label, timeout, self.lines(), self.stderr()))
        for t in self._threads:
            t.join(2)
        return rc

    def stop(self):
        """Kill this process (only this pid) and reap it."""
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for t in self._threads:
            t.join(1)


class Node:
    def __init__(self, key, short, ips, cgroup_rel, zone=None, workload=None):
        self.key = key
        self.short = short
        self.ips = ips
        self.cgroup_rel = cgroup_rel  # relative to the cgroup2 mount, or None (not a workload)
        self.zone = zone
        self.workload = workload      # the workload name the agent reports
        self.netns = None
        self.netns_path = None
        self.cgroup_dir = None

    @property
    def ip(self):
        return self.ips[0]

    @property
    def attach_rel(self):
        """Where the agent attaches the programs that cover this node: a member of the
        `agents/*` glob is covered from the glob's parent (its placeholder, so that a new agent
        cgroup is enforced from birth), a named workload from its own cgroup."""
        if self.cgroup_rel and self.zone == "agent-sandbox":
            return self.cgroup_rel.rsplit("/", 1)[0]
        return self.cgroup_rel

    @property
    def attach_dir(self):
        return self.cgroup_dir[:-len(self.cgroup_rel)] + self.attach_rel if self.cgroup_dir else None

    @property
    def attach_workload(self):
        """The workload the agent names for this node's attach point (tamper repairs)."""
        if self.attach_rel != self.cgroup_rel:
            return "%s:%s/*" % (self.zone, self.attach_rel)
        return self.workload


class Topology:
    def __init__(self, cgroup_root):
        self.id = os.getpid()
        self.prefix = "gr%d" % self.id
        self.cg2 = cgroup_root
        self.base_rel = "/gr-itest-%d" % self.id
        b = self.base_rel
        self.nodes = {
            "orchestrator": Node("orchestrator", "orch", ["198.18.0.2"], b + "/orchestrator",
                                 "control-plane", "orchestrator"),
            "agent-a": Node("agent-a", "a", ["198.18.0.3"], b + "/agents/a",
                            "agent-sandbox", "agent-sandbox:%s/agents/a" % b),
            "agent-b": Node("agent-b", "b", ["198.18.0.4"], b + "/agents/b",
                            "agent-sandbox", "agent-sandbox:%s/agents/b" % b),
            "vectordb": Node("vectordb", "vdb", ["198.18.0.5"], b + "/vectordb",
                             "data-plane", "vectordb"),
            "external": Node("external", "ext", ["198.18.200.5", "198.18.201.5"], None),
        }
        self.switch_ns = self.prefix + "-sw"
        self.bridge = self.prefix + "br"
        self._netns_created = []
        self._cgroups_created = []
        self._procs = []
        self._keepers = {}

    # ---- lifecycle --------------------------------------------------------------------------

    def setup(self):
        try:
            self._setup()
        except BaseException:
            self.teardown()
            raise

    def _add_netns(self, name):
        run(["ip", "netns", "add", name])
        self._netns_created.append(name)
        # Best effort: a kernel without IPv6 has no such files.
        run(["ip", "netns", "exec", name, "sh", "-c",
             "for k in all default; do echo 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6; done"],
            check=False)
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        # Ping sockets for root (ICMP without CAP_NET_RAW, as a workload would ping).
        run(["ip", "netns", "exec", name, "sh", "-c",
             "echo '0 2147483647' > /proc/sys/net/ipv4/ping_group_range"])

    def _setup(self):
        assert len(self.bridge) <= 15 and len(self.prefix) + 3 <= 15, self.prefix
        self._add_netns(self.switch_ns)
        run(["ip", "-n", self.switch_ns, "link", "add", self.bridge, "type", "bridge",
             "forward_delay", "0"])
        run(["ip", "-n", self.switch_ns, "link", "set", self.bridge, "up"])
        for node in self.nodes.values():
            node.netns = "%s-%s" % (self.prefix, node.short)
            node.netns_path = "/run/netns/" + node.netns
            self._add_netns(node.netns)
            port = self.prefix + {"orch": "o", "vdb": "v", "ext": "x"}.get(node.short, node.short)
            run(["ip", "-n", self.switch_ns, "link", "add", port, "type", "veth",
                 "peer", "name", "eth0", "netns", node.netns])
            run(["ip", "-n", self.switch_ns, "link", "set", port, "master", self.bridge])
            run(["ip", "-n", self.switch_ns, "link", "set", port, "up"])
            for ip in node.ips:
                run(["ip", "-n", node.netns, "addr", "add", ip + "/16", "dev", "eth0"])
            run(["ip", "-n", node.netns, "link", "set", "eth0", "up"])
        for node in self.nodes.values():
            if node.cgroup_rel:
                node.cgroup_dir = self.cg2 + node.cgroup_rel
                self._mkdir_cgroup(node.cgroup_rel)
        # One long-lived process per workload: the agent reads the workload's addresses from
        # the network namespace of the processes in its cgroup.
        for node in self.workloads():
            keeper = self.spawn(node, ["exec", "sleep", "100000"], label="keeper-" + node.key)
            self._keepers[node.key] = keeper
            if not wait_until(lambda: str(keeper.pid) in self.cgroup_pids(node), 5):
                raise RuntimeError("keeper for %s never joined %s: %s"
                                   % (node.key, node.cgroup_dir, keeper.stderr()))

    def _mkdir_cgroup(self, rel):
        parts = rel.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            path = os.path.join(self.cg2, *parts[:i])
            if not os.path.isdir(path):
                os.mkdir(path)
                self._cgroups_created.append(path)

    def teardown(self):
        errors = []
        for proc in reversed(self._procs):
            proc.stop()
        self._procs.clear()
        # Only our own processes can be in them (see remove_cgroups).
        errors += remove_cgroups(self._cgroups_created)
        self._cgroups_created.clear()
        for name in reversed(self._netns_created):
            res = run(["ip", "netns", "del", name], check=False)
            if res.returncode != 0:
                errors.append("ip netns del %s: %s" % (name, res.stderr.strip()))
        self._netns_created.clear()
        if errors:
            raise RuntimeError("topology teardown: " + "; ".join(errors))

    @staticmethod
    def _cgroup_has_procs(path):
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                return bool(f.read().strip())
        except FileNotFoundError:
            return False

    # ---- queries ----------------------------------------------------------------------------

    def __getitem__(self, key):
        return self.nodes[key]

    def workloads(self):
        return [n for n in self.nodes.values() if n.cgroup_rel]

    def cgroup_id(self, node):
        """The cgroup v2 id (what bpf_get_current_cgroup_id() returns) is the directory's inode."""
        return os.stat(self.nodes[node].cgroup_dir if isinstance(node, str)
                       else node.cgroup_dir).st_ino

    def cgroup_pids(self, node):
        with open(os.path.join(node.cgroup_dir, "cgroup.procs")) as f:
            return f.read().split()

    def all_cgroup_dirs(self):
        return sorted(self._cgroups_created)

    # ---- processes --------------------------------------------------------------------------

    def spawn(self, node, probe_args, in_cgroup=True, label=None, netns=None):
        """Start netprobe.py in node's netns, and in its cgroup unless in_cgroup is False (then
        it stays in the test runner's own cgroup, outside every workload). `netns` puts it in
        another node's network namespace instead (two workloads sharing one), or "host" in the
        host's (a host-network workload)."""
        if isinstance(node, str):
            node = self.nodes[node]
        argv = [sys.executable, NETPROBE]
        if netns is None:
            argv += ["--netns", node.netns_path]
        elif netns != "host":
            argv += ["--netns", self.nodes[netns].netns_path]
        if in_cgroup:
            if not node.cgroup_dir:
                raise ValueError("%s has no cgroup" % node.key)
            argv += ["--cgroup", node.cgroup_dir]
        proc = Proc(argv + list(probe_args), label or "%s:%s" % (node.key, probe_args[0]))
        self._procs.append(proc)
        return proc

    def probe(self, node, *probe_args, in_cgroup=True, timeout=15, netns=None):
        """Run a client probe to completion; return (proc, its JSON result lines)."""
        proc = self.spawn(node, [str(a) for a in probe_args], in_cgroup=in_cgroup, netns=netns)
        rc = proc.wait_exit(timeout)
        if rc != 0:
            raise RuntimeError("probe %s exited %d: %s" % (probe_args, rc, proc.stderr()))
        self._procs.remove(proc)
        return proc, proc.json_lines()

    def connect(self, node, host, port, echo=None, in_cgroup=True, timeout=3.0, sport=0,
                netns=None):
        args = ["connect", host, port, "--timeout", timeout, "--sport", sport]
        if echo is not None:
            args += ["--echo", echo]
        proc, out = self.probe(node, *args, in_cgroup=in_cgroup, netns=netns)
        assert len(out) == 1, out
        out[0]["pid"] = proc.pid
        return out[0]

    def connects(self, node, host, port, count, interval=0.0, in_cgroup=True, timeout=3.0,
                 linger=0.0):
        """`count` TCP connects from one process (one socket each, `interval` s apart): one
        result per attempt. Quick repeats of the same attempt, e.g. for dedup tests."""
        proc, out = self.probe(node, "connect", host, port, "--timeout", timeout, "--count",
                               count, "--interval", interval, "--linger", linger,
                               in_cgroup=in_cgroup,
                               timeout=15 + linger + count * (interval + timeout))
        assert len(out) == count, out
        return out

    def flood(self, node, host, port, count, seconds, in_cgroup=True):
        """Refused UDP sends as fast as one process can (bounded by count and seconds); returns
        {"attempts", "ok", "errors": {errno name: n}, "elapsed", "pid"}."""
        _, out = self.probe(node, "flood", host, port, "--count", count, "--seconds", seconds,
                            in_cgroup=in_cgroup, timeout=seconds + 20)
        assert len(out) == 1, out
        return out[0]

    def sendto(self, node, host, port, count=1, sport=0, payload="probe", in_cgroup=True,
               wait_reply=0.0, netns=None):
        proc, out = self.probe(node, "sendto", host, port, "--count", count, "--sport", sport,
                               "--payload", payload, "--wait-reply", wait_reply,
                               in_cgroup=in_cgroup, netns=netns)
        assert len(out) == count, out
        for o in out:
            o["pid"] = proc.pid
        return out

    def ping(self, node, host, in_cgroup=True, timeout=2.0):
        proc, out = self.probe(node, "ping", host, "--timeout", timeout, in_cgroup=in_cgroup)
        assert len(out) == 1, out
        return out[0]

    @contextlib.contextmanager
    def tcp_server(self, node, port, in_cgroup=True, netns=None, keep=False):
        """A TCP echo server: one line per connection, or with `keep` every line until the
        client closes."""
        proc = self.spawn(node, ["serve-tcp", str(port)] + (["--keep"] if keep else []),
                          in_cgroup=in_cgroup, netns=netns)
        try:
            proc.wait_ready()
            yield proc
        finally:
            proc.stop()
            if proc in self._procs:
                self._procs.remove(proc)

    @contextlib.contextmanager
    def udp_listener(self, node, port, in_cgroup=True, echo=False, netns=None):
        proc = self.spawn(node, ["listen-udp", str(port)] + (["--echo"] if echo else []),
                          in_cgroup=in_cgroup, netns=netns)
        try:
            proc.wait_ready()
            yield UdpListener(proc)
        finally:
            proc.stop()
            if proc in self._procs:
                self._procs.remove(proc)


class UdpListener:
    def __init__(self, proc):
        self.proc = proc

    def received(self):
        return self.proc.json_lines()

    def wait(self, count, timeout):
        """Datagrams received once `count` arrived or `timeout` passed (whichever first)."""
        self.proc.wait_lines(1 + count, timeout)  # +1: the READY line
        return self.received()


def policy_document(name, spec, mode="enforce"):
    """A GuardrailPolicy named `name` whose spec holds `mode` and the YAML lines of `spec`
    (indented as spec's members, two spaces)."""
    return ("apiVersion: guardrail.io/v1alpha1\nkind: GuardrailPolicy\nmetadata: {name: %s}\n"
            "spec:\n  mode: %s\n%s" % (name, mode, spec))
