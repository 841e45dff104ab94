"""The verdict cache in socket storage (bpf/net_guard.bpf.c, struct sock_state) never allows what
the full judgement would refuse.

A socket remembers the last destination the policy allowed from it (for the cgroup that asked,
under the policy generation in force), and a connection the policy allowed takes a fast path
under the generation it was last seen allowed in. Each test here is an attempt to make a cached
verdict outlive what it rested on: a policy swap, another destination, another caller's cgroup,
a socket made in one workload and used from another, a destination over loopback whose owner
decides. Every attempt runs on one long-lived socket (netprobe.py `session`), first warmed so the
cache holds the allowed verdict.

Destinations: the "world" namespace (198.18.200.5, 198.18.201.5). Policy A allows agent-sandbox
UDP to 198.18.200.0/24 port 9000 (besides the harness policy's TCP 443); policy B does not.
"""
import json
import os
import select
import subprocess
import sys

import pytest

import harness
from harness.agent import policy_yaml
from harness.topology import wait_until

UDP_RULE = "- {cidr: 198.18.200.0/24, protocol: udp, ports: [9000]}"
TCP_RULE = "- {cidr: 198.18.200.0/24, protocol: tcp, ports: [443]}"
PORT = 9000


def policy_a(topo):
    text = policy_yaml(topo, name="cache-a")
    assert TCP_RULE in text, "the harness policy changed: this test's policies need updating"
    return text.replace(TCP_RULE, TCP_RULE + "\n        " + UDP_RULE)


def policy_b(topo):
    return policy_yaml(topo, name="cache-b")


class Session:
    """netprobe.py `session`: sockets kept across commands, one JSON line back per command."""

    def __init__(self, topo, cgroup_node, netns_node):
        argv = [sys.executable, harness.NETPROBE, "--netns", topo[netns_node].netns_path,
                "--cgroup", topo[cgroup_node].cgroup_dir, "session"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        ready = self._reply(10.0)
        assert ready["result"] == "ready", ready

    def _reply(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise AssertionError("netprobe session gave no answer within %.0fs: %s"
                                 % (timeout, self.proc.stderr.read() if self.proc.poll() else ""))
        return json.loads(line)

    def do(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._reply(10.0)

    def result(self, command):
        """"ok", or the errno name of the refusal."""
        out = self.do(command)
        return "ok" if out["result"] == "ok" else out.get("errno")

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def sessions():
    made = []
    yield made
    for s in made:
        s.close()


@pytest.fixture
def open_session(topo, sessions):
    def open_(cgroup_node="agent-a", netns_node="agent-a"):
        s = Session(topo, cgroup_node, netns_node)
        sessions.append(s)
        return s
    return open_


def reload_to(agent, text):
    """Rename a new policy over the agent's and wait until it is in force."""
    before = agent.metric("guardrail_policy_reload_total", result="applied")
    tmp = agent.policy_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, agent.policy_path)
    assert wait_until(
        lambda: agent.metric("guardrail_policy_reload_total", result="applied") > before, 10), \
        agent.logs()


def warm(session, command, times=5):
    """The command passes, several times: the cache holds its verdict."""
    got = [session.result(command) for _ in range(times)]
    assert got == ["ok"] * times, got


def test_a_swap_that_revokes_a_destination_refuses_the_socket_that_cached_it(
        start_agent, topo, open_session):
    agent = start_agent(policy=policy_a(topo))
    with topo.udp_listener("external", PORT, in_cgroup=False) as listener:
        unconnected = open_session()
        unconnected.do("udp")
        warm(unconnected, "sendto 198.18.200.5 %d" % PORT)
        connected = open_session()
        connected.do("udp")
        assert connected.result("udp-connect 198.18.200.5 %d" % PORT) == "ok"
        warm(connected, "send")
        assert len(listener.wait(10, 5.0)) == 10

        reload_to(agent, policy_b(topo))
        assert unconnected.result("sendto 198.18.200.5 %d" % PORT) == "EPERM"
        assert connected.result("send") == "EPERM"
        assert len(listener.wait(11, 1.0)) == 10, "a revoked destination got a datagram"

        reload_to(agent, policy_a(topo))  # and back: allowed again, judged afresh
        assert unconnected.result("sendto 198.18.200.5 %d" % PORT) == "ok"
        assert connected.result("send") == "ok"


def test_another_destination_from_the_same_socket_is_judged(start_agent, topo, open_session):
    start_agent(policy=policy_a(topo))
    s = open_session()
    s.do("udp")
    warm(s, "sendto 198.18.200.5 %d" % PORT)
    assert s.result("sendto 198.18.201.5 %d" % PORT) == "EPERM"  # another address
    assert s.result("sendto 198.18.200.5 %d" % (PORT + 1)) == "EPERM"  # another port
    assert s.result("sendto 198.18.200.5 %d" % PORT) == "ok"
    assert s.result("udp-connect 198.18.201.5 %d" % PORT) == "EPERM"


def test_a_socket_used_from_another_workload_is_judged_for_the_caller(start_agent, topo,
                                                                      open_session):
    """Made and cached in agent-a, then used by a task in vectordb (data-plane: no egress):
    connect and sendmsg judge the calling task."""
    start_agent(policy=policy_a(topo))
    s = open_session()
    s.do("udp")
    warm(s, "sendto 198.18.200.5 %d" % PORT)
    assert s.result("join " + topo["vectordb"].cgroup_dir) == "ok"
    assert s.result("sendto 198.18.200.5 %d" % PORT) == "EPERM"
    assert s.result("join " + topo["agent-a"].cgroup_dir) == "ok"
    assert s.result("sendto 198.18.200.5 %d" % PORT) == "ok"


def test_a_socket_of_another_workload_is_judged_for_its_owner_at_egress(start_agent, topo,
                                                                       open_session):
    """Made in vectordb (no egress), used by a task in agent-a (allowed): sendmsg allows the
    caller, and the cache it fills is the caller's; the packets belong to the socket's own
    cgroup, so cgroup_skb judges them for vectordb and drops them."""
    start_agent(policy=policy_a(topo))
    with topo.udp_listener("external", PORT, in_cgroup=False) as listener:
        s = open_session(cgroup_node="vectordb", netns_node="agent-a")
        s.do("udp")
        assert s.result("join " + topo["agent-a"].cgroup_dir) == "ok"
        got = [s.result("sendto 198.18.200.5 %d" % PORT) for _ in range(5)]
        assert got == ["EPERM"] * 5, got
        assert not listener.wait(1, 1.0), "a datagram of vectordb's socket got out"
        # the same socket's owner may not send however it asks
        assert s.result("udp-connect 198.18.200.5 %d" % PORT) == "ok"  # judged for agent-a
        assert s.result("send") == "EPERM"


def test_own_address_over_loopback_is_judged_by_the_owner_every_time(start_agent, topo,
                                                                     open_session):
    """To the namespace's own address: sendmsg allows it by address (agent-a's own), and the
    packet, over loopback, reaches a socket no workload owns: refused every time, cached or
    not."""
    start_agent(policy=policy_a(topo))
    with topo.udp_listener("agent-a", PORT, in_cgroup=False) as listener:
        s = open_session()
        s.do("udp")
        got = [s.result("sendto 198.18.0.3 %d" % PORT) for _ in range(5)]
        assert got == ["EPERM"] * 5, got
        assert not listener.wait(1, 1.0), "a host socket got a workload's datagram"


def test_an_established_connection_keeps_its_fast_path_across_swaps(start_agent, topo,
                                                                    open_session):
    """An allowed connection (agent-a to the orchestrator's 8080) keeps working across policy
    swaps that do not touch it: each new generation judges it once and renews its fast path."""
    agent = start_agent(policy=policy_a(topo))
    with topo.tcp_server("orchestrator", 8080, keep=True):
        s = open_session()
        assert s.result("tcp 198.18.0.2 8080") == "ok"
        for i in range(5):
            out = s.do("tcp-echo ping%d" % i)
            assert out["result"] == "ok" and out["echo"] == "ping%d" % i, out
        for text in (policy_b(topo), policy_a(topo)):
            reload_to(agent, text)
            for i in range(3):
                out = s.do("tcp-echo swap%d" % i)
                assert out["result"] == "ok" and out["echo"] == "swap%d" % i, out
    refused = [a for a in agent.alerts() if a.get("kind") not in (None, "policy_rejected")
               and a.get("verdict") == "blocked"]
    assert not refused, refused
