"""Alerts that cannot be drowned, on the real kernel: a workload (a cgroup in its own network
namespace) makes ~200 refused connects and then a mount. On this kernel the mount guard runs on
its fallback (syscall tracepoints): detection only, the mount happens, so its alert is the whole
defence. The connects spend the workload's net_connect budget; the mount has a budget of its
own and a target never seen before, so its alert must be in the JSON lines, and a suppression
summary (kind "suppressed") must name the net_connect alerts the rate limit held back, with
their exact count. The accounting identity of docs/metrics.md must still hold.

With one budget per workload (before per-kind budgets) the "tight" case and the case where the
mount comes while 10000 connects are still being refused both lose the mount alert."""
import pytest

from harness.agent import (check_alert_schema, policy_yaml, require_flags, wait_quiescent)
from harness.topology import wait_until

CONNECTS = 200


def mount_guarded_policy(topo):
    """The suite's policy, with a mount guard on the agent-sandbox zone."""
    text = policy_yaml(topo, name="suppression")
    anchor = "        - {cidr: 198.18.200.0/24, protocol: tcp, ports: [443]}\n"
    assert anchor in text, text
    return text.replace(anchor, anchor + "      guards:\n        mounts: {action: deny}\n")




def suppressed_by_kind(agent):
    out = {}
    for name, labels, value in agent.metrics():
        if name == "guardrail_events_suppressed_total" and value:
            out[labels.get("kind")] = out.get(labels.get("kind"), 0) + value
    return out


# budget: "defaults" keeps the shipped budget (50/s, burst 100 per workload and kind); "tight"
# spends it at once. during: the mount is made while the connects still come (the workload's
# network budget is empty at that moment, so a shared budget would refuse the mount's alert
# almost surely), instead of after them.
@pytest.mark.parametrize("budget,connects,during", [
    ("defaults", CONNECTS, False),
    ("tight", CONNECTS, False),
    ("defaults", 10000, True),
])
def test_a_flood_of_refused_connects_does_not_hide_the_mount(topo, start_agent, mount_dir,
                                                              guardrail_bin, budget, connects,
                                                              during):
    require_flags(guardrail_bin, "--summary-interval-seconds", "--rate-limit-kind")
    # No dedup, so that every refused connect is an alert the rate limit must judge (with dedup
    # the repeats of one target fold into one alert before the limit).
    args = ["--dedup-window-seconds", "0", "--summary-interval-seconds", "1"]
    if budget == "tight":
        args += ["--rate-limit", "1", "--rate-burst", "5"]
    agent = start_agent(policy=mount_guarded_policy(topo), extra_args=args, exact=False)
    a, b = topo["agent-a"], topo["agent-b"]

    def mount():
        proc, out = topo.probe("agent-a", "mount-tmpfs", mount_dir)
        assert out == [{"pid": proc.pid, "result": "ok", "unmounted": True}], (
            "the fallback mount guard only detects: the mount must happen: %r" % out)

    if during:
        flood = topo.spawn("agent-a", ["connect", b.ip, "8080", "--timeout", "3", "--count",
                                       str(connects)])
        # The burst is spent once 100 connect alerts are out; the connects go on.
        assert wait_until(lambda: sum(x["kind"] == "net_connect" for x in agent.alerts()) >= 100,
                          10), agent.alerts()[-3:]
        mount()
        assert flood.popen.poll() is None, (
            "the connects were over before the mount was made: raise their count")
        assert flood.wait_exit(60) == 0, flood.stderr()
        results = flood.json_lines()
    else:
        results = topo.connects("agent-a", b.ip, 8080, count=connects)
        mount()
    assert [r.get("errno") for r in results] == ["EPERM"] * connects, results[-3:]

    assert wait_until(lambda: any(x["kind"] == "mount" for x in agent.alerts()), 5), (
        "the mount alert never arrived (drowned by the connects?):\n%s"
        % "\n".join(str(x) for x in agent.alerts()[-5:]))
    (mount,) = [x for x in agent.alerts() if x["kind"] == "mount"]
    check_alert_schema(mount)
    assert mount["workload"] == a.workload and mount["target"] == mount_dir, mount
    assert mount["verdict"] == "detected" and mount["backend"] == "tracepoint", mount

    c = wait_quiescent(agent, timeout=15)
    suppressed = suppressed_by_kind(agent)
    assert set(suppressed) == {"net_connect"} and suppressed["net_connect"] > 0, (
        "the flood was not suppressed, so this test proves nothing: %r %r" % (suppressed, c))
    delivered = [x for x in agent.alerts() if x["kind"] == "net_connect"]
    assert len(delivered) + suppressed["net_connect"] == connects, (len(delivered), suppressed)
    if budget == "tight":
        assert len(delivered) <= 5 + 3, "a 1/s, burst 5 budget let %d through" % len(delivered)

    # Summaries come at most once a second; they must add up to what the metric counts.
    def summaries():
        return [x for x in agent.alerts() if x["kind"] == "suppressed"]
    assert wait_until(lambda: sum(s["suppressed"].get("net_connect", 0) for s in summaries())
                      == suppressed["net_connect"], 5), (summaries(), suppressed)
    for s in summaries():
        check_alert_schema(s)
        assert s["workload"] == a.workload and s["zone"] == "agent-sandbox", s
        assert s["policy"] == "suppression" and s["verdict"] == "suppressed", s
        assert set(s["suppressed"]) == {"net_connect"}, s
        assert s["suppressed_events"] == s["suppressed"]["net_connect"] > 0, s
        assert s["targets_overflow"] == {} and s["interval_seconds"] == 1.0, s
        assert s["cgroup_id"] == topo.cgroup_id("agent-a"), s

    c = wait_quiescent(agent, timeout=10)
    kernel_alerts = [x for x in agent.alerts() if x["kind"] != "suppressed"]
    assert sum(x["count"] for x in kernel_alerts) == c["delivered_jsonl"], c
    assert c["events"] == connects + 1, c
    assert c["alerts_jsonl"] == len(agent.alerts()), c
