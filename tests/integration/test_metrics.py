"""/metrics after a known set of violations: counters equal the alerts, exactly."""
import collections

from harness.agent import wait_metric

VIOLATIONS = "guardrail_violations_total"


def test_violation_counters_match_alerts(topo, start_agent):
    agent = start_agent()
    a, b = topo["agent-a"], topo["agent-b"]
    mark = agent.mark()

    for _ in range(2):
        assert topo.connect("agent-a", b.ip, 8080).get("errno") == "EPERM"
    assert topo.connect("agent-a", topo["vectordb"].ip, 6333).get("errno") == "EPERM"
    assert topo.sendto("agent-a", b.ip, 9999)[0].get("errno") == "EPERM"
    assert topo.sendto("orchestrator", a.ip, 5000)[0].get("errno") == "EPERM"  # tcp-only flow
    with topo.udp_listener("agent-b", 9999):
        topo.sendto("agent-a", b.ip, 9999, count=3, sport=40126, in_cgroup=False)
        alerts = agent.wait_alerts(mark, 8)

    expected = {
        ("net_connect", "blocked", "agent-sandbox"): 3,
        ("net_send", "blocked", "agent-sandbox"): 1,
        ("net_send", "blocked", "control-plane"): 1,
        ("east_west_bypass", "blocked", "agent-sandbox"): 3,
    }
    seen = collections.Counter((x["kind"], x["verdict"], x["zone"]) for x in alerts)
    assert dict(seen) == expected

    for (kind, verdict, zone), n in expected.items():
        value = wait_metric(agent, n, VIOLATIONS, kind=kind, verdict=verdict, zone=zone)
        assert value == n, "%s{kind=%s,verdict=%s,zone=%s} = %r, want %d" % (
            VIOLATIONS, kind, verdict, zone, value, n)
    nonzero = collections.Counter()
    for name, labels, value in agent.metrics():
        if name == VIOLATIONS and value:
            nonzero[(labels.get("kind"), labels.get("verdict"), labels.get("zone"))] += value
    assert dict(nonzero) == expected, "unexpected non-zero violation series"
    assert agent.metric("guardrail_events_lost_total") == 0


def test_static_metrics(topo, start_agent):
    agent = start_agent()
    rules = agent.metric("guardrail_policy_rules")
    assert rules is not None and rules > 0, "guardrail_policy_rules = %r" % rules
    assert agent.metric("guardrail_guard_backend", guard="network",
                        backend="cgroup_sock_addr+cgroup_skb") == 1
    assert agent.metric("guardrail_events_lost_total") == 0
    build = [(l, v) for n, l, v in agent.metrics() if n == "guardrail_build_info"]
    assert len(build) == 1 and build[0][0].get("version") and build[0][1] == 1, build
