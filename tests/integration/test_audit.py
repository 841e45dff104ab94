"""Audit mode: the same policy evaluates and alerts, but never blocks."""
import pytest

from harness.agent import assert_alert
from harness.topology import wait_until


@pytest.mark.parametrize("how", ["cli-flag", "spec-mode"])
def test_audit_mode_lets_agent_to_agent_through_and_alerts(topo, start_agent, how):
    if how == "cli-flag":
        agent = start_agent(mode="enforce", extra_args=["--audit"])
    else:
        agent = start_agent(mode="audit")
    a, b = topo["agent-a"], topo["agent-b"]
    mark = agent.mark()

    with topo.tcp_server("agent-b", 8080) as server:
        res = topo.connect("agent-a", b.ip, 8080, echo="audited")
        assert res["result"] == "ok" and res["echo"] == "audited", res
        server.wait_lines(2, timeout=2)
        assert [c["data"] for c in server.json_lines()] == ["audited"]

    def connect_alerts():
        return [x for x in agent.alerts()[mark:] if x.get("kind") == "net_connect"]
    assert wait_until(connect_alerts, 5), "no net_connect alert in audit mode:\n%s" % (
        agent.alerts()[mark:],)
    wait_until(lambda: False, 0.8)  # settle: let every alert of the round trip arrive
    (alert,) = connect_alerts()
    assert_alert(alert, kind="net_connect", verdict="audited", backend="cgroup_sock_addr",
                 policy="itest", workload=a.workload, zone="agent-sandbox",
                 cgroup_id=topo.cgroup_id("agent-a"), pid=res["pid"], comm="netprobe",
                 direction="egress", protocol="tcp", family="ipv4", src={"0.0.0.0", a.ip},
                 dst=b.ip, dport=8080, peer_workload=b.workload, peer_zone="agent-sandbox",
                 rule="default-deny")
    # The packets of the round trip may be reported too (no dedup), but never as blocked.
    others = agent.alerts()[mark:]
    assert [x for x in others if x.get("verdict") != "audited"] == [], others
