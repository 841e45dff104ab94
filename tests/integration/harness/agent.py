"""Running `guardrail agent` under test: policy files, readiness, alerts, metrics, bpftool."""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from . import SOURCE_DIR
from .topology import wait_until

BPFTOOL = "/usr/sbin/bpftool"

# Agents started and not yet shut down (their logs go into the report of a failing test).
LIVE_AGENTS = []
# Every test agent's pin directory lies below this one (removed at the end of the session).
TEST_PIN_ROOT = "/sys/fs/bpf/guardrail-test"
_PIN_DIRS = 0

# The attach types of the network guard, as bpftool names them (new and old spellings).
NET_ATTACH_TYPES = {
    "cgroup_inet4_connect": "connect4", "connect4": "connect4",
    "cgroup_inet6_connect": "connect6", "connect6": "connect6",
    "cgroup_udp4_sendmsg": "sendmsg4", "sendmsg4": "sendmsg4",
    "cgroup_udp6_sendmsg": "sendmsg6", "sendmsg6": "sendmsg6",
    "cgroup_inet_ingress": "ingress", "ingress": "ingress",
    "cgroup_inet_egress": "egress", "egress": "egress",
}

# Fields of every alert, then the fields of each kind (see docs/events.md).
COMMON_ALERT_FIELDS = {
    "time": str, "kind": str, "verdict": str, "backend": str, "policy": str, "workload": str,
    "zone": str, "cgroup_id": int, "pid": int, "tid": int, "comm": str,
}
NET_ALERT_FIELDS = {
    "direction": str, "protocol": str, "family": str, "src": str, "sport": int, "dst": str,
    "dport": int, "peer_workload": str, "peer_zone": str, "peer_scope": str, "rule": str,
}
HOST_ALERT_FIELDS = {
    "capability": {"capability": str, "capability_number": int},
    "raw_socket": {"socket_family": str, "socket_type": str, "socket_protocol": int},
    "mount": {"operation": str, "source": str, "target": str, "fstype": str, "flags": int},
    "runtime_socket": {"path": str, "inode": int, "reason": str},
    "bpf": {"bpf_command": int},
    "unix_socket": {"path": str, "inode": int, "reason": str, "peer_workload": str},
    "host_write": {"path": str, "write_target": str, "fstype": str, "inode": int,
                   "open_flags": int},
    "cgroup_escape": {"escape": str, "path": str},
    # the kernel's (link_id, prog_id, bpf_command) and the agent's repair (backend "agent":
    # cgroup, missing, window_ms, ...) both say what found it
    "tamper": {"detected_by": str},
    # the agent's own: discovery found what the policy cannot place, enforcement went on
    "discovery_problem": {"problem": str, "subject": str, "workloads": list, "message": str},
}
# The pipeline's own alert: what the rate limit suppressed, per workload (docs/events.md).
SUMMARY_ALERT_FIELDS = {
    "suppressed_events": int, "suppressed": dict, "targets_overflow": dict,
    "interval_seconds": float,
}
HOST_KINDS = frozenset(HOST_ALERT_FIELDS)
# The fields of a network alert (what every alert had before the host guards).
ALERT_FIELDS = dict(COMMON_ALERT_FIELDS, **NET_ALERT_FIELDS)


def alert_fields(kind):
    """The contract fields (name -> type) of an alert of `kind`, pipeline fields excluded."""
    if kind in HOST_ALERT_FIELDS:
        return dict(COMMON_ALERT_FIELDS, **HOST_ALERT_FIELDS[kind])
    if kind == "suppressed":
        return dict(COMMON_ALERT_FIELDS, **SUMMARY_ALERT_FIELDS)
    return ALERT_FIELDS
# Fields of the alerts and metrics pipeline (dedup, enrichment). An alert that has "count" comes
# from an agent with the pipeline, and is then validated against schema/alert.schema.json too.
PIPELINE_ALERT_FIELDS = {
    "count": int, "first_time": str, "last_time": str, "exe": str, "ppid": int,
    "parent_exe": str, "node": str, "labels": dict,
}
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$")

SCHEMA_PATH = os.path.join(SOURCE_DIR, "schema", "alert.schema.json")

# The pipeline flags that make one alert per attempt (no dedup, no rate limit): what the tests
# written before dedup count on. Agent() adds them unless the test sets them itself.
EXACT_PIPELINE_ARGS = {"--dedup-window-seconds": "0", "--rate-limit": "0"}

_HELP_CACHE = {}


def agent_flags(binary):
    """The long options `guardrail agent --help` lists (cached per binary)."""
    if binary not in _HELP_CACHE:
        res = subprocess.run([binary, "agent", "--help"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=20)
        _HELP_CACHE[binary] = set(re.findall(r"(--[a-z][a-z0-9-]*)", res.stdout))
    return _HELP_CACHE[binary]


def missing_flags(binary, *flags):
    """The flags of `flags` this agent does not know yet (for a clear failure message)."""
    known = agent_flags(binary)
    return [f for f in flags if f not in known]


def require_flags(binary, *flags):
    """Fail (not skip: the contract says the agent has them) when the agent lacks a flag."""
    missing = missing_flags(binary, *flags)
    if missing:
        raise AssertionError("this guardrail agent does not support %s yet (see `%s agent "
                             "--help`): the alerts/metrics pipeline contract is not implemented"
                             % (", ".join(missing), binary))


_VALIDATOR = []


def schema_validator():
    """A jsonschema validator for schema/alert.schema.json (python3-jsonschema), or None when the
    module is missing (the tests that need it fail with their own message)."""
    if not _VALIDATOR:
        try:
            import jsonschema
        except ImportError:
            _VALIDATOR.append(None)
        else:
            with open(SCHEMA_PATH) as f:
                schema = json.load(f)
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            _VALIDATOR.append(cls(schema))
    return _VALIDATOR[0]


def schema_errors(alert):
    """Every JSON Schema violation of one alert, as readable strings."""
    validator = schema_validator()
    if validator is None:
        raise AssertionError("python3-jsonschema is not installed (scripts/setup.sh installs it)")
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(alert)", e.message)
            for e in sorted(validator.iter_errors(alert), key=lambda e: list(e.absolute_path))]


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

    def __init__(self, binary, workdir, policy_text, extra_args=(), label="agent", exact=True,
                 pin_dir=None, detach_on_exit=True):
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
        if exact:
            # One alert per attempt unless the test chose otherwise. An agent from before the
            # pipeline does not know these flags and behaves that way anyway.
            known = agent_flags(binary)
            for flag, value in EXACT_PIPELINE_ARGS.items():
                if flag in known and not any(a == flag or a.startswith(flag + "=")
                                             for a in self.extra_args):
                    self.extra_args += [flag, value]
        # Each agent pins under its own bpffs directory (never the host's /sys/fs/bpf/guardrail),
        # and detaches on a clean stop unless the test is about what outlives the agent.
        self.pin_dir = None
        if "--pin-dir" in agent_flags(binary) and "--pin-dir" not in self.extra_args:
            global _PIN_DIRS
            _PIN_DIRS += 1
            self.pin_dir = pin_dir or os.path.join(TEST_PIN_ROOT, "%s-%d-%d" % (
                label, os.getpid(), _PIN_DIRS))
            self.extra_args += ["--pin-dir", self.pin_dir]
            if detach_on_exit:
                self.extra_args.append("--detach-on-exit")
        self.proc = None
        self.returncode = None

    def remove_pins(self):
        """Detach whatever this agent left pinned (`guardrail uninstall` on its directory)."""
        if self.pin_dir and os.path.exists(self.pin_dir):
            subprocess.run([self.binary, "uninstall", "--pin-dir", self.pin_dir],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            if os.path.exists(self.pin_dir):  # the command failed: unlink by hand
                shutil.rmtree(self.pin_dir, ignore_errors=True)

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

    @property
    def pid(self):
        return self.proc.pid

    def send_signal(self, sig):
        """Send `sig` to this agent's pid only."""
        assert self.running(), "agent exited:\n" + self.logs()
        os.kill(self.proc.pid, sig)

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

    def alerts(self, path=None):
        """Every complete alert line written so far (to `path`, default the alerts file),
        parsed (a bad line fails the test)."""
        return read_alerts(path or self.alerts_path)

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


def read_alerts(path):
    """The complete JSON lines of one alerts file ([] if it does not exist)."""
    try:
        with open(path, errors="replace") as f:
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
            raise AssertionError("%s line %d is not JSON (%s): %r" % (path, i + 1, exc, line))
    return out


# ---- the pipeline's accounting ------------------------------------------------------------------

def pipeline_counters(agent):
    """The counters of the exactness equation from one scrape (a missing series counts 0)."""
    samples = agent.metrics()

    def total(name, **labels):
        return sum(v for n, l, v in samples
                   if n == name and all(l.get(k) == want for k, want in labels.items()))
    return {
        "events": total("guardrail_events_total"),
        "delivered_jsonl": total("guardrail_events_delivered_total", sink="jsonl"),
        "suppressed": total("guardrail_events_suppressed_total"),
        "lost_ringbuf": total("guardrail_events_lost_total", stage="ringbuf"),
        "lost_decode": total("guardrail_events_lost_total", stage="decode"),
        "lost_queue": total("guardrail_events_lost_total", stage="queue"),
        "lost_alerts_file": total("guardrail_events_lost_total", stage="alerts_file"),
        "lost_webhook": total("guardrail_events_lost_total", stage="webhook"),
        "deduplicated": total("guardrail_events_deduplicated_total"),
        "alerts_jsonl": total("guardrail_alerts_total", sink="jsonl"),
    }


def balance(c):
    """events_total - (delivered{jsonl} + suppressed + lost{queue} + lost{alerts_file})."""
    return c["events"] - (c["delivered_jsonl"] + c["suppressed"] + c["lost_queue"]
                          + c["lost_alerts_file"])


def wait_quiescent(agent, timeout=10.0, stable=0.6):
    """Poll until the exactness equation holds and the counters stayed put for `stable` s;
    returns the counters. Fails with the last counters if that does not happen in time."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        c = pipeline_counters(agent)
        if c != last:
            last, since = c, time.monotonic()
        elif balance(c) == 0 and time.monotonic() - since >= stable:
            # Records the agent could not decode would be outside the equation: there are none.
            assert c["lost_decode"] == 0, "events lost at stage decode: %r" % c
            return c
        if time.monotonic() >= deadline:
            raise AssertionError(
                "exactness: guardrail_events_total (%d) != events_delivered_total{sink=jsonl} "
                "(%d) + events_suppressed_total (%d) + events_lost_total{stage=queue} (%d) + "
                "events_lost_total{stage=alerts_file} (%d): off by %d after %.0fs; counters %r"
                % (c["events"], c["delivered_jsonl"], c["suppressed"], c["lost_queue"],
                   c["lost_alerts_file"], balance(c), timeout, c))
        time.sleep(0.1)


def shutdown(agent):
    """Fixture teardown: SIGTERM (then SIGKILL) an agent if it still runs, remove what it left
    pinned; forget it."""
    try:
        if agent.running():
            agent.stop()
    finally:
        agent.kill()
        agent.remove_pins()
        if agent in LIVE_AGENTS:
            LIVE_AGENTS.remove(agent)


@contextlib.contextmanager
def running(binary, tmp_path_factory, topo, label, **kwargs):
    """A module's agent: started in a fresh directory named after `label`, shut down after the
    last test of the module (also when one failed)."""
    a = start_agent(binary, str(tmp_path_factory.mktemp(label)), topo, label=label, **kwargs)
    try:
        yield a
    finally:
        shutdown(a)


def start_agent(binary, workdir, topo, mode="enforce", extra_args=(), policy=None, label="agent",
                exact=True, **kwargs):
    """A running agent. exact=True (the default) adds --dedup-window-seconds 0 --rate-limit 0
    (one alert per attempt) unless extra_args set them; exact=False leaves the agent's defaults."""
    agent = Agent(binary, workdir, policy or policy_yaml(topo, mode=mode),
                  extra_args=extra_args, label=label, exact=exact, **kwargs)
    return agent.start()


def check_alert_schema(alert):
    """Every alert carries every contract field of its kind with the contract's type."""
    problems = []
    for field, typ in alert_fields(alert.get("kind")).items():
        if field not in alert:
            problems.append("missing %r" % field)
        elif not isinstance(alert[field], typ) or (typ is int and isinstance(alert[field], bool)):
            problems.append("%r is %r, want %s" % (field, alert[field], typ.__name__))
    if isinstance(alert.get("time"), str) and not TIME_RE.match(alert["time"]):
        problems.append("time %r is not RFC3339 UTC with nanoseconds" % alert["time"])
    if "count" in alert:  # an agent with the alerts pipeline: the full contract applies
        for field, typ in PIPELINE_ALERT_FIELDS.items():
            if field not in alert:
                problems.append("missing %r" % field)
            elif not isinstance(alert[field], typ) or (typ is int
                                                       and isinstance(alert[field], bool)):
                problems.append("%r is %r, want %s" % (field, alert[field], typ.__name__))
        if schema_validator() is not None:
            problems += ["schema: " + e for e in schema_errors(alert)]
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


def shutdown_into(agent, errors):
    """shutdown(agent) for a teardown that goes on cleaning up: a failure joins `errors`."""
    if agent is None:
        return
    try:
        shutdown(agent)
    except Exception as exc:  # keep cleaning up
        errors.append("agent: %s" % exc)


def module_agent_fixtures(make_env, name):
    """The `env` (module scope: make_env(topo, binary, workdir).setup(), torn down after) and
    `agent` (the module's agent, asserted still running) fixtures of a test module that runs one
    agent for all its tests. Use: env, agent = module_agent_fixtures(MyEnv, "name")."""
    @pytest.fixture(scope="module")
    def env(topo, guardrail_bin, tmp_path_factory):
        e = make_env(topo, guardrail_bin, str(tmp_path_factory.mktemp(name)))
        try:
            yield e.setup()
        finally:
            e.teardown()

    @pytest.fixture
    def agent(env):
        assert env.agent.running(), "the module's agent exited:\n" + env.agent.logs()
        return env.agent

    return env, agent
