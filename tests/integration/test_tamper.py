"""Tampering with the agent's programs on a kernel without BPF-LSM (this host).

Nothing here can refuse bpf() to a privileged workload, so a root process inside a workload can
detach the link that holds its cgroup's connect4 program and, until the agent notices, reach what
the policy forbids. What the agent promises instead, and what these tests hold it to:

- detected: the detach (and the lookups by id before it) raise `tamper` alerts from the kernel,
  with the link and program ids;
- repaired: the agent re-attaches within milliseconds of that event, and a periodic check
  (--tamper-check-seconds) repairs what no event announced (a detach from outside every workload);
- honest: the repair alert says enforcement was interrupted, when it was restored and the window
  in ms; /metrics counts repairs and re-attachments and has the window's histogram.

The measured windows are printed (pytest -s, or the captured output of a failure).
"""
import os
import subprocess
import sys
import time

import pytest

import harness.agent
from harness import NETPROBE
from harness.agent import BPFTOOL, assert_alert, bpftool_cgroup_programs, check_alert_schema
from harness.topology import Proc, wait_until

# agent-a -> agent-b is forbidden (default deny between agents); a UDP connect() sends nothing,
# so only cgroup/connect4 stands between it and success: the interruption shows exactly.
SENDER, PEER, PORT = "agent-a", "agent-b", 9
CHECK_SECONDS = 1.0


@pytest.fixture(scope="module")
def agent(guardrail_bin, topo, tmp_path_factory):
    if not os.access(BPFTOOL, os.X_OK):
        pytest.skip("SKIPPED (environment): %s is needed to detach links" % BPFTOOL)
    with harness.agent.running(guardrail_bin, tmp_path_factory, topo, "tamper",
                               extra_args=["--tamper-check-seconds", str(CHECK_SECONDS)]) as a:
        yield a



def our_programs(topo, node):
    """(attach_type, name) of the programs attached directly where the node is covered from."""
    return sorted((p["attach_type"], p["name"])
                  for p in bpftool_cgroup_programs(topo[node].attach_dir, effective=False))


def wait_for(agent, mark, predicate, timeout):
    found = []

    def look():
        found[:] = [a for a in agent.alerts()[mark:] if predicate(a)]
        return bool(found)
    assert wait_until(look, timeout), (
        "no such alert within %.1fs; alerts since mark: %r\n%s"
        % (timeout, agent.alerts()[mark:], agent.logs()))
    return found


def refused(topo):
    res = topo.probe(SENDER, "sendto", topo[PEER].ip, PORT)[1][0]
    return res["result"] == "error" and res["errno"] == "EPERM"


def test_a_workload_detaching_its_connect4_link_is_detected_and_repaired(topo, agent, mark):
    before = our_programs(topo, SENDER)
    assert ("cgroup_inet4_connect", "guard_connect4") in before, before
    assert refused(topo)

    # The attacker: root in agent-a's cgroup and netns, bpftool in hand.
    proc = topo.spawn(SENDER, ["detach-and-connect", topo[SENDER].attach_dir, topo[PEER].ip,
                               str(PORT), "--seconds", "1.5", "--bpftool", BPFTOOL],
                      label="tamper-attacker")
    assert proc.wait_exit(30) == 0, proc.stderr()
    (out,) = proc.json_lines()
    assert out["result"] == "ok", out

    # Detected: the kernel's tamper alert names the link and the program.
    (detach,) = wait_for(agent, mark, lambda a: a.get("kind") == "tamper"
                         and a.get("bpf_command") == "link_detach", 5)
    assert_alert(detach, verdict="detected", backend="tracepoint", comm="bpftool",
                 workload=topo[SENDER].workload, zone=topo[SENDER].zone,
                 cgroup_id=topo.cgroup_id(SENDER), link_id=out["link_id"],
                 prog_id=out["prog_id"], detected_by="event")
    assert "interrupt enforcement" in detach["guarantee"]
    lookups = [a for a in agent.alerts()[mark:] if a.get("kind") == "tamper"
               and a.get("bpf_command") == "link_get_fd_by_id" and a["link_id"] == out["link_id"]]
    assert lookups, "the lookup by id before the detach raised no tamper alert"

    # Repaired, with the window: the agent's own tamper alert.
    (repair,) = wait_for(agent, mark, lambda a: a.get("kind") == "tamper"
                         and a.get("backend") == "agent", 5)
    check_alert_schema(repair)
    assert repair["detected_by"] == "event", repair
    assert repair["cgroup"] == topo[SENDER].attach_dir, repair
    assert repair["workload"] == topo[SENDER].attach_workload, repair
    assert repair["zone"] == topo[SENDER].zone, repair
    assert repair["restored"] is True, repair
    assert [m["program"] for m in repair["missing"]] == ["guard_connect4"], repair
    assert repair["missing"][0]["prog_id"] == out["prog_id"]
    assert repair["window"] == "measured" and 0 < repair["window_ms"] < 500, repair
    assert "interrupted" in repair["message"] and "ms" in repair["message"]
    assert our_programs(topo, SENDER) == before

    # The forbidden connect was refused again, within a bounded time of the detach.
    assert out["refused_after_pass"] > 0, "never refused again after the detach: %r" % out
    reach_ms = (out["refused_again_ns"] - out["detached_ns"]) / 1e6
    print("\ntamper window (event): agent measured %.3f ms (tamper event -> re-attached); "
          "the workload saw %d forbidden connects pass, refused again %.1f ms after its detach "
          "returned" % (repair["window_ms"], len(out["passed"]), reach_ms))
    assert reach_ms < 500, out
    assert refused(topo)

    m = agent.metrics()
    assert agent.metric("guardrail_tamper_total", detected_by="event") >= 1
    assert agent.metric("guardrail_reattach_total", result="ok") >= 1
    assert agent.metric("guardrail_tamper_window_seconds_count", detected_by="event") >= 1
    assert agent.metric("guardrail_guard_interruptible", guard="network") == 1
    assert agent.metric("guardrail_violations_total", kind="tamper", verdict="detected",
                        zone=topo[SENDER].zone) >= 2
    assert any(name == "guardrail_tamper_checks_total" and v > 0 for name, _, v in m)


def test_a_detach_no_event_saw_is_repaired_by_the_periodic_check(topo, agent, mark):
    node = PEER
    before = our_programs(topo, node)
    progs = {p["name"]: p["id"] for p in bpftool_cgroup_programs(topo[node].attach_dir,
                                                                   effective=False)}
    links = harness.agent.json.loads(subprocess.run(
        [BPFTOOL, "-j", "link", "show"], check=True, stdout=subprocess.PIPE, text=True).stdout)
    (link,) = [l for l in links if l.get("prog_id") == progs["guard_egress"]
               and l.get("cgroup_id") == os.stat(topo[node].attach_dir).st_ino]
    # From the test runner, outside every workload: no tamper event, only the check finds it.
    t0 = time.monotonic()
    subprocess.run([BPFTOOL, "link", "detach", "id", str(link["id"])], check=True)
    (repair,) = wait_for(agent, mark, lambda a: a.get("kind") == "tamper"
                         and a.get("backend") == "agent", CHECK_SECONDS * 3 + 2)
    seen_s = time.monotonic() - t0
    check_alert_schema(repair)
    assert repair["detected_by"] == "periodic_check", repair
    assert repair["cgroup"] == topo[node].attach_dir
    assert [m["program"] for m in repair["missing"]] == ["guard_egress"], repair
    assert repair["window"] == "at_most" and repair["restored"] is True
    assert 0 < repair["window_ms"] <= CHECK_SECONDS * 1000 + 500, repair
    assert our_programs(topo, node) == before
    print("\ntamper window (periodic check, %.1f s): agent's bound %.1f ms; the test saw the "
          "repair alert %.0f ms after its detach" % (CHECK_SECONDS, repair["window_ms"],
                                                     seen_s * 1000))
    assert not [a for a in agent.alerts()[mark:] if a.get("kind") == "tamper"
                and a.get("backend") != "agent"], "a detach from outside raised a kernel event"
    assert agent.metric("guardrail_tamper_total", detected_by="periodic_check") == 1


def test_probe_says_a_workload_can_interrupt_the_network_guard(guardrail_bin):
    res = subprocess.run([guardrail_bin, "probe"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    (row,) = [l for l in res.stdout.splitlines() if l.startswith("network ")]
    assert row.split()[-2:] == ["prevention", "(interruptible)"], row
    (note,) = [l for l in res.stdout.splitlines() if l.startswith("network: ")]
    assert "interrupt enforcement until the agent re-attaches" in note, note
    assert "measured here" in note and "--tamper-check-seconds" in note, note
