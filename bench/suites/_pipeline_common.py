"""Shared by the pipeline, resources, policy_load and identity suites: a workload cgroup inside a
private network namespace, a `guardrail agent` pinned to one CPU, its /metrics and /readyz, the
load generator (bench/tools/pipeline_load.c) and median/min/max.

Placement: the agent (or the bare consumer) runs on CPU AGENT_CPU, load generators on LOAD_CPU,
so the producer's cost is not mixed with the consumer's on a 2-core machine.
"""
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.request

AGENT_CPU = 0
LOAD_CPU = 1
PLACEMENT = ("agent/consumer pinned to CPU %d (taskset), load generator pinned to CPU %d"
             % (AGENT_CPU, LOAD_CPU))

# The workload's namespace: v0 holds NET_LOCAL; NET_ALLOWED (on v0's subnet, so a UDP connect()
# finds a route and sends nothing) is the one allowed peer, NET_REFUSED is refused.
NET_LOCAL = "198.18.90.1"
NET_ALLOWED = "198.18.90.2"
NET_REFUSED = "198.18.90.3"
PORT = 443


def cgroup2_mount():
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return parts[1]
    raise RuntimeError("no cgroup v2 mount in /proc/mounts")


def tool(ctx, stem):
    """A compiled C tool from ctx.tools."""
    path = os.path.join(ctx.tools, stem)
    if not os.access(path, os.X_OK):
        raise RuntimeError("bench tool %s is not built (looked for %s)" % (stem, path))
    return path


def bpf_object(ctx, stem):
    for name in (stem + ".bpf.o", stem + ".o"):
        path = os.path.join(ctx.tools, name)
        if os.path.exists(path):
            return path
    raise RuntimeError("BPF object %s is not built (looked in %s)" % (stem, ctx.tools))


def summary(values):
    """(median, min, max) of a non-empty list."""
    return statistics.median(values), min(values), max(values)


def fmt(value, digits=0):
    if value is None:
        return "-"
    if isinstance(value, float) and digits:
        return "%.*f" % (digits, value)
    return "{:,}".format(int(round(value)))


def fmt_mmm(values, digits=0):
    """median [min-max] of a list, as one table cell."""
    if not values:
        return "-"
    med, lo, hi = summary(values)
    return "%s [%s-%s]" % (fmt(med, digits), fmt(lo, digits), fmt(hi, digits))


class Workload:
    """A cgroup <cg2>/<name>/w and a network namespace with a veth pair (v0 up with NET_LOCAL/24):
    the load generator joins both. Context manager; everything is removed on exit."""

    def __init__(self, name):
        self.name = name
        self.base_rel = "/" + name
        self.base = os.path.join(cgroup2_mount(), name)
        self.cgroup = os.path.join(self.base, "w")
        self.netns = name
        self.netns_path = "/run/netns/" + name

    def __enter__(self):
        os.makedirs(self.cgroup, exist_ok=True)
        subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
        for cmd in (["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                    ["addr", "add", NET_LOCAL + "/24", "dev", "v0"],
                    ["link", "set", "v0", "up"], ["link", "set", "v1", "up"],
                    ["link", "set", "lo", "up"]):
            subprocess.run(["ip", "-n", self.netns] + cmd, check=True, capture_output=True)
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        remove_cgroup_tree(self.base)


def remove_cgroup_tree(path):
    """rmdir a cgroup and its children, deepest first (processes must have left)."""
    if not os.path.isdir(path):
        return
    for root, dirs, _ in sorted(os.walk(path), key=lambda w: -len(w[0])):
        try:
            os.rmdir(root)
        except OSError:
            pass


def load(ctx, wl, targets, rate=0, seconds=1.0, calls=None, cpu=LOAD_CPU):
    """Runs pipeline_load in the workload -> its JSON."""
    argv = ["-c", wl.cgroup, "-n", wl.netns_path, "-C", str(cpu), "-r", str(rate),
            "-d", str(seconds)]
    if calls:
        argv += ["-N", str(calls)]
    res = subprocess.run([tool(ctx, "pipeline_load")] + argv + list(targets),
                         capture_output=True, text=True, timeout=seconds + 60)
    if res.returncode != 0:
        raise RuntimeError("pipeline_load failed: %s" % res.stderr.strip())
    return json.loads(res.stdout)


def start_load(ctx, wl, targets, rate=0, seconds=1.0, cpu=LOAD_CPU):
    """pipeline_load in the background -> Popen (stdout: its JSON at the end)."""
    argv = [tool(ctx, "pipeline_load"), "-c", wl.cgroup, "-n", wl.netns_path, "-C", str(cpu),
            "-r", str(rate), "-d", str(seconds)] + list(targets)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_metrics(text):
    """Prometheus text -> {(name, frozenset(labels)): value}."""
    out = {}
    line_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        if m:
            labels = frozenset(label_re.findall(m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric_sum(samples, name, **labels):
    want = set(labels.items())
    return sum(v for (n, l), v in samples.items() if n == name and want <= set(l))


PIPELINE_FLAGS = ["--dedup-window-seconds", "0", "--rate-limit", "0"]


class AgentProc:
    """`guardrail agent` on AGENT_CPU with its own pin dir, alerts file and metrics port."""

    def __init__(self, ctx, policy_path, label, extra=(), cpu=AGENT_CPU, docker=False):
        self.ctx = ctx
        self.binary = ctx.guardrail_bin
        self.policy_path = policy_path
        self.port = free_port()
        d = os.path.join(ctx.workdir, label)
        os.makedirs(d, exist_ok=True)
        self.alerts = os.path.join(d, "alerts.jsonl")
        self.log_path = os.path.join(d, "agent.log")
        self.pin_dir = "/sys/fs/bpf/guardrail-bench-%s-%d" % (label, os.getpid())
        argv = [self.binary, "agent", "--policy", policy_path,
                "--metrics-address", "127.0.0.1:%d" % self.port, "--alerts", self.alerts,
                "--alerts-max-bytes", str(64 << 20), "--alerts-keep", "1",
                "--pin-dir", self.pin_dir, "--detach-on-exit"]
        if not docker:
            argv.append("--no-docker")
        self.argv = (["taskset", "-c", str(cpu)] if cpu is not None else []) + argv + \
            PIPELINE_FLAGS + list(extra)
        self.proc = None
        self.started_at = None

    def start(self):
        self.started_at = time.monotonic()
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        return self

    def get(self, path, timeout=2.0):
        """(status, body) of GET path; (None, error) when nothing answers."""
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except (OSError, urllib.error.URLError) as e:
            return None, str(e)

    def readiness(self):
        """The /readyz JSON when it answers 200, else None."""
        status, body = self.get("/readyz", timeout=1.0)
        if status == 200:
            try:
                return json.loads(body)
            except ValueError:
                return {}
        return None

    def wait_ready(self, timeout=120.0, poll=0.005):
        """Seconds from start() until /readyz answered 200 (raises when the agent died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("agent exited with %d before ready: %s"
                                   % (self.proc.returncode, self.log_tail()))
            if self.readiness() is not None:
                return time.monotonic() - self.started_at
            time.sleep(poll)
        raise RuntimeError("agent not ready within %.0f s: %s" % (timeout, self.log_tail()))

    def metrics(self):
        status, body = self.get("/metrics", timeout=5.0)
        if status != 200:
            raise RuntimeError("GET /metrics: %s %s" % (status, body[:200]))
        return parse_metrics(body)

    def counters(self):
        """What the pipeline suite reads: events consumed, lost per stage, delivered."""
        m = self.metrics()
        return {
            "events": metric_sum(m, "guardrail_events_total"),
            "lost_ringbuf": metric_sum(m, "guardrail_events_lost_total", stage="ringbuf"),
            "lost_other": metric_sum(m, "guardrail_events_lost_total")
            - metric_sum(m, "guardrail_events_lost_total", stage="ringbuf"),
            "delivered": metric_sum(m, "guardrail_events_delivered_total", sink="jsonl"),
        }

    def wait_quiet(self, timeout=10.0, stable=0.3):
        """Counters once they stopped moving for `stable` s (the pipeline drained)."""
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while True:
            c = self.counters()
            if c != last:
                last, since = c, time.monotonic()
            elif time.monotonic() - since >= stable:
                return c
            if time.monotonic() > deadline:
                return c
            time.sleep(0.05)

    def log_tail(self, n=1500):
        return self.log_text()[-n:]

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if os.path.exists(self.pin_dir):
            subprocess.run([self.binary, "uninstall", "--pin-dir", self.pin_dir],
                           capture_output=True, timeout=60)
            if os.path.exists(self.pin_dir):
                shutil.rmtree(self.pin_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def zone_policy(wl, name="bench", egress=None):
    """A policy whose one zone holds the workload's cgroup; egress lines (YAML flow maps) default
    to the one allowed peer."""
    egress = egress if egress is not None else [
        "{cidr: %s/32, protocol: udp, ports: [%d]}" % (NET_ALLOWED, PORT)]
    lines = ["apiVersion: guardrail.io/v1alpha1", "kind: GuardrailPolicy",
             "metadata: {name: %s}" % name, "spec:", "  mode: enforce", "  zones:",
             "    - name: bench", '      selector: {cgroups: ["%s/*"]}' % wl.base_rel]
    if egress:
        lines.append("      egress:")
        lines += ["        - " + e for e in egress]
    return "\n".join(lines) + "\n"


def write_file(path, text):
    """Write to a temporary name and rename over path (as a ConfigMap update does)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class BareConsumer:
    """bench/tools/pipeline_bare on AGENT_CPU, attached to the workload's cgroup."""

    def __init__(self, ctx, wl, cpu=AGENT_CPU):
        self.argv = [tool(ctx, "pipeline_bare"), bpf_object(ctx, "pipeline_bare"), wl.cgroup,
                     NET_ALLOWED, str(1 << 20), "20", str(cpu)]
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            raise RuntimeError("pipeline_bare did not start: %s %s"
                               % (line, self.proc.stderr.read()[:500]))
        return self

    def finish(self):
        """Stops it -> {"consumed", "bytes", "lost"}."""
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        for line in out.splitlines():
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError("pipeline_bare printed no result: %s" % err[:500])

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def proc_status(pid):
    """VmRSS and VmHWM of a process in KiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def proc_cpu_ticks(pid):
    """utime + stime of a process (all its threads) in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)


def agent_pid(agent):
    """The agent's own pid (taskset execs it, so it is the Popen pid)."""
    return agent.proc.pid
