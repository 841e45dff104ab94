"""Real Prometheus and Alertmanager servers for the integration tests: each on a free loopback
port, with its own config and data directory under the test's tmp dir, never the system
services (scripts/setup.sh disables those). Stopped by their own pid only."""
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from .agent import free_port
from .process import terminate

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
PROMTOOL = "/usr/bin/promtool"

# Servers started and not yet stopped (their logs go into the report of a failing test).
LIVE_SERVERS = []


def binary(path, package):
    if not os.access(path, os.X_OK):
        found = shutil.which(os.path.basename(path))
        if found:
            return found
        pytest.skip("SKIPPED (environment): %s not found: install Debian's `%s` package "
                    "(scripts/setup.sh does)" % (path, package))
    return path


def http_get(url, timeout=3.0):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read().decode()


class Server:
    """A server process with its output in a log file; stop() kills exactly this pid."""

    def __init__(self, label, argv, workdir, port):
        self.label = label
        self.argv = argv
        self.port = port
        self.base = "http://127.0.0.1:%d" % port
        self.log_path = os.path.join(workdir, label + ".log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=workdir)
        LIVE_SERVERS.append(self)

    def logs(self, limit=4000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-limit:]
        except FileNotFoundError:
            return ""

    def wait_ready(self, path, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %d before it was ready:\n%s\n%s"
                                     % (self.label, self.proc.returncode, " ".join(self.argv),
                                        self.logs()))
            try:
                status, _ = http_get(self.base + path, timeout=1.0)
                if status == 200:
                    return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError("%s not ready within %.0fs:\n%s" % (self.label, timeout, self.logs()))

    def stop(self):
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)
        if self.proc.poll() is None:
            terminate(self.proc, 5)


def _start_configured(label, path, package, workdir, config_text, flags):
    """Prometheus or Alertmanager: writes config_text to workdir/LABEL.yml, starts the binary
    on it at 127.0.0.1:<a free port> with `flags` too, and waits until /-/ready answers."""
    exe = binary(path, package)
    os.makedirs(workdir, exist_ok=True)
    config = os.path.join(workdir, label + ".yml")
    with open(config, "w") as f:
        f.write(config_text)
    port = free_port()
    argv = [exe, "--config.file=" + config, "--web.listen-address=127.0.0.1:%d" % port,
            "--log.level=warn"] + flags
    return Server(label, argv, workdir, port).wait_ready("/-/ready")


def start_prometheus(workdir, scrape_targets, job="guardrail", interval="1s"):
    """Prometheus scraping `scrape_targets` (HOST:PORT list) as `job` every `interval`."""
    config = """\
global:
  scrape_interval: {interval}
  evaluation_interval: {interval}
scrape_configs:
  - job_name: {job}
    scrape_interval: {interval}
    scrape_timeout: {interval}
    static_configs:
      - targets: {targets}
""".format(interval=interval, job=job, targets=json.dumps(list(scrape_targets)))
    return _start_configured("prometheus", PROMETHEUS, "prometheus", workdir, config, [
        "--storage.tsdb.path=" + os.path.join(workdir, "prometheus-data"),
        "--web.console.templates=" + os.path.join(workdir, "consoles"),
        "--web.console.libraries=" + os.path.join(workdir, "console_libraries")])


def prom_query(server, query):
    """Instant query -> list of (labels, float value)."""
    url = "%s/api/v1/query?%s" % (server.base, urllib.parse.urlencode({"query": query}))
    status, body = http_get(url)
    data = json.loads(body)
    assert status == 200 and data.get("status") == "success", body
    return [(r["metric"], float(r["value"][1])) for r in data["data"]["result"]]


def start_alertmanager(workdir):
    """Alertmanager with a null receiver and clustering off."""
    config = """\
route:
  receiver: "null"
  group_wait: 1s
receivers:
  - name: "null"
"""
    return _start_configured("alertmanager", ALERTMANAGER, "prometheus-alertmanager", workdir,
                             config, ["--storage.path=" + os.path.join(workdir, "am-data"),
                                      "--cluster.listen-address="])


def am_alerts(server):
    status, body = http_get(server.base + "/api/v2/alerts")
    assert status == 200, body
    return json.loads(body)
