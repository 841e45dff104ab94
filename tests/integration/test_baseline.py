"""Without an agent, the topology lets everything through: this is the control for every
enforcement test (a refusal later is the agent's doing, not the fixture's)."""
import pytest

from harness.agent import bpftool_cgroup_programs


def test_no_programs_attached_without_agent(topo):
    for path in topo.all_cgroup_dirs():
        assert bpftool_cgroup_programs(path) == [], "stale programs on " + path


@pytest.mark.parametrize("src,dst,port", [
    ("agent-a", "orchestrator", 8080),
    ("agent-a", "agent-b", 8080),
    ("agent-a", "vectordb", 6333),
    ("orchestrator", "vectordb", 6333),
])
def test_tcp_flows_without_agent(topo, src, dst, port):
    with topo.tcp_server(dst, port):
        res = topo.connect(src, topo[dst].ip, port, echo="hello")
    assert res["result"] == "ok" and res["echo"] == "hello", res


@pytest.mark.parametrize("ip,port", [("198.18.200.5", 443), ("198.18.200.5", 80),
                                     ("198.18.201.5", 443)])
def test_external_reachable_without_agent(topo, ip, port):
    with topo.tcp_server("external", port, in_cgroup=False):
        res = topo.connect("agent-a", ip, port, echo="out")
    assert res["result"] == "ok" and res["echo"] == "out", res


def test_udp_flows_without_agent(topo):
    with topo.udp_listener("agent-b", 9999) as lst:
        out = topo.sendto("agent-a", topo["agent-b"].ip, 9999, count=2)
        assert [o["result"] for o in out] == ["ok", "ok"]
        got = lst.wait(2, timeout=3)
    assert [d["payload"] for d in got] == ["probe-0", "probe-1"]
    assert all(d["src"] == topo["agent-a"].ip for d in got), got


def test_bypass_path_delivers_without_agent(topo):
    """The injected-bypass sender (agent-a's netns, outside every workload cgroup) reaches
    agent-b's in-cgroup listener when nothing enforces."""
    with topo.udp_listener("agent-b", 9999) as lst:
        topo.sendto("agent-a", topo["agent-b"].ip, 9999, count=1, sport=40123, in_cgroup=False)
        got = lst.wait(1, timeout=3)
    assert [(d["src"], d["sport"]) for d in got] == [(topo["agent-a"].ip, 40123)]


def test_workload_processes_in_place(topo):
    for node in topo.workloads():
        assert topo.cgroup_pids(node), "no process in " + node.cgroup_dir
