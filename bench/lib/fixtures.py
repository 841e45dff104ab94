"""cgroups, network namespaces, veths, nftables and background processes for the suites. Every
constructor takes a Cleanup and registers the removal of what it made (only what it made)."""
import json
import os
import signal
import subprocess
import threading
import sys
import time

# The integration harness's topology module is plain stdlib (no pytest): its cgroup v2 lookup
# and poll loop are the same here. (The harness is a regular package; `tests` is not one.)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "tests", "integration"))
from harness.topology import cgroup2_mount as cgroup2_root, wait_until  # noqa: E402


def bench_id():
    """A short prefix unique to this run (netns and link names, cgroup directories)."""
    return "grb%d" % os.getpid()


def run(cmd, check=True, timeout=120, input=None):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=timeout, input=input)
    if check and res.returncode != 0:
        raise RuntimeError("command failed (%d): %s\nstdout: %s\nstderr: %s"
                           % (res.returncode, " ".join(cmd), res.stdout[-2000:],
                              res.stderr[-2000:]))
    return res


def run_json(cmd, timeout=300):
    """Runs a load generator; returns its last stdout line parsed as JSON."""
    res = run(cmd, timeout=timeout)
    lines = [l for l in res.stdout.splitlines() if l.strip()]
    if not lines:
        raise RuntimeError("%s printed nothing; stderr: %s" % (" ".join(cmd), res.stderr))
    return json.loads(lines[-1])


class Cgroup:
    """A cgroup v2 directory `rel` (relative to the mount, e.g. /grb123/none), made with its
    missing parents; removed deepest first at cleanup after its members are killed."""

    def __init__(self, cleanup, rel):
        root = cgroup2_root()
        if not root:
            raise RuntimeError("no cgroup v2 mount in /proc/self/mounts")
        self.root = root
        self.rel = "/" + rel.strip("/")
        self.path = root + self.rel
        self.level = self.rel.count("/")  # nft's `socket cgroupv2 level`
        parts = self.rel.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            p = os.path.join(root, *parts[:i])
            if not os.path.isdir(p):
                os.mkdir(p)
                cleanup.push("rmdir " + p, self._remove, p)

    @property
    def nft_path(self):
        """The path nft's `socket cgroupv2` wants: relative to /sys/fs/cgroup (unified/... here)."""
        return os.path.relpath(self.path, "/sys/fs/cgroup")

    @staticmethod
    def _remove(path):
        def procs():
            try:
                with open(os.path.join(path, "cgroup.procs")) as f:
                    return f.read().strip()
            except FileNotFoundError:
                return ""
        if procs() and os.path.exists(os.path.join(path, "cgroup.kill")):
            with open(os.path.join(path, "cgroup.kill"), "w") as f:
                f.write("1")
            wait_until(lambda: not procs(), 5)

        def gone():
            try:
                os.rmdir(path)
            except FileNotFoundError:
                return True
            except OSError:
                return False
            return True
        if not wait_until(gone, 5):
            raise RuntimeError("could not remove cgroup %s" % path)


class Netns:
    """A network namespace with lo up and IPv6 off; deleted (with its links and nft tables) at
    cleanup."""

    def __init__(self, cleanup, name):
        self.name = name
        self.path = "/run/netns/" + name
        run(["ip", "netns", "add", name])
        cleanup.push("ip netns del " + name, run, ["ip", "netns", "del", name])
        self.ip("link", "set", "lo", "up")
        for k in ("all", "default"):
            p = "net.ipv6.conf.%s.disable_ipv6=1" % k
            run(["nsenter", "--net=" + self.path, "sysctl", "-q", "-w", p], check=False)

    def ip(self, *args):
        return run(["ip", "-n", self.name] + list(args))

    def nsenter(self, *argv):
        """argv run in this netns with /sys intact (not `ip netns exec`, see KERNEL.md)."""
        return ["nsenter", "--net=" + self.path] + list(argv)

    def blackhole(self, addr_cidr, dests):
        """A veth pair inside this netns (bh0 holds addr_cidr); each destination in `dests` is
        routed out of bh0 to a permanent neighbour, so packets really leave and then go nowhere
        (bh1 drops them: not its MAC). The dummy link type does not exist on this kernel."""
        self.ip("link", "add", "bh0", "type", "veth", "peer", "name", "bh1")
        self.ip("addr", "add", addr_cidr, "dev", "bh0")
        self.ip("link", "set", "bh0", "up")
        self.ip("link", "set", "bh1", "up")
        for i, d in enumerate(dests):
            self.ip("route", "add", d + "/32", "dev", "bh0")
            self.ip("neigh", "add", d, "lladdr", "02:00:00:00:%02x:%02x" % (i // 256, i % 256),
                    "dev", "bh0", "nud", "permanent")


def veth_between(a, b, ip_a, ip_b, prefix=24):
    """One veth pair from netns a (eth0, ip_a) to netns b (eth0, ip_b)."""
    a.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b.name)
    a.ip("addr", "add", "%s/%d" % (ip_a, prefix), "dev", "eth0")
    b.ip("addr", "add", "%s/%d" % (ip_b, prefix), "dev", "eth0")
    a.ip("link", "set", "eth0", "up")
    b.ip("link", "set", "eth0", "up")


def nft_load(netns, path, timeout=900):
    """Loads an nft script file into netns; returns the seconds it took."""
    t0 = time.monotonic()
    run(netns.nsenter("nft", "-f", path), timeout=timeout)
    return time.monotonic() - t0


class Background:
    """A long-running helper (a server, the floor loader) that prints READY when it is ready;
    stopped by its own pid (SIGTERM, then SIGKILL) at cleanup."""

    def __init__(self, cleanup, argv, label, ready_timeout=15.0):
        self.label = label
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
        cleanup.push("stop " + label, self.stop)
        self._first = []
        t = threading.Thread(target=lambda: self._first.append(self.popen.stdout.readline()),
                             daemon=True)
        t.start()
        t.join(ready_timeout)
        line = self._first[0] if self._first else ""
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError("%s did not print READY within %.0fs (got %r): %s"
                               % (label, ready_timeout, line, self.popen.stderr.read()[-2000:]))

    def stop(self):
        stop_process(self.popen, 5)


def stop_process(popen, timeout):
    """SIGTERM to this one child, SIGKILL after `timeout` s; reaps it. True if it had to be
    killed."""
    if popen.poll() is not None:
        return False
    popen.send_signal(signal.SIGTERM)
    try:
        popen.wait(timeout)
        return False
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(5)
        return True


def load_cpu():
    """The CPU the load generators are pinned to (1; none on a one-CPU machine)."""
    return 1 if (os.cpu_count() or 1) >= 2 else -1


def agent_cpu():
    """The CPU the agent and the servers are pinned to (0), away from the load generator."""
    return 0 if (os.cpu_count() or 1) >= 2 else None
