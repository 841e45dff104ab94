"""Identity reuse: a workload goes away and its address comes back as a workload of another zone;
no packet is judged as the old one. The agent drops a removed cgroup's addresses as soon as the
cgroup is gone (inotify on cgroupfs, not the next --rescan-seconds), and the new cgroup is its
zone's from its first instruction (the placeholder of its glob).

Layout (198.18.78.0/24 on one veth pair, nothing else):

    netns gr<pid>-rcv  198.18.78.10  cgroup /gr-churn-<pid>/receiver  workload receiver (zone recv)
    netns gr<pid>-chn  198.18.78.20  cgroups /gr-churn-<pid>/za/w<i> (zone za), .../zb/w<i> (zb)

The policy lets the receiver connect to zone za on port 7000 and to nothing of zone zb. Each cycle
starts a listener for 198.18.78.20:7000 in za, waits until the receiver reaches it (identified),
removes it (process killed, cgroup removed) and at once starts the same listener in zb. The
receiver's first connect to the address after that must be refused at its own connect()
(EPERM): the address is zb's or nobody's, never still za's (then the connect would pass the
receiver's hooks and die at zb's ingress: a timeout). Every alert of the churn names its
workload and zone.
"""
import json
import os
import time

import pytest

from harness import NETPROBE
from harness.agent import Agent, check_alert_schema, shutdown
from harness.topology import Proc, cgroup2_mount, policy_document, run, try_rmdir, wait_until

CYCLES = 20
PORT = 7000
RECEIVER_IP = "198.18.78.10"
CHURN_IP = "198.18.78.20"


def churn_policy(base):
    return policy_document("churn", f"""\
  defaultZone: zb
  zones:
    - name: recv
    - name: za
      selector: {{cgroups: ["{base}/za/*"]}}
    - name: zb
      selector: {{cgroups: ["{base}/zb/*"]}}
  workloads:
    - {{name: receiver, zone: recv, cgroup: {base}/receiver}}
  flows:
    - {{from: {{workload: receiver}}, to: {{zone: za}}, protocol: tcp, ports: [{PORT}]}}
    - {{from: {{zone: za}}, to: {{workload: receiver}}, protocol: tcp}}
""")


@pytest.fixture
def churn_env(guardrail_bin, tmp_path):
    pid = os.getpid()
    base = "/gr-churn-%d" % pid
    root = cgroup2_mount() + base
    rcv, chn = "gr%d-rcv" % pid, "gr%d-chn" % pid
    procs = []
    agent = None
    try:
        for ns in (rcv, chn):
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", rcv, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
             "netns", chn])
        for ns, ip in ((rcv, RECEIVER_IP), (chn, CHURN_IP)):
            run(["ip", "netns", "exec", ns, "sh", "-c",
                 "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6"], check=False)
            run(["ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        for d in ("receiver", "za", "zb"):
            os.makedirs(root + "/" + d, exist_ok=True)
        keeper = Proc([
            "/usr/bin/python3", NETPROBE, "--netns", "/run/netns/" + rcv, "--cgroup",
            root + "/receiver", "exec", "sleep", "100000"], "receiver")
        procs.append(keeper)
        assert wait_until(lambda: str(keeper.pid) in open(root + "/receiver/cgroup.procs")
                          .read().split(), 5), keeper.stderr()
        agent = Agent(guardrail_bin, str(tmp_path / "agent"), churn_policy(base),
                      extra_args=["--rescan-seconds", "30", "--docker-socket",
                                  "/nonexistent.sock"]).start()
        yield {"agent": agent, "root": root, "base": base, "rcv": "/run/netns/" + rcv,
               "chn": "/run/netns/" + chn, "procs": procs}
    finally:
        if agent is not None:
            shutdown(agent)
        for p in procs:
            p.stop()
        for ns in (rcv, chn):
            run(["ip", "netns", "del", ns], check=False)
        for dirpath, _, _ in sorted(os.walk(root, topdown=False), key=lambda e: -len(e[0])):
            assert wait_until(lambda: try_rmdir(dirpath), 10), "cannot remove " + dirpath


def receiver_connect(env, timeout=1.0):
    res = run(["/usr/bin/python3", NETPROBE, "--netns", env["rcv"], "--cgroup",
               env["root"] + "/receiver", "connect", CHURN_IP, str(PORT), "--timeout",
               str(timeout)], check=False)
    out = [json.loads(l) for l in res.stdout.splitlines() if l.startswith("{")]
    assert out, res.stderr
    return out[0]


def listener(env, zone, i):
    cg = "%s/%s/w%d" % (env["root"], zone, i)
    os.mkdir(cg)
    # In the namespace first, then in the cgroup (as a container runtime does): when the cgroup
    # becomes populated, its process's namespace holds the address.
    p = Proc(["nsenter", "--net=" + env["chn"], "sh", "-c",
              "echo $$ > %s/cgroup.procs && exec /usr/bin/python3 %s serve-tcp %d"
              % (cg, NETPROBE, PORT)], "%s-w%d" % (zone, i))
    env["procs"].append(p)
    p.wait_ready(10)
    return p, cg


def remove(env, proc, cg):
    proc.stop()
    env["procs"].remove(proc)
    assert wait_until(lambda: try_rmdir(cg), 10), "cannot remove " + cg


def test_a_reused_address_is_never_judged_as_the_workload_that_left(churn_env):
    env, agent = churn_env, churn_env["agent"]
    mark = agent.mark()
    outcomes = []
    for i in range(CYCLES):
        old, old_cg = listener(env, "za", i)
        # Identified as za's (its first process joined: cgroup.events): the receiver gets in.
        assert wait_until(lambda: receiver_connect(env)["result"] == "ok", 10), (
            "cycle %d: the receiver never reached the za listener\n%s" % (i, agent.logs()))
        remove(env, old, old_cg)
        new, new_cg = listener(env, "zb", i)
        first = receiver_connect(env)
        outcomes.append(first.get("errno") or first["result"])
        remove(env, new, new_cg)
    print("\nidentity reuse: first connect to the reused address after za -> zb, %d cycles: %s"
          % (CYCLES, {o: outcomes.count(o) for o in set(outcomes)}))
    assert outcomes == ["EPERM"] * CYCLES, outcomes
    time.sleep(0.5)
    alerts = agent.alerts()[mark:]
    refused = [a for a in alerts if a["kind"] == "net_connect"]
    assert len(refused) >= CYCLES
    for a in alerts:
        check_alert_schema(a)
        assert a["zone"] and a["zone"] != "unknown", a
        assert a["workload"] and a["workload"] != "unknown", a
    for a in refused:
        assert (a["workload"], a["zone"]) == ("receiver", "recv"), a
        # The peer is the new workload (zb) or nobody yet (world): never the za one that left.
        assert a["peer_zone"] in ("zb", "world"), a
        assert not a["peer_workload"].startswith("za:"), a
