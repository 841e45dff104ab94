"""The policy from a ConfigMap volume, updated the way kubelet does it (a new timestamped
directory, a `..data_tmp` symlink renamed over `..data`, the old directory removed): the agent's
watch follows the swap, validates, swaps the policy atomically, keeps the old one on a bad update,
and the generation on /metrics and /readyz follows. Enforcement is checked with real connects from
the workload cgroup agent-a, in its own network namespace (destinations and the two policies as in
test_reload.py).
"""
import json
import os
import sys
import time

import pytest

import harness.agent
from harness.agent import Agent
from harness.topology import wait_until
from test_health import assert_ready_as_metrics_say, health
from test_reload import DESTINATIONS, PROBER, assert_enforces, configmap_update, \
    configmap_volume, policy_a, policy_b, policy_info, reloads, rejected_alerts, sha256, \
    wait_reload


@pytest.fixture
def cm(guardrail_bin, topo, tmp_path):
    """(agent, volume root): an agent whose --policy is policy.yaml of a ConfigMap volume."""
    root = str(tmp_path / "configmap")
    a = Agent(guardrail_bin, str(tmp_path), "", label="cm")
    a.policy_path = configmap_volume(root, policy_a(topo))
    a.start()
    yield a, root
    harness.agent.shutdown(a)


def generation(agent):
    return agent.metric("guardrail_policy_generation")


def test_a_good_update_is_enforced(cm, topo):
    agent, root = cm
    ready = assert_ready_as_metrics_say(agent, policy_a(topo))
    assert_enforces(topo, 0)
    serial = 2
    for text, which in ((policy_b(topo), 1), (policy_a(topo), 0), (policy_b(topo), 1)):
        before, gen = reloads(agent), generation(agent)
        configmap_update(root, text, serial)
        serial += 1
        wait_reload(agent, before, "applied")
        assert_enforces(topo, which)
        now = assert_ready_as_metrics_say(agent, text)
        assert now["generation"] == gen + 1, (gen, now)
    # Every update removed the directory before it: the watch followed each ..data swap.
    assert sorted(os.listdir(root)) == ["..2026_12_02_10_00_00.000000004", "..data",
                                        "policy.yaml"], os.listdir(root)
    assert generation(agent) == ready["generation"] + 3


def test_a_bad_update_keeps_the_policy_in_force(cm, topo):
    agent, root = cm
    ready = assert_ready_as_metrics_say(agent, policy_a(topo))
    bad = policy_b(topo) + "  flows: [\n"
    before = reloads(agent)
    configmap_update(root, bad, 2)
    now = wait_reload(agent, before, "rejected")
    assert now["applied"] == before["applied"], now
    (alert,) = rejected_alerts(agent)
    assert alert["file"] == agent.policy_path and alert["sha256"] == sha256(bad), alert
    assert alert["active_generation"] == ready["generation"], alert
    assert alert["errors"][0].startswith(agent.policy_path + ":"), alert["errors"]
    log = agent.stderr_text() + open(agent.stdout_path).read()
    assert "stays in force" in log, agent.logs()
    # The old policy, whole: its hash, its generation, its verdicts.
    assert assert_ready_as_metrics_say(agent, policy_a(topo)) == ready
    assert_enforces(topo, 0)
    # The next good update applies.
    before = reloads(agent)
    configmap_update(root, policy_b(topo), 3)
    wait_reload(agent, before, "applied")
    assert_enforces(topo, 1)
    assert assert_ready_as_metrics_say(agent, policy_b(topo))["generation"] == \
        ready["generation"] + 1


def spawn_prober(topo, tmp_path, seconds=120):
    """test_reload.py's PROBER in agent-a, every destination each round -> (process, the file
    whose creation stops it)."""
    (tmp_path / "prober.py").write_text(PROBER)
    argv = ["exec", sys.executable, str(tmp_path / "prober.py"), str(tmp_path / "prober.stop"),
            ",".join("%s:%d" % d for d, _ in DESTINATIONS), str(seconds)]
    return topo.spawn("agent-a", argv, label="cm-prober"), tmp_path / "prober.stop"


def test_rapid_updates_the_last_wins_and_enforcement_never_stops(cm, topo, tmp_path):
    agent, root = cm
    prober, stop = spawn_prober(topo, tmp_path)
    texts = [policy_a(topo), policy_b(topo)]
    try:
        prober.wait_ready()
        time.sleep(0.3)
        updates = 15
        for i in range(updates):  # as fast as kubelet's steps can be made; the last one is B
            configmap_update(root, texts[(i + 1) % 2] if i < updates - 1 else policy_b(topo),
                             2 + i)
        assert wait_until(lambda: policy_info(agent)["sha256"] == sha256(policy_b(topo)), 15,
                          interval=0.05), agent.logs()
        time.sleep(1.5)  # past the watch's quiet period and maximum delay: any straggler ran
        stop.write_text("")
        prober.wait_exit(10)
    finally:
        prober.stop()
    now = reloads(agent)
    assert now["rejected"] == 0, now
    assert_ready_as_metrics_say(agent, policy_b(topo))
    assert_enforces(topo, 1)
    rounds = [json.loads(l) for l in prober.lines() if l.startswith("{")]
    assert len(rounds) > 50, "the prober made only %d rounds: %s" % (len(rounds), prober.stderr())
    verdicts = [(i, v) for r in rounds for i, v in r["v"]]
    others = [(DESTINATIONS[i][0], v) for i, v in verdicts if v.startswith("other")]
    assert not others, "connects neither allowed nor refused: %r" % others[:5]
    # Destinations both policies deny: refused in every round, before, during and after.
    both_deny = [i for i, (_, want) in enumerate(DESTINATIONS) if want == ("deny", "deny")]
    leaked = [(DESTINATIONS[i][0], r["t0"]) for r in rounds for i, v in r["v"]
              if i in both_deny and v != "deny"]
    assert both_deny and not leaked, "enforcement was off during the updates: %r" % leaked[:5]
    print("rapid ConfigMap updates: %d updates made %d reloads (%r); %d probe rounds, %d connects "
          "that both policies deny, all refused" % (
              updates, sum(now.values()), now, len(rounds),
              sum(1 for i, _ in verdicts if i in both_deny)))
