"""`guardrail demo --docker` against the private dockerd (harness.docker): it imports its own
busybox image, runs an orchestrator and two agent containers, the allowed connect gets through
and the east-west one is refused with an alert, and it removes its containers and image again."""
import re
import subprocess
import time

from harness.agent import free_port
from harness.docker import DOCKER, SOCKET, dockerd  # noqa: F401  (pytest fixture)


def _docker(*argv):
    return subprocess.run([DOCKER, "-H", "unix://" + SOCKET] + list(argv), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def _leftovers():
    containers = _docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    images = _docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    return ([c for c in containers if c.startswith("guardrail-demo")],
            [i for i in images if i.startswith("guardrail-demo")])


def test_demo_docker_runs_and_cleans_up(guardrail_bin, dockerd):  # noqa: F811
    assert _leftovers() == ([], [])
    images_before = set(_docker("images", "-q", "--no-trunc").stdout.split())
    start = time.monotonic()
    res = subprocess.run([guardrail_bin, "demo", "--docker", "--docker-socket", SOCKET,
                          "--metrics-address", "127.0.0.1:%d" % free_port()],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=180)
    took = time.monotonic() - start
    out = res.stdout
    assert res.returncode == 0, out + res.stderr
    assert re.search(r"^guardrail demo \d+ \(pid \d+\): Docker ", out, re.M), out
    assert "containers identified" in out, out
    summary = out[out.index("\nsummary\n"):]
    rows = {int(r.group(1)): r.group(0) for r in re.finditer(r"^  ([12]) .*$", summary, re.M)}
    assert sorted(rows) == [1, 2], summary
    assert "orchestrator" in rows[1] and 'echo "hello guardrail"' in rows[1], rows[1]
    assert "agent-b" in rows[2] and "Operation not permitted" in rows[2], rows[2]
    assert "1 net_connect" in rows[2], rows[2]
    for row in rows.values():
        assert row.rstrip().endswith("PASS"), row
    assert "attempts 2, blocked 1, network alerts 1" in summary, summary
    assert '{kind="net_connect",verdict="blocked",zone="agent-sandbox"} 1' in summary, summary
    assert "result: PASS" in summary, summary
    assert re.search(r"^    ALERT .*net_connect", out, re.M), out
    assert "\nteardown\n" in out and "  clean" in out, out
    assert _leftovers() == ([], []), out
    # The fixture's image is still there; nothing else was added or removed.
    assert set(_docker("images", "-q", "--no-trunc").stdout.split()) == images_before
    print(out)
    print("demo --docker took %.1fs" % took)


def test_demo_docker_fails_cleanly_without_docker(guardrail_bin, tmp_path):
    res = subprocess.run([guardrail_bin, "demo", "--docker", "--docker-socket",
                          str(tmp_path / "absent.sock")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=30)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "demo: Docker:" in res.stdout, res.stdout
    assert "teardown" not in res.stdout
