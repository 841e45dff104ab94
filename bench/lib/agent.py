"""The agent under benchmark: `guardrail agent` with a policy text, its own bpffs pin directory
(/sys/fs/bpf/guardrail-bench-<pid>-<n>), --detach-on-exit and no Docker discovery; ready when
/readyz answers 200 (the policy is applied). stop() ends it and `guardrail uninstall`s the pins."""
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

from .fixtures import stop_process

_COUNT = [0]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def policy_check(binary, path):
    """(ok, first error line) of `guardrail policy check FILE`."""
    res = subprocess.run([binary, "policy", "check", path], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=600)
    if res.returncode == 0:
        return True, ""
    text = (res.stderr.strip() or res.stdout.strip() or "exit %d" % res.returncode)
    first = [l for l in text.splitlines() if "error" in l] or text.splitlines()
    return False, first[0][:300]


def _mount_bpffs():
    with open("/proc/self/mounts") as f:
        if any(l.split()[1] == "/sys/fs/bpf" and l.split()[2] == "bpf" for l in f):
            return
    subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"], check=True)


class BenchAgent:
    def __init__(self, cleanup, binary, workdir, policy_text, label="agent", cpu=None,
                 extra_args=()):
        self.binary, self.label = binary, label
        os.makedirs(workdir, exist_ok=True)
        base = os.path.join(workdir, label)
        self.policy_path, self.alerts_path = base + "-policy.yaml", base + "-alerts.jsonl"
        self.log_path = base + "-stderr.log"
        with open(self.policy_path, "w") as f:
            f.write(policy_text)
        _COUNT[0] += 1
        self.pin_dir = "/sys/fs/bpf/guardrail-bench-%d-%d" % (os.getpid(), _COUNT[0])
        self.port = _free_port()
        self.cpu = cpu
        self.extra_args = list(extra_args)
        self.proc = None
        self.ready_seconds = None
        cleanup.push("stop agent " + label, self.stop)

    @property
    def argv(self):
        argv = [self.binary, "agent", "--policy", self.policy_path,
                "--metrics-address", "127.0.0.1:%d" % self.port, "--alerts", self.alerts_path,
                "--pin-dir", self.pin_dir, "--detach-on-exit", "--no-docker"] + self.extra_args
        if self.cpu is not None:
            argv = ["taskset", "-c", str(self.cpu)] + argv
        return argv

    def _get(self, path, timeout=2.0):
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    def start(self, timeout=300.0):
        """Starts the agent and waits until /readyz answers 200 (the policy enforces); returns
        the seconds that took."""
        _mount_bpffs()
        t0 = time.monotonic()
        with open(self.log_path, "w") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("agent exited with %d before it was ready: %s\n%s"
                                   % (self.proc.returncode, " ".join(self.argv), self.logs()))
            try:
                if self._get("/readyz")[0] == 200:
                    self.ready_seconds = time.monotonic() - t0
                    return self.ready_seconds
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("agent not ready within %.0fs\n%s" % (timeout, self.logs()))

    def metrics_text(self):
        return self._get("/metrics", timeout=5.0)[1]

    def metric(self, name, **labels):
        """The sum of the samples of `name` carrying `labels` (0 when there is none)."""
        total = 0.0
        for line in self.metrics_text().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            if head.split("{")[0] != name:
                continue
            if all('%s="%s"' % (k, v) in head for k, v in labels.items()):
                total += float(value)
        return total

    def logs(self, limit=4000):
        if not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, errors="replace") as f:
            return f.read()[-limit:]

    def stop(self):
        """SIGTERM (SIGKILL after 20 s), then `guardrail uninstall` of its pin directory."""
        if self.proc is not None:
            stop_process(self.proc, 20)
        if os.path.exists(self.pin_dir):
            subprocess.run([self.binary, "uninstall", "--pin-dir", self.pin_dir],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            if os.path.exists(self.pin_dir):
                shutil.rmtree(self.pin_dir, ignore_errors=True)
