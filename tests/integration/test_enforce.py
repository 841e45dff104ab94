"""One enforcing agent for the module; each test asserts what the kernel did to the traffic and
exactly which alerts the agent wrote for it."""
import pytest

import harness.agent
from harness.agent import assert_alert

BLOCKED_EGRESS = dict(verdict="blocked", backend="cgroup_sock_addr", policy="itest",
                      comm="netprobe", direction="egress", family="ipv4", rule="default-deny")


@pytest.fixture(scope="module")
def agent(guardrail_bin, topo, tmp_path_factory):
    with harness.agent.running(guardrail_bin, tmp_path_factory, topo, "enforce",
                               mode="enforce") as a:
        yield a



def sender_fields(topo, node, pid):
    n = topo[node]
    return dict(workload=n.workload, zone=n.zone, cgroup_id=topo.cgroup_id(node), pid=pid,
                src={"0.0.0.0", n.ip})  # connect()/sendmsg() may run before the source is bound


def assert_eperm(res):
    assert res["result"] == "error" and res["errno"] == "EPERM", res
    assert res["elapsed"] < 1.0, "refusal was not immediate: %r" % res


# ---- 1. allowed flows, replies included ----------------------------------------------------

def test_agent_to_orchestrator_tcp_8080_round_trip(topo, agent, mark):
    with topo.tcp_server("orchestrator", 8080) as server:
        res = topo.connect("agent-a", topo["orchestrator"].ip, 8080, echo="ping")
        assert res["result"] == "ok" and res["echo"] == "ping", res
        server.wait_lines(2, timeout=2)  # READY + one connection
        assert [c["data"] for c in server.json_lines()] == ["ping"]
    agent.wait_alerts(mark, 0)


def test_agent_to_orchestrator_udp_8125(topo, agent, mark):
    with topo.udp_listener("orchestrator", 8125) as lst:
        out = topo.sendto("agent-b", topo["orchestrator"].ip, 8125, count=2, payload="metric")
        assert [o["result"] for o in out] == ["ok", "ok"], out
        got = lst.wait(2, timeout=3)
    assert [(d["src"], d["payload"]) for d in got] == [(topo["agent-b"].ip, "metric-0"),
                                                       (topo["agent-b"].ip, "metric-1")]
    agent.wait_alerts(mark, 0)


# ---- 2. agent -> agent ---------------------------------------------------------------------

def test_agent_to_agent_tcp_connect_refused(topo, agent, mark):
    with topo.tcp_server("agent-b", 8080) as server:
        res = topo.connect("agent-a", topo["agent-b"].ip, 8080)
        assert_eperm(res)
        (alert,) = agent.wait_alerts(mark, 1)
        assert server.json_lines() == [], "agent-b accepted a connection"
    assert_alert(alert, kind="net_connect", protocol="tcp", dst=topo["agent-b"].ip, dport=8080,
                 peer_workload=topo["agent-b"].workload, peer_zone="agent-sandbox",
                 **BLOCKED_EGRESS, **sender_fields(topo, "agent-a", res["pid"]))


def test_agent_to_agent_udp_sendto_refused(topo, agent, mark):
    with topo.udp_listener("agent-b", 9999) as lst:
        (res,) = topo.sendto("agent-a", topo["agent-b"].ip, 9999)
        assert res["result"] == "error" and res["errno"] == "EPERM", res
        (alert,) = agent.wait_alerts(mark, 1)
        assert lst.received() == []
    assert_alert(alert, kind="net_send", protocol="udp", dst=topo["agent-b"].ip, dport=9999,
                 peer_workload=topo["agent-b"].workload, peer_zone="agent-sandbox",
                 **BLOCKED_EGRESS, **sender_fields(topo, "agent-a", res["pid"]))


# ---- 3. agent -> data plane ----------------------------------------------------------------

def test_agent_to_vectordb_refused(topo, agent, mark):
    with topo.tcp_server("vectordb", 6333):
        res = topo.connect("agent-a", topo["vectordb"].ip, 6333)
    assert_eperm(res)
    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, kind="net_connect", protocol="tcp", dst=topo["vectordb"].ip, dport=6333,
                 peer_workload="vectordb", peer_zone="data-plane",
                 **BLOCKED_EGRESS, **sender_fields(topo, "agent-a", res["pid"]))


# ---- 4. egress allowlist (198.18.200.0/24 tcp/443) -----------------------------------------

def test_egress_allowlist_permits_listed_destination(topo, agent, mark):
    with topo.tcp_server("external", 443, in_cgroup=False):
        res = topo.connect("agent-a", "198.18.200.5", 443, echo="tls?")
    assert res["result"] == "ok" and res["echo"] == "tls?", res
    agent.wait_alerts(mark, 0)


@pytest.mark.parametrize("ip,port", [("198.18.200.5", 80), ("198.18.201.5", 443)],
                         ids=["listed-cidr-other-port", "other-cidr-listed-port"])
def test_egress_allowlist_refuses_the_rest(topo, agent, mark, ip, port):
    with topo.tcp_server("external", port, in_cgroup=False) as server:
        res = topo.connect("agent-a", ip, port)
        assert_eperm(res)
        (alert,) = agent.wait_alerts(mark, 1)
        assert server.json_lines() == []
    assert_alert(alert, kind="net_connect", protocol="tcp", dst=ip, dport=port,
                 peer_workload="", peer_zone="world",
                 **BLOCKED_EGRESS, **sender_fields(topo, "agent-a", res["pid"]))


# ---- 5. control plane -> data plane --------------------------------------------------------

def test_orchestrator_to_vectordb_round_trip(topo, agent, mark):
    with topo.tcp_server("vectordb", 6333):
        res = topo.connect("orchestrator", topo["vectordb"].ip, 6333, echo="query")
    assert res["result"] == "ok" and res["echo"] == "query", res
    agent.wait_alerts(mark, 0)


# ---- 6. injected bypass: agent-a's netns, outside every workload cgroup --------------------

def test_injected_bypass_dropped_and_alerted(topo, agent, mark):
    a, b = topo["agent-a"], topo["agent-b"]
    with topo.udp_listener("agent-b", 9999) as victim, \
            topo.udp_listener("agent-b", 9998, in_cgroup=False) as control:
        # Control: the same path to a socket outside agent-b's cgroup is delivered, so whatever
        # happens to the next datagrams happens at agent-b's cgroup hook.
        topo.sendto("agent-a", b.ip, 9998, count=1, sport=40124, payload="control",
                    in_cgroup=False)
        assert [d["payload"] for d in control.wait(1, timeout=3)] == ["control-0"]

        out = topo.sendto("agent-a", b.ip, 9999, count=3, sport=40123, payload="bypass",
                          in_cgroup=False)
        assert [o["result"] for o in out] == ["ok"] * 3, "the sender has no hook: %r" % out
        alerts = agent.wait_alerts(mark, 3)
        assert victim.wait(1, timeout=0.5) == [], "bypass traffic reached agent-b"
    for alert in alerts:
        assert_alert(alert, kind="east_west_bypass", verdict="blocked", backend="cgroup_skb",
                     policy="itest", workload=b.workload, zone="agent-sandbox",
                     cgroup_id=topo.cgroup_id("agent-b"), pid=0, direction="ingress",
                     protocol="udp", family="ipv4", src=a.ip, sport=40123, dst=b.ip, dport=9999,
                     peer_workload=a.workload, peer_zone="agent-sandbox", rule="default-deny")


def test_ingress_from_world_dropped_and_alerted(topo, agent, mark):
    """A sender outside every zone (the external host) is not east-west: plain net_ingress."""
    b = topo["agent-b"]
    with topo.udp_listener("agent-b", 9999) as victim:
        topo.sendto("external", b.ip, 9999, count=1, sport=40125, in_cgroup=False)
        (alert,) = agent.wait_alerts(mark, 1)
        assert victim.wait(1, timeout=0.3) == []
    assert_alert(alert, kind="net_ingress", verdict="blocked", backend="cgroup_skb",
                 policy="itest", workload=b.workload, zone="agent-sandbox",
                 cgroup_id=topo.cgroup_id("agent-b"), pid=0, direction="ingress",
                 protocol="udp", family="ipv4", src="198.18.200.5", sport=40125, dst=b.ip,
                 dport=9999, peer_workload="", peer_zone="world", rule="default-deny")


def test_loopback_always_passes(topo, agent, mark):
    with topo.tcp_server("agent-a", 7000):
        res = topo.connect("agent-a", "127.0.0.1", 7000, echo="lo")
    assert res["result"] == "ok" and res["echo"] == "lo", res
    agent.wait_alerts(mark, 0)
