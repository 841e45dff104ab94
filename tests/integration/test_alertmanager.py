"""The agent's webhook sink against a real Alertmanager (POST /api/v2/alerts), and against a
dead receiver: enforcement never waits for it, and what it cannot deliver is counted."""
import json
import time

from harness.agent import free_port, require_flags, schema_errors, wait_metric, wait_quiescent
from harness.services import am_alerts, start_alertmanager
from harness.topology import wait_until

NODE = "itest-node"


def webhook_args(url, *more):
    return ["--webhook-url", url, "--node-name", NODE, *more]


def test_alerts_reach_alertmanager(topo, start_agent, servers, guardrail_bin, tmp_path):
    require_flags(guardrail_bin, "--webhook-url", "--node-name")
    am = start_alertmanager(str(tmp_path / "alertmanager"))
    servers.append(am)
    agent = start_agent(extra_args=webhook_args(am.base))
    a, b = topo["agent-a"], topo["agent-b"]

    res = topo.connect("agent-a", b.ip, 8080)
    assert res.get("errno") == "EPERM" and res["elapsed"] < 1.0, res
    with topo.udp_listener("agent-b", 9999):
        topo.sendto("agent-a", b.ip, 9999, count=1, sport=40131, payload="bypass",
                    in_cgroup=False)
        agent.wait_alerts(0, 2)

    def ours():
        return [x for x in am_alerts(am)
                if x.get("labels", {}).get("alertname") == "GuardrailViolation"]
    got = wait_until(lambda: len(ours()) >= 2 and ours(), 15, interval=0.25)
    assert got and len(got) == 2, "Alertmanager lists %r" % (am_alerts(am),)
    by_kind = {x["labels"].get("kind"): x for x in got}
    assert set(by_kind) == {"net_connect", "east_west_bypass"}, got

    expect = {
        "net_connect": dict(workload=a.workload, zone="agent-sandbox", verdict="blocked"),
        "east_west_bypass": dict(workload=b.workload, zone="agent-sandbox", verdict="blocked"),
    }
    for kind, want in expect.items():
        alert = by_kind[kind]
        labels = alert["labels"]
        for k, v in dict(want, alertname="GuardrailViolation", kind=kind, node=NODE).items():
            assert labels.get(k) == v, "%s label %s=%r, want %r: %s" % (kind, k, labels.get(k),
                                                                        v, alert)
        assert labels.get("severity") == "critical", alert  # blocked: critical
        assert labels.get("target"), "no target label: %s" % alert
        assert alert.get("startsAt"), alert
        assert alert.get("status", {}).get("state") in ("active", "suppressed"), alert
        ann = alert.get("annotations", {})
        assert ann.get("summary"), alert
        # The description is the JSON-lines alert itself: it must satisfy the schema.
        line = json.loads(ann["description"])
        assert line["kind"] == kind and line["workload"] == want["workload"], line
        assert schema_errors(line) == [], schema_errors(line)
        assert ann.get("count") == "1", ann
    assert b.ip in by_kind["net_connect"]["labels"]["target"], by_kind["net_connect"]

    assert wait_metric(agent, 2, "guardrail_alerts_total", sink="webhook", timeout=10) == 2
    assert wait_metric(agent, 2, "guardrail_events_delivered_total", sink="webhook") == 2
    assert (agent.metric("guardrail_events_lost_total", stage="webhook") or 0) == 0
    wait_quiescent(agent)


def test_suppression_summary_reaches_alertmanager(topo, start_agent, servers, guardrail_bin,
                                                  tmp_path):
    require_flags(guardrail_bin, "--webhook-url", "--summary-interval-seconds")
    am = start_alertmanager(str(tmp_path / "alertmanager"))
    servers.append(am)
    agent = start_agent(extra_args=webhook_args(
        am.base, "--dedup-window-seconds", "0", "--rate-limit", "1", "--rate-burst", "2",
        "--summary-interval-seconds", "1"))
    a, b = topo["agent-a"], topo["agent-b"]
    results = topo.connects("agent-a", b.ip, 8080, count=10)
    assert [r.get("errno") for r in results] == ["EPERM"] * 10, results
    c = wait_quiescent(agent)
    assert c["suppressed"] > 0, c

    def summaries():
        return [x for x in am_alerts(am)
                if x.get("labels", {}).get("alertname") == "GuardrailAlertsSuppressed"]
    got = wait_until(summaries, 15, interval=0.25)
    assert got, "no GuardrailAlertsSuppressed in Alertmanager: %r" % (am_alerts(am),)
    labels = got[0]["labels"]
    assert labels.get("kind") == "suppressed" and labels.get("workload") == a.workload, got
    assert labels.get("zone") == "agent-sandbox" and labels.get("severity") == "warning", got
    assert labels.get("node") == NODE, got
    ann = got[0]["annotations"]
    assert "suppressed by the rate limit" in ann["summary"] and "net_connect" in ann["summary"], ann
    line = json.loads(ann["description"])
    assert schema_errors(line) == [], schema_errors(line)
    assert line["kind"] == "suppressed" and line["suppressed"]["net_connect"] > 0, line


def test_dead_webhook_never_delays_enforcement(topo, start_agent, guardrail_bin):
    require_flags(guardrail_bin, "--webhook-url", "--webhook-retries", "--webhook-timeout-ms")
    dead = "http://127.0.0.1:%d" % free_port()  # nothing listens there
    agent = start_agent(extra_args=webhook_args(dead, "--webhook-retries", "1",
                                                "--webhook-timeout-ms", "300"))
    b = topo["agent-b"]
    results = topo.connects("agent-a", b.ip, 8080, count=3, interval=0.05)
    for r in results:
        assert r.get("errno") == "EPERM" and r["elapsed"] < 1.0, results
    agent.wait_alerts(0, 3)  # the JSON-lines sink is not held up either

    lost = wait_metric(agent, 3, "guardrail_events_lost_total", stage="webhook", timeout=15)
    assert lost == 3, "events_lost_total{stage=webhook} = %r, want 3\n%s" % (lost, agent.logs())
    time.sleep(1.0)  # no more retries, no double counting
    assert agent.metric("guardrail_events_lost_total", stage="webhook") == 3
    assert (agent.metric("guardrail_alerts_total", sink="webhook") or 0) == 0
    assert (agent.metric("guardrail_events_delivered_total", sink="webhook") or 0) == 0
    assert agent.running(), "agent died with a dead webhook:\n" + agent.logs()
    # Still enforcing, still immediate.
    r = topo.connect("agent-a", b.ip, 8080)
    assert r.get("errno") == "EPERM" and r["elapsed"] < 1.0, r
    c = wait_quiescent(agent)
    assert c["events"] == 4 and c["delivered_jsonl"] == 4, c
