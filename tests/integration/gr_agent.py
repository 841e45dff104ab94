"""Running `guardrail agent` under test: policy files, readiness, alerts, metrics, bpftool."""
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

from gr_topology import wait_until

BPFTOOL = "/usr/sbin/bpftool"

# Agents started and not yet shut down (their logs go into the report of a failing test).
LIVE_AGENTS = []

# The attach types of the network guard, as bpftool names them (new and old spellings).
NET_ATTACH_TYPES = {
    "cgroup_inet4_connect": "connect4", "connect4": "connect4",
    "cgroup_inet6_connect": "connect6", "connect6": "connect6",
    "cgroup_udp4_sendmsg": "sendmsg4", "sendmsg4": "sendmsg4",
    "cgroup_udp6_sendmsg": "sendmsg6", "sendmsg6": "sendmsg6",
    "cgroup_inet_ingress": "ingress", "ingress": "ingress",
    "cgroup_inet_egress": "egress", "egress": "egress",
}

ALERT_FIELDS = {
    "time": str, "kind": str, "verdict": str, "backend": str, "policy": str, "workload": str,
    "zone": str, "cgroup_id": int, "pid": int, "comm": str, "direction": str, "protocol": str,
    "family": str, "src": str, "sport": int, "dst": str, "dport": int, "peer_workload": str,
    "peer_zone": str, "rule": str,
}
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$")


def policy_yaml(topo, mode="enforce", name="itest"):
    b = topo.base_rel
    return f"""\
apiVersion: guardrail.io/v1alpha1
kind: GuardrailPolicy
metadata: {{name: {name}}}
spec:
  mode: {mode}
  zones:
    - name: agent-sandbox
      selector: {{cgroups: ["{b}/agents/*"]}}
      egress:
        - {{cidr: 198.18.200.0/24, protocol: tcp, ports: [443]}}
    - name: control-plane
    - name: data-plane
  workloads:
    - {{name: orchestrator, zone: control-plane, cgroup: {b}/orchestrator}}
    - {{name: vectordb, zone: data-plane, cgroup: {b}/vectordb}}
  flows:
    - {{from: {{zone: agent-sandbox}}, to: {{workload: orchestrator}}, protocol: tcp, ports: [8080]}}
    - {{from: {{zone: agent-sandbox}}, to: {{workload: orchestrator}}, protocol: udp, ports: [8125]}}
    - {{from: {{workload: orchestrator}}, to: {{zone: agent-sandbox}}, protocol: tcp}}
    - {{from: {{zone: control-plane}}, to: {{zone: data-plane}}, protocol: tcp}}
"""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_metrics(text):
    """Prometheus text format -> list of (name, {label: value}, float)."""
    samples = []
    line_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$")
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        if not m:
            raise AssertionError("unparsable metrics line: %r" % line)
        labels = {k: v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                  for k, v in label_re.findall(m.group(2) or "")}
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def bpftool_cgroup_programs(cgroup_dir, effective=True):
    """Programs attached to (effective=True: in effect for) a cgroup, per bpftool -j."""
    cmd = [BPFTOOL, "-j", "cgroup", "show", cgroup_dir] + (["effective"] if effective else [])
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=20)
    if res.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), res.stderr))
    out = res.stdout.strip()
    return json.loads(out) if out else []


class AgentError(AssertionError):
    pass


class Agent:
    """One `guardrail agent` process; alerts go to a file, logs to a file."""

    def __init__(self, binary, workdir, policy_text, extra_args=(), label="agent"):
        self.binary = binary
        self.workdir = workdir
        self.label = label
        os.makedirs(workdir, exist_ok=True)
        self.policy_path = os.path.join(workdir, label + "-policy.yaml")
        self.alerts_path = os.path.join(workdir, label + "-alerts.jsonl")
        self.stderr_path = os.path.join(workdir, label + "-stderr.log")
        self.stdout_path = os.path.join(workdir, label + "-stdout.log")
        with open(self.policy_path, "w") as f:
            f.write(policy_text)
        self.port = free_port()
        self.extra_args = list(extra_args)
        self.proc = None
        self.returncode = None

    @property
    def argv(self):
        return [self.binary, "agent", "--policy", self.policy_path,
                "--metrics-address", "127.0.0.1:%d" % self.port,
                "--alerts", self.alerts_path, "-v"] + self.extra_args

    def start(self, ready_timeout=15.0):
        with open(self.stderr_path, "w") as err, open(self.stdout_path, "w") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err)
        LIVE_AGENTS.append(self)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                LIVE_AGENTS.remove(self)
                raise AgentError("agent exited with %d before serving /metrics.\nargv: %s\n%s"
                                 % (self.returncode, " ".join(self.argv), self.logs()))
            try:
                self.metrics_text(timeout=1.0)
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.kill()
        LIVE_AGENTS.remove(self)
        raise AgentError("agent did not serve /metrics within %.0fs.\nargv: %s\n%s"
                         % (ready_timeout, " ".join(self.argv), self.logs()))

    def logs(self, limit=6000):
        parts = []
        for name, path in (("stderr", self.stderr_path), ("stdout", self.stdout_path)):
            try:
                with open(path, errors="replace") as f:
                    text = f.read()
            except FileNotFoundError:
                text = ""
            parts.append("--- agent %s (last %d chars) ---\n%s" % (name, limit, text[-limit:]))
        return "\n".join(parts)

    def stderr_text(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- metrics ----------------------------------------------------------------------------

    def metrics_text(self, timeout=5.0):
        url = "http://127.0.0.1:%d/metrics" % self.port
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            if resp.status != 200:
                raise OSError("GET %s: HTTP %d" % (url, resp.status))
            return resp.read().decode()

    def metrics(self):
        return parse_metrics(self.metrics_text())

    def metric(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels`; None if there is none."""
        values = [v for n, l, v in self.metrics()
                  if n == name and all(l.get(k) == want for k, want in labels.items())]
        return sum(values) if values else None

    # ---- alerts -----------------------------------------------------------------------------

    def alerts(self):
        """Every complete alert line written so far, parsed (a bad line fails the test)."""
        try:
            with open(self.alerts_path, errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        lines = text.split("\n")[:-1]  # the last element is an incomplete line (or "")
        out = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError as exc:
                raise AssertionError("alert line %d is not JSON (%s): %r" % (i + 1, exc, line))
        return out

    def mark(self):
        return len(self.alerts())

    def wait_alerts(self, mark, count, timeout=5.0, settle=0.8):
        """The alerts after `mark`, once `count` arrived and `settle` seconds brought no more
        (alerts are delivered asynchronously). Fails if the count is not exactly reached."""
        got = wait_until(lambda: len(self.alerts()) - mark >= count, timeout)
        if count == 0 or got:
            time.sleep(settle)
        new = self.alerts()[mark:]
        if len(new) != count:
            raise AssertionError("expected exactly %d new alert(s), got %d:\n%s"
                                 % (count, len(new), "\n".join(json.dumps(a) for a in new)))
        return new

    # ---- stopping ---------------------------------------------------------------------------

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal the agent and wait for it; returns the exit code (SIGKILL after `timeout`)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AgentError("agent ignored %s for %.0fs (killed)\n%s"
                                 % (signal.Signals(sig).name, timeout, self.logs()))
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            self.returncode = self.proc.returncode


def shutdown(agent):
    """Fixture teardown: SIGTERM (then SIGKILL) an agent if it still runs; forget it."""
    try:
        if agent.running():
            agent.stop()
    finally:
        agent.kill()
        if agent in LIVE_AGENTS:
            LIVE_AGENTS.remove(agent)


def start_agent(binary, workdir, topo, mode="enforce", extra_args=(), policy=None, label="agent"):
    agent = Agent(binary, workdir, policy or policy_yaml(topo, mode=mode),
                  extra_args=extra_args, label=label)
    return agent.start()


def check_alert_schema(alert):
    """Every alert carries every contract field with the contract's type."""
    problems = []
    for field, typ in ALERT_FIELDS.items():
        if field not in alert:
            problems.append("missing %r" % field)
        elif not isinstance(alert[field], typ) or (typ is int and isinstance(alert[field], bool)):
            problems.append("%r is %r, want %s" % (field, alert[field], typ.__name__))
    if isinstance(alert.get("time"), str) and not TIME_RE.match(alert["time"]):
        problems.append("time %r is not RFC3339 UTC with nanoseconds" % alert["time"])
    if problems:
        raise AssertionError("alert violates the schema: %s\n%s"
                             % ("; ".join(problems), json.dumps(alert)))


def assert_alert(alert, **expected):
    """Schema check plus exact equality of the given fields. A set value means "one of"."""
    check_alert_schema(alert)
    wrong = {}
    for k, want in expected.items():
        have = alert.get(k)
        if isinstance(want, (set, frozenset)):
            if have not in want:
                wrong[k] = (have, sorted(want))
        elif have != want:
            wrong[k] = (have, want)
    if wrong:
        raise AssertionError("alert fields differ (have, want): %r\nalert: %s"
                             % (wrong, json.dumps(alert)))


def wait_metric(agent, want, name, timeout=5.0, **labels):
    """Counters may lag the alert stream slightly: poll until the value equals `want`."""
    wait_until(lambda: agent.metric(name, **labels) == want, timeout, interval=0.1)
    return agent.metric(name, **labels)
