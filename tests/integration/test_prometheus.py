"""A real Prometheus scrapes the agent: the violation counters it stores equal the attempts
exactly, the target is up, and a live scrape passes `promtool check metrics`."""
import subprocess
import time

import harness.services
from harness.services import prom_query, start_prometheus


def wait_query(prom, query, want, timeout=30.0):
    """Poll an instant query until its single value equals `want`; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = prom_query(prom, query)
        if len(result) == 1 and result[0][1] == want:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError("Prometheus: %s = %r after %.0fs, want %r"
                                 % (query, result, timeout, want))
        time.sleep(0.25)


def test_prometheus_stores_exact_violation_counts(topo, start_agent, servers, tmp_path):
    agent = start_agent()
    prom = start_prometheus(str(tmp_path / "prometheus"), ["127.0.0.1:%d" % agent.port])
    servers.append(prom)
    b = topo["agent-b"]

    connects = topo.connects("agent-a", b.ip, 8080, count=5, interval=0.02)
    assert [c.get("errno") for c in connects] == ["EPERM"] * 5, connects
    sends = topo.sendto("agent-a", b.ip, 9999, count=3)
    assert [s.get("errno") for s in sends] == ["EPERM"] * 3, sends

    sel = 'job="guardrail",zone="agent-sandbox",verdict="blocked"'
    wait_query(prom, 'sum(guardrail_violations_total{%s,kind="net_connect"})' % sel, 5)
    wait_query(prom, 'sum(guardrail_violations_total{%s,kind="net_send"})' % sel, 3)
    up = prom_query(prom, 'up{job="guardrail"}')
    assert [v for _, v in up] == [1.0], up
    # Nothing else was counted (a stray series would break the rules' sums).
    others = prom_query(prom, 'guardrail_violations_total{job="guardrail"} > 0')
    assert sorted((m["kind"], m["zone"], v) for m, v in others) == [
        ("net_connect", "agent-sandbox", 5.0), ("net_send", "agent-sandbox", 3.0)], others
    assert agent.running(), agent.logs()


def test_live_scrape_passes_promtool_check_metrics(topo, start_agent):
    promtool = harness.services.binary(harness.services.PROMTOOL, "prometheus")
    agent = start_agent()
    # Some traffic first, so that labelled series exist too.
    assert topo.connect("agent-a", topo["agent-b"].ip, 8080).get("errno") == "EPERM"
    agent.wait_alerts(0, 1)
    text = agent.metrics_text()
    res = subprocess.run([promtool, "check", "metrics"], input=text, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=30)
    assert res.returncode == 0 and not res.stdout.strip(), (
        "promtool check metrics (%d):\n%s\n--- scrape ---\n%s" % (res.returncode, res.stdout,
                                                                text))
