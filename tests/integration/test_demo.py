"""`guardrail demo`: runs end to end on this machine, every step behaves as expected, and it
leaves nothing behind (namespaces, cgroups, processes, its temp dir), also when stopped with
Ctrl-C (SIGINT) while it holds the environment up (--keep)."""
import glob
import os
import re
import signal
import subprocess
import time

import pytest

from harness.agent import free_port
from harness.topology import cgroup2_mount

DEMO_COMMS = ("gr-demo-echo", "gr-demo-udp", "gr-demo-keeper", "gr-demo-a", "gr-demo-bypass")


def _demo_argv(guardrail_bin, *extra):
    return [guardrail_bin, "demo", "--metrics-address", "127.0.0.1:%d" % free_port()] + list(extra)


def _skip_unless_demo_exists(rc, output):
    if rc == 2 and "unknown command 'demo'" in output:
        pytest.skip("this guardrail binary has no `demo` command")


def _demo_comm_pids():
    found = []
    for comm_file in glob.glob("/proc/[0-9]*/comm"):
        try:
            with open(comm_file) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm.startswith("gr-demo-"):
            found.append((comm_file.split("/")[2], comm))
    return found


def _alive(pid):
    """True if pid is still one of the demo's processes (not merely a reused pid)."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            comm = f.read().strip()
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and (comm.startswith("gr-demo-") or comm == "guardrail")


def assert_demo_passed(out):
    m = re.search(r"^guardrail demo (\d+) \(pid \d+\)", out, re.M)
    assert m, out
    demo_id = m.group(1)
    assert "\nsummary\n" in out, out
    summary = out[out.index("\nsummary\n"):]
    rows = {int(r.group(1)): r.group(0) for r in re.finditer(r"^  ([1-5]) .*$", summary, re.M)}
    assert sorted(rows) == [1, 2, 3, 4, 5], summary
    expect = {
        1: ["orchestrator", "allowed", 'connect() ok, echo "hello guardrail"', " 0 "],
        2: ["agent-b", "connect() -> EPERM", "1 net_connect"],
        3: ["agent-b", "sendto() -> EPERM", "1 net_send"],
        4: ["raw socket", "socket() -> EPERM", "1 raw_socket"],
        5: ["bypass", "sendto() ok, dropped at agent-b", "1 east_west_bypass"],
    }
    for i, words in expect.items():
        for w in words:
            assert w in rows[i], "step %d: %r not in %r" % (i, w, rows[i])
        assert rows[i].rstrip().endswith("PASS"), rows[i]
    assert "attempts 5, blocked 4, alerts 4" in summary, summary
    for kind in ("net_connect", "net_send", "raw_socket", "east_west_bypass"):
        assert '{kind="%s",verdict="blocked",zone="agent-sandbox"} 1' % kind in summary, summary
    assert "metrics match the alerts" in summary, summary
    assert "result: PASS" in summary, summary
    # Every alert was shown live, as it arrived.
    assert len(re.findall(r"^    ALERT ", out, re.M)) == 4, out
    return demo_id


def assert_clean(out, demo_id):
    assert "  clean" in out, out
    netns = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, text=True).stdout
    leftover = [l for l in netns.splitlines() if l.split()[0].startswith("grd%s-" % demo_id)]
    assert leftover == [], leftover
    cg2 = cgroup2_mount()
    assert not os.path.exists(os.path.join(cg2, "guardrail-demo-%s" % demo_id))
    assert glob.glob(os.path.join(cg2, "guardrail-demo-*")) == []
    pids = [int(p) for p in re.findall(r" pid (\d+) ", out)]
    assert len(pids) >= 4, out  # echo, udp, keeper, agent (and the steps)
    assert [p for p in pids if _alive(p)] == []
    assert _demo_comm_pids() == []
    tmp = re.search(r"removed (/tmp/guardrail-demo-\S+)", out)
    assert tmp and not os.path.exists(tmp.group(1)), out


def test_demo_runs_every_step_and_cleans_up(guardrail_bin):
    start = time.monotonic()
    res = subprocess.run(_demo_argv(guardrail_bin), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=60)
    _skip_unless_demo_exists(res.returncode, res.stderr)
    out = res.stdout
    assert res.returncode == 0, out + res.stderr
    demo_id = assert_demo_passed(out)
    assert_clean(out, demo_id)
    assert time.monotonic() - start < 20


def test_demo_ctrl_c_while_kept_up_cleans_up(guardrail_bin):
    proc = subprocess.Popen(_demo_argv(guardrail_bin, "--keep"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        for line in proc.stdout:
            lines.append(line)
            if "stays up until Ctrl-C" in line or time.monotonic() > deadline:
                break
        if proc.poll() is not None and proc.returncode == 2:
            _skip_unless_demo_exists(2, proc.stderr.read())
        assert any("stays up until Ctrl-C" in l for l in lines), "".join(lines)
        time.sleep(0.3)
        assert proc.poll() is None, "".join(lines)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(lines) + rest
    assert proc.returncode == 0, out + err
    demo_id = assert_demo_passed(out)
    assert "\nteardown\n" in out
    assert_clean(out, demo_id)


def test_demo_needs_root(guardrail_bin):
    if not os.path.exists("/usr/bin/setpriv"):
        pytest.skip("setpriv (util-linux) is not installed")
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          guardrail_bin, "demo"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=30)
    _skip_unless_demo_exists(res.returncode, res.stderr)
    if res.returncode == 126 or "Permission denied" in res.stderr:
        pytest.skip("nobody cannot execute %s" % guardrail_bin)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "needs root" in res.stdout, res.stdout
    assert "teardown" not in res.stdout
