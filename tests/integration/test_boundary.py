"""No way from one agent to another: each attack that once got through, tried as a new user's
policy would allow it, on this machine's kernel. Each test asserts what the kernel did to the
traffic and exactly the alerts that describe it; the allowed flows (requests and their replies,
TCP, UDP, ICMP) keep working.

The policy is the harness's, plus the rules that made the attacks possible: agents may call any
API on TCP 443 (0.0.0.0/0), the orchestrator may send agents UDP on 5353, agents may ping the
orchestrator, and agents may use one named host service on loopback.
"""
import pytest

import harness.agent
import harness.topology
from harness.agent import assert_alert

HOST_SERVICE_PORT = 47901  # a service of this host that the policy names (127.0.0.1 only)


def boundary_policy(topo):
    base = harness.agent.policy_yaml(topo, name="itest")
    base = base.replace(
        "        - {cidr: 198.18.200.0/24, protocol: tcp, ports: [443]}\n",
        "        - {cidr: 198.18.200.0/24, protocol: tcp, ports: [443]}\n"
        "        - {cidr: 0.0.0.0/0, protocol: tcp, ports: [443]}\n"
        "        - {cidr: 127.0.0.1/32, protocol: tcp, ports: [%d]}\n" % HOST_SERVICE_PORT)
    return base + (
        "    - {from: {workload: orchestrator}, to: {zone: agent-sandbox}, protocol: udp,"
        " ports: [5353]}\n"
        "    - {from: {zone: agent-sandbox}, to: {workload: orchestrator}, protocol: icmp}\n")


@pytest.fixture(scope="module")
def agent(guardrail_bin, topo, tmp_path_factory):
    with harness.agent.running(guardrail_bin, tmp_path_factory, topo, "boundary",
                               policy=boundary_policy(topo)) as a:
        yield a



def assert_eperm(res):
    assert res["result"] == "error" and res["errno"] == "EPERM", res


def assert_never_connected(res):
    """The SYN was dropped on the way: the client never got an answer (it gives up before the
    first retransmission, 1 s later, so the receiver refuses exactly one SYN)."""
    assert res["result"] == "error" and res["errno"] == "ETIMEDOUT", res


# ---- 1. allowlists are for the world only ---------------------------------------------------

def test_world_allowlist_reaches_the_world(topo, agent, mark):
    with topo.tcp_server("external", 443, in_cgroup=False) as server:
        res = topo.connect("agent-a", "198.18.201.5", 443, echo="api")
        assert res["result"] == "ok" and res["echo"] == "api", res
        server.wait_lines(2, timeout=2)
    agent.wait_alerts(mark, 0)


def test_world_allowlist_never_reaches_another_agent(topo, agent, mark):
    b = topo["agent-b"]
    with topo.tcp_server("agent-b", 443) as server:
        res = topo.connect("agent-a", b.ip, 443)
        assert_eperm(res)
        (alert,) = agent.wait_alerts(mark, 1)
        assert server.json_lines() == [], "agent-b accepted a connection"
    assert_alert(alert, kind="net_connect", verdict="blocked", backend="cgroup_sock_addr",
                 workload=topo["agent-a"].workload, dst=b.ip, dport=443,
                 peer_workload=b.workload, peer_zone="agent-sandbox", peer_scope="address",
                 rule="default-deny")


# ---- 2. replies by state, not by port ---------------------------------------------------------

def test_source_port_443_is_no_key_to_another_agent(topo, agent, mark):
    """A binds source port 443 and connects to B:443: refused at A's connect."""
    b = topo["agent-b"]
    with topo.tcp_server("agent-b", 443) as server:
        res = topo.connect("agent-a", b.ip, 443, sport=443)
        assert_eperm(res)
        (alert,) = agent.wait_alerts(mark, 1)
        assert server.json_lines() == []
    assert_alert(alert, kind="net_connect", sport=443, dport=443, peer_workload=b.workload)


def test_escaped_process_from_port_443_is_an_east_west_bypass(topo, agent, mark):
    """The same from a process of A's network namespace that left A's cgroup (its hooks never
    ran): B refuses the SYN, and names it a bypass: A's hooks would have refused it."""
    a, b = topo["agent-a"], topo["agent-b"]
    with topo.tcp_server("agent-b", 443) as server:
        res = topo.connect("agent-a", b.ip, 443, sport=443, in_cgroup=False, timeout=0.8)
        assert_never_connected(res)
        alerts = agent.wait_alerts(mark, 1, timeout=6)
        assert server.json_lines() == []
    assert_alert(alerts[0], kind="east_west_bypass", verdict="blocked", backend="cgroup_skb",
                 workload=b.workload, direction="ingress", src=a.ip, sport=443, dst=b.ip,
                 dport=443, peer_workload=a.workload, rule="default-deny", pid=0)


def test_world_host_from_port_443_opens_nothing(topo, agent, mark):
    a = topo["agent-a"]
    with topo.tcp_server("agent-a", 22) as server:
        res = topo.connect("external", a.ip, 22, sport=443, in_cgroup=False, timeout=0.8)
        assert_never_connected(res)
        alerts = agent.wait_alerts(mark, 1, timeout=6)
        assert server.json_lines() == []
    assert_alert(alerts[0], kind="net_ingress", workload=a.workload, src="198.18.200.5",
                 sport=443, dport=22, peer_workload="", peer_zone="world",
                 rule="default-deny")


def test_escaped_process_reaches_no_orchestrator_port(topo, agent, mark):
    """The orchestrator may open TCP to agents on any port; that makes no agent's segment to any
    orchestrator port a reply."""
    o = topo["orchestrator"]
    with topo.tcp_server("orchestrator", 9999) as server:
        res = topo.connect("agent-a", o.ip, 9999, in_cgroup=False, timeout=0.8)
        assert_never_connected(res)
        alerts = agent.wait_alerts(mark, 1, timeout=6)
        assert server.json_lines() == []
    assert_alert(alerts[0], kind="east_west_bypass", workload="orchestrator",
                 peer_workload=topo["agent-a"].workload, dport=9999)


def test_udp_port_5353_is_no_key_to_the_orchestrator(topo, agent, mark):
    """The orchestrator may send agents UDP on 5353; an agent that binds 5353 may not use that
    to reach any orchestrator port."""
    o = topo["orchestrator"]
    with topo.udp_listener("orchestrator", 9999) as lst:
        (res,) = topo.sendto("agent-a", o.ip, 9999, sport=5353)
        assert res["result"] == "error" and res["errno"] == "EPERM", res
        (alert,) = agent.wait_alerts(mark, 1)
        assert lst.wait(1, timeout=0.3) == []
    assert_alert(alert, kind="net_send", sport=5353, dport=9999, peer_workload="orchestrator",
                 rule="default-deny")


def test_udp_exchanges_get_their_answers(topo, agent, mark):
    """Both directions of allowed UDP: the agent asks the orchestrator on 8125 and hears the
    answer; the orchestrator sends to the agent's 5353 and hears the agent's answer."""
    o, a = topo["orchestrator"], topo["agent-a"]
    with topo.udp_listener("orchestrator", 8125, echo=True) as lst:
        (res,) = topo.sendto("agent-a", o.ip, 8125, payload="ask", wait_reply=2)
        assert res["result"] == "ok" and res["reply"] == "ask-0", res
        assert [d["echoed"] for d in lst.wait(1, timeout=1)] == ["ok"]
    with topo.udp_listener("agent-a", 5353, echo=True) as lst:
        (res,) = topo.sendto("orchestrator", a.ip, 5353, payload="tell", wait_reply=2)
        assert res["result"] == "ok" and res["reply"] == "tell-0", res
    agent.wait_alerts(mark, 0)


def test_ping_gets_its_echo_reply(topo, agent, mark):
    res = topo.ping("agent-a", topo["orchestrator"].ip)
    assert res["result"] == "ok" and res["type"] == 0, res
    agent.wait_alerts(mark, 0)


def test_ping_to_another_agent_is_refused(topo, agent, mark):
    b = topo["agent-b"]
    res = topo.ping("agent-a", b.ip)
    assert res["result"] == "error", res
    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, protocol="icmp", dst=b.ip, peer_workload=b.workload,
                 rule="default-deny")


# ---- 3. workloads that share a network namespace ------------------------------------------

def test_shared_netns_tcp_is_judged_by_the_listener(topo, agent, mark):
    """Agent B's process listens inside agent A's network namespace: A reaches it over loopback
    no more than over the bridge; A's own listener there stays reachable."""
    b = topo["agent-b"]
    with topo.tcp_server("agent-b", 7100, netns="agent-a") as theirs, \
            topo.tcp_server("agent-a", 7101) as ours:
        res = topo.connect("agent-a", "127.0.0.1", 7100)
        assert_eperm(res)
        (alert,) = agent.wait_alerts(mark, 1)
        assert theirs.json_lines() == []
        own = topo.connect("agent-a", "127.0.0.1", 7101, echo="self")
        assert own["result"] == "ok" and own["echo"] == "self", own
        ours.wait_lines(2, timeout=2)
    assert_alert(alert, kind="net_connect", backend="cgroup_sock_addr", dst="127.0.0.1",
                 dport=7100, peer_workload=b.workload, peer_zone="agent-sandbox",
                 peer_scope="local-workload")
    agent.wait_alerts(mark, 1)


def test_shared_netns_udp_is_judged_by_the_bound_socket(topo, agent, mark):
    b = topo["agent-b"]
    with topo.udp_listener("agent-b", 7102, netns="agent-a") as lst:
        (res,) = topo.sendto("agent-a", "127.0.0.1", 7102)
        assert res["result"] == "error" and res["errno"] == "EPERM", res
        (alert,) = agent.wait_alerts(mark, 1)
        assert lst.wait(1, timeout=0.3) == []
    assert_alert(alert, kind="net_egress", backend="cgroup_skb", protocol="udp",
                 dst="127.0.0.1", dport=7102, peer_workload=b.workload,
                 peer_scope="local-workload")


def test_shared_netns_escape_is_caught_at_the_receiver(topo, agent, mark):
    """A process of the namespace outside every workload is the host's: it may not reach agent
    B's listener there either (B's ingress judges by the sender's socket)."""
    with topo.udp_listener("agent-b", 7103, netns="agent-a") as lst:
        (res,) = topo.sendto("agent-a", "127.0.0.1", 7103, in_cgroup=False)
        assert res["result"] == "ok", res  # no hook of its own
        (alert,) = agent.wait_alerts(mark, 1)
        assert lst.wait(1, timeout=0.3) == []
    assert_alert(alert, kind="net_ingress", workload=topo["agent-b"].workload,
                 peer_scope="local-host", peer_zone="world", dport=7103)


def test_host_network_workload_cannot_reach_metrics(topo, agent, mark):
    """An agent on the host's network: /metrics on loopback is a host service no rule names."""
    port = agent.port
    res = topo.connect("agent-a", "127.0.0.1", port, netns="host")
    assert_eperm(res)
    (alert,) = agent.wait_alerts(mark, 1)
    assert_alert(alert, kind="net_connect", dst="127.0.0.1", dport=port, peer_workload="",
                 peer_zone="world", peer_scope="local-host", rule="default-deny")


def test_host_network_workload_reaches_a_named_host_service(topo, agent, mark):
    with topo.tcp_server("agent-a", HOST_SERVICE_PORT, in_cgroup=False, netns="host") as srv:
        res = topo.connect("agent-a", "127.0.0.1", HOST_SERVICE_PORT, echo="named",
                           netns="host")
        assert res["result"] == "ok" and res["echo"] == "named", res
        srv.wait_lines(2, timeout=2)
    agent.wait_alerts(mark, 0)


@pytest.fixture
def ipv6_loopback(topo):
    """::1 in agent A's network namespace (the topology turns IPv6 off), for this test only."""
    ns = topo["agent-a"].netns
    knob = "net.ipv6.conf.lo.disable_ipv6"
    harness.topology.run(["ip", "netns", "exec", ns, "sysctl", "-qw", knob + "=0"])
    try:
        yield "::1"
    finally:
        harness.topology.run(["ip", "netns", "exec", ns, "sysctl", "-qw", knob + "=1"],
                             check=False)


def test_shared_netns_over_ipv6_loopback(topo, agent, mark, ipv6_loopback):
    b = topo["agent-b"]
    with topo.tcp_server("agent-b", 7104, netns="agent-a") as theirs, \
            topo.udp_listener("agent-b", 7105, netns="agent-a") as lst:
        res = topo.connect("agent-a", ipv6_loopback, 7104)
        assert_eperm(res)
        (udp,) = topo.sendto("agent-a", ipv6_loopback, 7105)
        assert udp["result"] == "error" and udp["errno"] == "EPERM", udp
        tcp_alert, udp_alert = agent.wait_alerts(mark, 2)
        assert theirs.json_lines() == [] and lst.wait(1, timeout=0.3) == []
    for alert, kind in ((tcp_alert, "net_connect"), (udp_alert, "net_egress")):
        assert_alert(alert, kind=kind, family="ipv6", dst="::1", peer_workload=b.workload,
                     peer_scope="local-workload")
