"""Policy reload: SIGHUP and changes of the policy file (in place, rename over it, a ConfigMap's
`..data` symlink swap) re-read, validate, compile and swap the policy atomically; a bad policy
leaves the one in force (log, `policy_rejected` alert, guardrail_policy_reload_total); a burst of
writes is one reload; and under concurrent probing every verdict is the old or the new policy's,
never a mix.

Two policies differ only in agent-sandbox's egress allowlist (destinations in the test's "world"
namespace, which answers every connect with a RST: allowed = ECONNREFUSED, refused = EPERM from
cgroup/connect4):

    policy A (harness policy_yaml):  198.18.200.0/24 tcp 443
    policy B:                        198.18.201.0/24 tcp 443 and 80
"""
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

import harness
import harness.agent
import harness.topology
from harness.agent import Agent, policy_yaml, schema_errors
from harness.topology import wait_until

A_EGRESS = "- {cidr: 198.18.200.0/24, protocol: tcp, ports: [443]}"
B_EGRESS = "- {cidr: 198.18.201.0/24, protocol: tcp, ports: [443, 80]}"

# Destination -> (verdict under A, verdict under B). The last two agree: a policy swap must never
# change them, whatever moment a connect hits.
DESTINATIONS = [
    (("198.18.200.5", 443), ("allow", "deny")),
    (("198.18.201.5", 443), ("deny", "allow")),
    (("198.18.201.5", 80), ("deny", "allow")),
    (("198.18.200.5", 80), ("deny", "deny")),
    (("198.18.201.5", 22), ("deny", "deny")),
]

RESULTS = ("applied", "rejected", "unchanged")


def policy_a(topo):
    text = policy_yaml(topo, name="itest-a")
    assert A_EGRESS in text, "the harness policy changed: this test's expectations need updating"
    return text


def policy_b(topo):
    return policy_yaml(topo, name="itest-b").replace(A_EGRESS, B_EGRESS)


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def write_in_place(path, text):
    with open(path, "w") as f:
        f.write(text)


def write_by_rename(path, text):
    """What editors and config management do: a temporary file renamed over the policy."""
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    write_in_place(tmp, text)
    os.rename(tmp, path)


def reloads(agent):
    return {r: agent.metric("guardrail_policy_reload_total", result=r) for r in RESULTS}


def wait_reload(agent, before, result, timeout=10.0):
    """Wait until guardrail_policy_reload_total{result} passed its count in `before`; returns the
    counters then."""
    ok = wait_until(lambda: reloads(agent)[result] > before[result], timeout, interval=0.02)
    now = reloads(agent)
    assert ok, "no reload with result %s within %.0fs: %r -> %r\n%s" % (
        result, timeout, before, now, agent.logs())
    return now


def policy_info(agent):
    """The labels of guardrail_policy_info's one series."""
    series = [l for n, l, v in agent.metrics() if n == "guardrail_policy_info" and v == 1]
    assert len(series) == 1, series
    return series[0]


def verdict(topo, dest):
    res = topo.connect("agent-a", dest[0], dest[1], timeout=2.0)
    if res["result"] == "ok" or res.get("errno") == "ECONNREFUSED":
        return "allow"
    if res.get("errno") == "EPERM":
        return "deny"
    return "other:%s" % res.get("errno")


def assert_enforces(topo, which):
    """Every destination gets the verdict of policy `which` (0: A, 1: B)."""
    got = [verdict(topo, dest) for dest, _ in DESTINATIONS]
    want = [expected[which] for _, expected in DESTINATIONS]
    assert got == want, "verdicts %r, want policy %s's %r" % (got, "AB"[which], want)


def rejected_alerts(agent):
    return [a for a in agent.alerts() if a.get("kind") == "policy_rejected"]


def check_rejected_alert(alert, agent, text, active_text, generation):
    assert not schema_errors(alert), schema_errors(alert)
    assert alert["verdict"] == "rejected" and alert["backend"] == "agent", alert
    assert alert["file"] == agent.policy_path, alert
    assert alert["sha256"] == sha256(text), alert
    assert alert["active_sha256"] == sha256(active_text), alert
    assert alert["active_generation"] == generation, alert
    assert alert["policy"] == "itest-a", alert
    assert alert["errors"], alert


@pytest.fixture
def agents():
    started = []
    yield started
    for agent in started:
        harness.agent.shutdown(agent)


@pytest.fixture
def agent(guardrail_bin, topo, tmp_path, agents):
    a = Agent(guardrail_bin, str(tmp_path), policy_a(topo), label="reload")
    agents.append(a)
    return a.start()


# ---- good reloads -------------------------------------------------------------------------------

def test_starts_with_generation_and_file_hash(agent, topo):
    info = policy_info(agent)
    assert info == {"name": "itest-a", "sha256": sha256(policy_a(topo))}, info
    assert reloads(agent) == {r: 0 for r in RESULTS}
    assert agent.metric("guardrail_policy_generation") == 1
    assert_enforces(topo, 0)


def test_in_place_write_applies(agent, topo):
    before = reloads(agent)
    write_in_place(agent.policy_path, policy_b(topo))
    now = wait_reload(agent, before, "applied")
    assert now["rejected"] == before["rejected"], now
    assert policy_info(agent) == {"name": "itest-b", "sha256": sha256(policy_b(topo))}
    assert agent.metric("guardrail_policy_generation") == 2
    assert_enforces(topo, 1)
    log = agent.stderr_text() + open(agent.stdout_path).read()
    m = re.search(r"policy reload \(file_change\): applied 'itest-b' .* generation 2 .*"
                  r"reloaded in ([0-9.]+) ms, ([0-9.]+) ms after the file changed", log)
    assert m, "no applied reload in the log:\n" + agent.logs()
    print("reload: %s ms to reload, %s ms from the first change" % (m.group(1), m.group(2)))


def test_editor_rename_applies_and_back(agent, topo):
    before = reloads(agent)
    write_by_rename(agent.policy_path, policy_b(topo))
    before = wait_reload(agent, before, "applied")
    assert_enforces(topo, 1)
    write_by_rename(agent.policy_path, policy_a(topo))  # the new inode is watched too
    wait_reload(agent, before, "applied")
    assert policy_info(agent)["sha256"] == sha256(policy_a(topo))
    assert agent.metric("guardrail_policy_generation") == 3
    assert_enforces(topo, 0)


def test_sighup_rereads_the_policy_and_reopens_alerts(agent, topo):
    before = reloads(agent)
    agent.send_signal(signal.SIGHUP)  # nothing changed: same hash, no swap
    before = wait_reload(agent, before, "unchanged")
    assert agent.metric("guardrail_policy_generation") == 1
    assert "policy reload (sighup): " in agent.stderr_text() + open(agent.stdout_path).read()
    # A change and SIGHUP at once: one of the two reloads applies it, the other finds it unchanged.
    write_in_place(agent.policy_path, policy_b(topo))
    agent.send_signal(signal.SIGHUP)
    now = wait_reload(agent, before, "applied")
    wait_until(lambda: reloads(agent)["unchanged"] > before["unchanged"], 5, interval=0.05)
    now = reloads(agent)
    assert now["applied"] == before["applied"] + 1, now
    assert now["rejected"] == 0, now
    assert agent.metric("guardrail_policy_generation") == 2
    assert_enforces(topo, 1)
    assert agent.running()


def test_rewriting_the_same_content_is_unchanged(agent, topo):
    before = reloads(agent)
    write_by_rename(agent.policy_path, policy_a(topo))
    now = wait_reload(agent, before, "unchanged")
    assert now["applied"] == before["applied"], now
    assert agent.metric("guardrail_policy_generation") == 1  # no swap


def configmap_volume(root, text):
    """A Kubernetes ConfigMap volume as the kubelet lays it out."""
    os.makedirs(root)
    first = "..2026_12_02_10_00_00.000000001"
    os.mkdir(os.path.join(root, first))
    write_in_place(os.path.join(root, first, "policy.yaml"), text)
    os.symlink(first, os.path.join(root, "..data"))
    os.symlink("..data/policy.yaml", os.path.join(root, "policy.yaml"))
    return os.path.join(root, "policy.yaml")


def configmap_update(root, text, serial):
    """The kubelet's atomic update: a new timestamped directory, a `..data_tmp` symlink to it
    renamed over `..data`, the old directory removed."""
    new = "..2026_12_02_10_00_00.%09d" % serial
    old = os.readlink(os.path.join(root, "..data"))
    os.mkdir(os.path.join(root, new))
    write_in_place(os.path.join(root, new, "policy.yaml"), text)
    os.symlink(new, os.path.join(root, "..data_tmp"))
    os.rename(os.path.join(root, "..data_tmp"), os.path.join(root, "..data"))
    shutil.rmtree(os.path.join(root, old))


def test_configmap_symlink_swap_applies(guardrail_bin, topo, tmp_path, agents):
    root = str(tmp_path / "configmap")
    a = Agent(guardrail_bin, str(tmp_path), "", label="cm")
    a.policy_path = configmap_volume(root, policy_a(topo))
    agents.append(a)
    a.start()
    for serial, (text, which) in enumerate([(policy_b(topo), 1), (policy_a(topo), 0)], start=2):
        before = reloads(a)
        configmap_update(root, text, serial)
        wait_reload(a, before, "applied")
        assert policy_info(a)["sha256"] == sha256(text)
        assert_enforces(topo, which)
    assert a.metric("guardrail_policy_generation") == 3


def test_reload_rediscovers_and_attaches_new_cgroups(agent, topo):
    """A reloaded policy's new zone selects a cgroup nobody watched before: discovery runs with
    the new policy and the programs are attached there."""
    extra_rel = topo.base_rel + "/extra/x"
    extra_dir = topo.cg2 + extra_rel
    os.makedirs(extra_dir)
    try:
        def attempt(port=80):
            # A process in the new cgroup, in agent-b's network namespace.
            res = subprocess.run([sys.executable, harness.NETPROBE, "--netns",
                                  topo["agent-b"].netns_path, "--cgroup", extra_dir, "connect",
                                  "198.18.200.5", str(port), "--timeout", "2"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 timeout=20)
            assert res.returncode == 0, res.stderr
            return json.loads(res.stdout.strip().splitlines()[-1])

        assert attempt().get("errno") == "ECONNREFUSED"  # not under policy: not ours
        text = policy_a(topo).replace(
            "    - name: data-plane\n",
            "    - name: data-plane\n    - name: extra\n"
            "      selector: {cgroups: [\"%s/extra/*\"]}\n" % topo.base_rel)
        assert text != policy_a(topo)
        before = reloads(agent)
        write_by_rename(agent.policy_path, text)
        wait_reload(agent, before, "applied")
        assert agent.metric("guardrail_workloads", zone="extra") == 1
        for port in (80, 443):  # the new zone has no egress: default deny
            assert attempt(port).get("errno") == "EPERM", port
        before = reloads(agent)
        write_by_rename(agent.policy_path, policy_a(topo))  # and the zone goes again
        wait_reload(agent, before, "applied")
        assert agent.metric("guardrail_workloads", zone="extra") == 0
        # The programs stay attached, so the cgroup, no workload any more, fails closed.
        for port in (80, 443):
            assert attempt(port).get("errno") == "EPERM", port
    finally:
        for path in (extra_dir, os.path.dirname(extra_dir)):
            wait_until(lambda: not os.path.isdir(path) or harness.topology.try_rmdir(path), 5)


# ---- bad reloads --------------------------------------------------------------------------------

def assert_rejected(agent, topo, text, error_re, write=write_by_rename):
    mark = len(rejected_alerts(agent))
    before = reloads(agent)
    write(agent.policy_path, text)
    now = wait_reload(agent, before, "rejected")
    assert now["applied"] == before["applied"], now
    # The policy in force stays, and says so: the same generation and hash, the same verdicts.
    assert agent.metric("guardrail_policy_generation") == 1
    assert policy_info(agent) == {"name": "itest-a", "sha256": sha256(policy_a(topo))}
    assert_enforces(topo, 0)
    assert wait_until(lambda: len(rejected_alerts(agent)) > mark, 5)
    alert = rejected_alerts(agent)[mark]
    print("rejected: %s" % alert["message"])
    check_rejected_alert(alert, agent, text, policy_a(topo), 1)
    assert any(re.search(error_re, e) for e in alert["errors"]), alert["errors"]
    log = agent.stderr_text() + open(agent.stdout_path).read()
    for e in alert["errors"]:
        assert e in log, "error %r not in the log:\n%s" % (e, agent.logs())
    assert "stays in force" in log
    assert agent.running()
    return alert


def test_syntax_error_keeps_the_policy_in_force(agent, topo):
    text = policy_b(topo) + "  flows: [\n"
    alert = assert_rejected(agent, topo, text,
                            r"^%s:\d+:\d+: error: " % re.escape(agent.policy_path))
    assert alert["trigger"] == "file_change"


def test_unknown_capability_is_rejected_with_its_position(agent, topo):
    text = policy_b(topo).replace(
        "      selector: {cgroups: [\"%s/agents/*\"]}\n" % topo.base_rel,
        "      selector: {cgroups: [\"%s/agents/*\"]}\n"
        "      guards:\n        capabilities: {deny: [CAP_FLY]}\n" % topo.base_rel)
    assert "CAP_FLY" in text
    assert_rejected(agent, topo, text,
                    r"^%s:\d+:\d+: error: .*CAP_FLY" % re.escape(agent.policy_path),
                    write=write_in_place)


def test_beyond_the_compiled_in_map_size_applies(agent, topo):
    """More egress rules than the compiled-in map size (GR_MAX_EGRESS_RULES 16384): the agent
    makes the inactive set as large as the policy needs, so the reload applies."""
    rules = "".join("        - {cidr: 198.19.%d.%d/32, protocol: tcp, ports: [443]}\n"
                    % (i // 256, i % 256) for i in range(16500))
    text = policy_a(topo).replace("        " + A_EGRESS + "\n", "        " + A_EGRESS + "\n" + rules)
    before = reloads(agent)
    write_by_rename(agent.policy_path, text)
    wait_reload(agent, before, "applied")


def test_over_capacity_is_rejected(agent, topo):
    """More zones than the host_policy map holds: refused at compile time (where the compiler
    checks capacity), never half applied."""
    zones = "".join("    - name: extra-%d\n" % i for i in range(1023))
    text = policy_a(topo).replace("  zones:\n", "  zones:\n" + zones, 1)
    assert_rejected(agent, topo, text, r"zones; at most 1022")


def test_a_host_guard_whose_programs_are_not_loaded_needs_a_restart(agent, topo, guardrail_bin):
    probe = json.loads(subprocess.run([guardrail_bin, "probe", "--json"], stdout=subprocess.PIPE,
                                      text=True, timeout=60).stdout)
    backend = {g["guard"]: g["backend"] for g in probe["guards"]}["capabilities"]
    text = policy_a(topo).replace(
        "      selector: {cgroups: [\"%s/agents/*\"]}\n" % topo.base_rel,
        "      selector: {cgroups: [\"%s/agents/*\"]}\n"
        "      guards:\n        capabilities: {deny: [CAP_NET_RAW]}\n" % topo.base_rel)
    if backend in ("lsm", "unavailable"):
        # The LSM object loads every guard; an unavailable one stays unavailable: both apply.
        before = reloads(agent)
        write_by_rename(agent.policy_path, text)
        wait_reload(agent, before, "applied")
        return
    alert = assert_rejected(agent, topo, text, r"capabilities.*restart the agent")
    assert agent.metric("guardrail_guard_backend", guard="capabilities",
                        backend="not_enforced") == 1, "the guard must not look enforced"
    assert alert["errors"][0].startswith(agent.policy_path + ": error: ")


def test_sighup_with_a_bad_policy_rejects_it_once(agent, topo):
    text = policy_b(topo) + "  flows: [\n"
    before = reloads(agent)
    write_in_place(agent.policy_path, text)
    agent.send_signal(signal.SIGHUP)
    before = wait_reload(agent, before, "rejected")
    # The watch sees the same write: the content refused already is not alerted again.
    wait_until(lambda: sum(reloads(agent).values()) >= sum(before.values()) + 1, 5,
               interval=0.05)
    time.sleep(0.5)
    alerts = rejected_alerts(agent)
    assert any(a["trigger"] == "sighup" for a in alerts), alerts
    # (2 only when the machine stalled the signal past the watch's quiet period)
    assert 1 <= len(alerts) <= 2, alerts
    for alert in alerts:
        check_rejected_alert(alert, agent, text, policy_a(topo), 1)
    mark = len(alerts)
    os.utime(agent.policy_path)  # a touch: no new alert, counted unchanged
    now = wait_reload(agent, reloads(agent), "unchanged")
    assert len(rejected_alerts(agent)) == mark
    assert now["applied"] == 0, now
    assert_enforces(topo, 0)


def test_fixing_a_rejected_policy_applies_it(agent, topo):
    before = reloads(agent)
    write_in_place(agent.policy_path, "spec: [\n")
    before = wait_reload(agent, before, "rejected")
    write_by_rename(agent.policy_path, policy_b(topo))
    wait_reload(agent, before, "applied")
    assert_enforces(topo, 1)
    assert policy_info(agent)["sha256"] == sha256(policy_b(topo))


# ---- rapid changes ------------------------------------------------------------------------------

def test_a_burst_of_writes_is_few_reloads_and_the_last_content_wins(agent, topo):
    texts = [policy_b(topo), policy_a(topo)]
    before = reloads(agent)
    for i in range(20):  # as fast as Python writes; the last one is B
        write_in_place(agent.policy_path, texts[(i + 1) % 2] if i < 19 else policy_b(topo))
    assert open(agent.policy_path).read() == policy_b(topo)
    wait_until(lambda: policy_info(agent)["sha256"] == sha256(policy_b(topo)), 10, interval=0.05)
    time.sleep(1.5)  # past the quiet period and the maximum delay: any straggling reload ran
    now = reloads(agent)
    total = sum(now[r] - before[r] for r in RESULTS)
    assert 1 <= total <= 3, "20 writes made %d reloads: %r" % (total, now)
    assert now["rejected"] == before["rejected"], now
    assert policy_info(agent)["sha256"] == sha256(policy_b(topo))
    assert_enforces(topo, 1)


# ---- never a mix --------------------------------------------------------------------------------

PROBER = r'''
import json, os, random, socket, sys, time
stop, dests, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
dests = [(h, int(p)) for h, p in (d.rsplit(":", 1) for d in dests.split(","))]
deadline = time.monotonic() + seconds
print("READY", flush=True)
while not os.path.exists(stop) and time.monotonic() < deadline:
    order = list(range(len(dests)))
    random.shuffle(order)
    t0 = time.monotonic()
    v = []
    for i in order:
        s = socket.socket()
        s.settimeout(1.0)
        try:
            s.connect(dests[i])
            r = "allow"
        except ConnectionRefusedError:
            r = "allow"
        except PermissionError:
            r = "deny"
        except OSError as e:
            r = "other:%s" % e
        finally:
            s.close()
        v.append([i, r])
    print(json.dumps({"t0": t0, "t1": time.monotonic(), "v": v}), flush=True)
    time.sleep(0.001)
'''


def explainable(round_, policies):
    """Whether a round's verdicts (in the order they were made) are explained by the policies in
    force one after the other: each connect judged by policies[j], j never going back."""
    j = 0
    for dest, got in round_:
        while j < len(policies) and DESTINATIONS[dest][1][policies[j]] != got:
            j += 1
        if j == len(policies):
            return False
    return True


@pytest.mark.no_root
def test_the_mix_check_refuses_mixes():
    """The analysis above must be able to fail: verdicts no whole policy gives are caught."""
    a_then_b = [[0, "allow"], [3, "deny"], [1, "allow"]]  # A for 200.5:443, then B for 201.5:443
    assert explainable(a_then_b, [0, 1])
    assert not explainable(a_then_b, [0])  # no swap during the round: a mix
    assert not explainable(a_then_b, [1, 0])  # the swap went the other way
    both_denied = [[0, "deny"], [1, "deny"]]  # old entry gone, new one not yet in: a mix
    assert not explainable(both_denied, [0, 1])
    # In this order only a B -> A cut explains it: the probe shuffles the order every round.
    assert explainable(both_denied, [1, 0])
    both_allowed = [[1, "allow"], [0, "allow"]]  # new entry in, old one not yet gone
    assert not explainable(both_allowed, [0, 1])
    assert not explainable([[3, "allow"]], [0, 1])  # a verdict neither policy gives


def test_concurrent_probing_sees_old_or_new_policy_never_a_mix(agent, topo, tmp_path):
    swaps = 12
    script = tmp_path / "prober.py"
    script.write_text(PROBER)
    stop = tmp_path / "prober.stop"
    dests = ",".join("%s:%d" % d for d, _ in DESTINATIONS)
    prober = topo.spawn("agent-a", ["exec", sys.executable, str(script), str(stop), dests, "120"],
                        label="prober")
    try:
        prober.wait_ready()
        time.sleep(0.3)
        texts = [policy_a(topo), policy_b(topo)]
        timeline = []  # (written, applied, policy now in force)
        for i in range(swaps):
            which = (i + 1) % 2
            before = reloads(agent)
            written = time.monotonic()
            write_by_rename(agent.policy_path, texts[which])
            wait_reload(agent, before, "applied")
            timeline.append((written, time.monotonic(), which))
            time.sleep(random.uniform(0.1, 0.3))
        stop.write_text("")
        prober.wait_exit(10)
    finally:
        prober.stop()
    rounds = [json.loads(l) for l in prober.lines() if l.startswith("{")]
    assert len(rounds) > 200, "the prober made only %d rounds: %s" % (len(rounds), prober.stderr())
    others = [r for r in rounds if any(v.startswith("other") for _, v in r["v"])]
    assert not others, "connects neither allowed nor refused: %r" % others[:5]

    stable = transition = splits = 0
    bad = []
    for r in rounds:
        # The policies that may judge this round, in order: the one in force when it began, and
        # each one whose swap window [written, applied] the round overlaps.
        policies = [0]
        for written, applied, which in timeline:
            if applied < r["t0"]:
                policies = [which]  # in force before the round began
            elif written <= r["t1"]:
                policies.append(which)  # swapped (or maybe swapped) during the round
        if len(policies) == 1:
            stable += 1
        else:
            transition += 1
            splits += not any(explainable(r["v"], [p]) for p in policies)
        if not explainable(r["v"], policies):
            bad.append((policies, r))
    # Within each swap window the flip happens once: rounds judged wholly by the old policy, then
    # (at most) one cut by the flip, then wholly the new one's; never old again after new.
    gaps = []
    previous = 0
    for written, applied, which in timeline:
        inside = [r for r in rounds if r["t0"] >= written and r["t1"] <= applied]
        seen_new = False
        last_old_end = first_new_start = None
        for r in inside:
            if explainable(r["v"], [which]) and not explainable(r["v"], [previous]):
                seen_new = True
                first_new_start = first_new_start or r["t0"]
            elif explainable(r["v"], [previous]) and not explainable(r["v"], [which]):
                assert not seen_new, "the old policy judged a round after the new one had: %r" % r
                last_old_end = r["t1"]
        if last_old_end and first_new_start:
            gaps.append((first_new_start - last_old_end) * 1e3)
        previous = which
    print("reload under probing: %d rounds (%d stable, %d during a swap, %d of them cut by the "
          "flip), %d swaps; the flip fell in a gap between rounds of %s ms"
          % (len(rounds), stable, transition, splits, swaps,
             ", ".join("%.2f" % g for g in gaps)))
    assert not bad, "%d rounds no sequence of whole policies explains, e.g. %r" % (len(bad),
                                                                                   bad[:3])
    assert stable > 100, "too few rounds between swaps to show the settled policy: %d" % stable
    # A round is cut by a flip at most once per swap: more would mean a policy applied in parts.
    assert splits <= swaps, splits
    # And the last swap settled: the final policy, whole.
    assert_enforces(topo, timeline[-1][2])
