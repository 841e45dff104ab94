"""Enforcement outlives the agent: programs, links and maps are pinned under bpffs.

A workload makes a forbidden connect() every 10 ms while the agent is killed (SIGKILL), stopped
(SIGTERM) and restarted, or upgraded (a changed program on changed maps): not one may succeed.
The restarted agent adopts what is pinned: the same programs are kept (same ids), changed ones
are switched through the same links (same link ids), nothing is attached twice. Refusals made
while no agent ran wait in the pinned ring buffer and are alerted by the next agent.
`guardrail uninstall` removes it all; a second agent on the same pin directory refuses to start.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from harness.agent import BPFTOOL, bpftool_cgroup_programs, read_alerts
from harness.topology import wait_until

SENDER, PEER, PORT = "agent-a", "agent-b", 9  # default deny between agents
INTERVAL = 0.01


@pytest.fixture(autouse=True)
def _bpftool():
    if not os.access(BPFTOOL, os.X_OK):
        pytest.skip("SKIPPED (environment): %s is needed to list the cgroups' programs" % BPFTOOL)


def programs(topo, node, effective=True):
    """(attach_type, name, id) of every program in effect for the node's cgroup, or (effective
    False) attached where the agent attaches for it (the node's cgroup or the placeholder parent
    above it)."""
    where = topo[node].cgroup_dir if effective else topo[node].attach_dir
    return sorted((p["attach_type"], p["name"], p["id"])
                  for p in bpftool_cgroup_programs(where, effective=effective))


def by_hook(progs):
    """How many programs run per attach type: a doubled attachment shows as 2."""
    counts = {}
    for attach_type, _, _ in progs:
        counts[attach_type] = counts.get(attach_type, 0) + 1
    return counts


def links_of(pin_dir):
    """{pin name: link id} of the pinned cgroup links."""
    res = subprocess.run([BPFTOOL, "-j", "link", "show"], stdout=subprocess.PIPE, text=True,
                         check=True, timeout=20)
    by_id = {link["id"]: link for link in json.loads(res.stdout or "[]")}
    out = {}
    for root, _, files in os.walk(os.path.join(pin_dir, "links")):
        for name in files:
            path = os.path.join(root, name)
            shown = subprocess.run([BPFTOOL, "-j", "link", "show", "pinned", path],
                                   stdout=subprocess.PIPE, text=True, timeout=20)
            # bpftool 7.5 exits 255 after printing a cgroup link (it fails to name the cgroup's
            # path): the JSON it printed is what counts.
            try:
                link = json.loads(shown.stdout.splitlines()[0])
            except (IndexError, ValueError):
                raise AssertionError("bpftool link show pinned %s printed %r" % (path, shown.stdout))
            out[os.path.relpath(path, pin_dir)] = link["id"]
            assert link["id"] in by_id
    return out


class Prober:
    """The forbidden connect every 10 ms, from the sender's cgroup, for `seconds`."""

    def __init__(self, topo, seconds):
        self.proc = topo.spawn(SENDER, ["connect-loop", topo[PEER].ip, str(PORT),
                                        "--interval", str(INTERVAL), "--seconds", str(seconds)])
        self.seconds = seconds

    def result(self):
        assert self.proc.wait_exit(self.seconds + 20) == 0, self.proc.stderr()
        (out,) = self.proc.json_lines()
        return out


def assert_never_allowed(out, what, min_attempts=100):
    print("%s: %d of %d forbidden connects succeeded" % (what, out["ok"], out["attempts"]))
    assert out["attempts"] >= min_attempts, "the prober made too few attempts: %r" % out
    assert out["ok"] == 0, (
        "%d of %d forbidden connects succeeded %s (at CLOCK_MONOTONIC ns %r)"
        % (out["ok"], out["attempts"], what, out["ok_at"][:10]))
    assert set(out["errors"]) == {"EPERM"}, out


def test_kill_9_leaves_enforcement_running_and_a_restart_adopts_it(topo, start_agent):
    first = start_agent(detach_on_exit=False)
    before = programs(topo, SENDER)
    pins_before = links_of(first.pin_dir)
    assert pins_before, "nothing is pinned under %s: %r" % (first.pin_dir, list(os.walk(first.pin_dir)))
    prober = Prober(topo, seconds=4.0)
    time.sleep(0.5)
    os.kill(first.pid, signal.SIGKILL)
    first.kill()  # reaps it
    killed_at = time.monotonic()
    time.sleep(1.5)  # no agent at all: the pinned programs alone
    assert programs(topo, SENDER) == before, "the programs changed with the agent gone"
    second = start_agent(pin_dir=first.pin_dir, label="restarted")
    out = prober.result()
    assert_never_allowed(out, "around a kill -9 and a restart")
    after = programs(topo, SENDER)
    assert after == before, "the restarted agent did not keep the same programs:\n%r\n%r" % (
        before, after)
    assert links_of(first.pin_dir) == pins_before, "the links were re-made, not adopted"
    log = second.stderr_text()
    assert "adopted the enforcement pinned at" in log, log[-3000:]
    assert second.metric("guardrail_pinned") == 1
    assert second.metric("guardrail_adopted", object="link", result="new") == 0
    assert second.metric("guardrail_adopted", object="program", result="kept") > 0
    # Refusals made while no agent ran waited in the ring buffer: the next agent alerts them.
    down_s = time.monotonic() - killed_at

    def alerted_while_down():
        return [a for a in second.alerts() if a.get("kind") == "net_connect"
                and a.get("dst") == topo[PEER].ip]
    assert wait_until(lambda: len(alerted_while_down()) >= 50, 10), (
        "the restarted agent alerted %d refusals from the %.1f s without an agent"
        % (len(alerted_while_down()), down_s))


def test_graceful_stop_keeps_enforcing_and_nothing_is_attached_twice(topo, start_agent):
    first = start_agent(detach_on_exit=False)
    before = programs(topo, SENDER)
    prober = Prober(topo, seconds=3.0)
    time.sleep(0.3)
    assert first.stop(signal.SIGTERM) == 0
    assert "keep enforcing the last policy" in first.stderr_text()
    time.sleep(0.8)
    start_agent(pin_dir=first.pin_dir, label="restarted")
    assert_never_allowed(prober.result(), "across a graceful restart")
    after = programs(topo, SENDER)
    assert after == before
    assert set(by_hook(after).values()) == {1}, "a hook carries a program twice: %r" % after


def test_upgrade_switches_programs_through_the_same_links(topo, start_agent):
    # A different ring buffer size changes a map's size and a program constant: an upgrade
    # that changes both programs and maps.
    first = start_agent(detach_on_exit=False, extra_args=["--ringbuf-bytes", "262144"])
    before = programs(topo, SENDER)
    links_before = links_of(first.pin_dir)
    prober = Prober(topo, seconds=3.0)
    time.sleep(0.3)
    assert first.stop(signal.SIGTERM) == 0
    second = start_agent(pin_dir=first.pin_dir, label="upgraded",
                         extra_args=["--ringbuf-bytes", "524288"])
    assert_never_allowed(prober.result(), "across an upgrade")
    after = programs(topo, SENDER)
    assert by_hook(after) == by_hook(before), "hooks %r became %r" % (before, after)
    assert set(by_hook(after).values()) == {1}
    assert {p[2] for p in after}.isdisjoint({p[2] for p in before}), (
        "the upgraded agent still runs the old programs")
    # Cgroup links switch programs in place; host-wide (tracing, LSM) links cannot, so those
    # are new links, attached before the old ones went.
    cgroup_links = lambda links: {k: v for k, v in links.items() if "@" in k}
    links_after = links_of(first.pin_dir)
    assert cgroup_links(links_after) == cgroup_links(links_before), (
        "cgroup links were re-made, not switched")
    assert links_after.keys() == links_before.keys()
    assert second.metric("guardrail_adopted", object="link", result="replaced") > 0
    log = second.stderr_text()
    assert "all of its maps start fresh" in log, log[-3000:]
    # The upgraded programs enforce the policy from their fresh maps: still refused.
    _, lines = topo.probe(SENDER, "connect-loop", topo[PEER].ip, PORT, "--seconds", "0.2")
    assert_never_allowed(lines[0], "after the upgrade", min_attempts=5)


def test_uninstall_removes_everything(topo, start_agent, guardrail_bin):
    first = start_agent(detach_on_exit=False)
    assert first.stop(signal.SIGTERM) == 0
    assert by_hook(programs(topo, SENDER, effective=False)), "nothing stayed attached"
    _, (refused,) = topo.probe(SENDER, "connect-loop", topo[PEER].ip, PORT, "--seconds", "0.05")
    assert refused["ok"] == 0, "the stopped agent's programs no longer refuse: %r" % refused
    res = subprocess.run([guardrail_bin, "uninstall", "--pin-dir", first.pin_dir],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    assert res.returncode == 0, res.stdout
    assert "removed" in res.stdout and "enforcement by Guardrail has stopped" in res.stdout
    assert not os.path.exists(first.pin_dir)
    assert programs(topo, SENDER, effective=False) == [], "programs stayed after uninstall"
    _, (passed,) = topo.probe(SENDER, "connect-loop", topo[PEER].ip, PORT, "--seconds", "0.05")
    assert passed["ok"] == passed["attempts"], "still refused after uninstall: %r" % passed
    again = subprocess.run([guardrail_bin, "uninstall", "--pin-dir", first.pin_dir],
                           stdout=subprocess.PIPE, text=True, timeout=30)
    assert again.returncode == 0 and "nothing pinned" in again.stdout


def test_a_second_agent_on_the_same_pins_refuses_to_start(topo, start_agent, guardrail_bin,
                                                          tmp_path):
    first = start_agent()
    before = programs(topo, SENDER)
    policy = tmp_path / "second.yaml"
    with open(first.policy_path) as f:
        policy.write_text(f.read())
    res = subprocess.run([guardrail_bin, "agent", "--policy", str(policy), "--pin-dir",
                          first.pin_dir, "--metrics-address", "127.0.0.1:0", "--alerts",
                          str(tmp_path / "second.jsonl"), "--no-docker"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert res.returncode != 0, res.stdout
    assert "another guardrail agent holds" in res.stdout, res.stdout[-2000:]
    assert programs(topo, SENDER) == before, "the refused agent changed the attachments"
    assert first.running()
    res = subprocess.run([guardrail_bin, "uninstall", "--pin-dir", first.pin_dir],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    assert res.returncode == 1 and "another guardrail agent holds" in res.stdout, res.stdout
    assert programs(topo, SENDER) == before


def test_events_past_the_ring_buffer_while_no_agent_runs_are_counted_and_reported(
        topo, start_agent):
    first = start_agent(detach_on_exit=False, extra_args=["--ringbuf-bytes", "16384"])
    os.kill(first.pid, signal.SIGKILL)
    first.kill()
    # Refused sends with no agent to read their events: far more than 16 KiB of records.
    _, (flood,) = topo.probe(SENDER, "flood", topo[PEER].ip, PORT, "--count", "5000",
                             "--seconds", "10", timeout=30)
    assert flood["ok"] == 0 and flood["errors"].get("EPERM") == flood["attempts"], flood
    second = start_agent(pin_dir=first.pin_dir, label="returned",
                         extra_args=["--ringbuf-bytes", "16384"])
    lost = second.metric("guardrail_events_lost_unattended")
    assert lost and lost > 0, "no unattended loss reported after %d refusals into 16 KiB" % (
        flood["attempts"])
    assert "events were lost while no agent read the ring buffer" in second.stderr_text()
    # What the ring buffer held is alerted now; with what was lost, it is every refusal.
    def delivered():
        return sum(1 for a in second.alerts() if a.get("kind") == "net_send")
    assert wait_until(lambda: delivered() + lost >= flood["attempts"], 10), (
        "%d alerted + %d lost of %d refusals" % (delivered(), lost, flood["attempts"]))
