"""The alerts pipeline between the ring buffer and the sinks: dedup, rate limiting, the exactness
of its accounting, the alert schema (schema/alert.schema.json), file rotation and SIGHUP."""
import collections
import os
import signal
import sys
import time

import pytest

from harness.agent import (read_alerts, require_flags, schema_errors, wait_metric, wait_quiescent)
from harness.topology import wait_until

PIPELINE_FLAGS = ("--dedup-window-seconds", "--rate-limit", "--rate-burst")


@pytest.fixture(autouse=True)
def pipeline_flags(guardrail_bin):
    require_flags(guardrail_bin, *PIPELINE_FLAGS)


def assert_schema(alerts):
    """Every alert validates against schema/alert.schema.json."""
    bad = [(a, errs) for a in alerts if (errs := schema_errors(a))]
    assert not bad, "alerts violating schema/alert.schema.json:\n" + "\n".join(
        "%s\n  %s" % (a, "\n  ".join(e)) for a, e in bad)


def target(alert):
    return (alert["kind"], alert["dst"], alert["dport"])


def all_eperm(results):
    assert [r.get("errno") for r in results] == ["EPERM"] * len(results), results
    assert max(r.get("elapsed", 0) for r in results) < 1.0, results


# ---- dedup ---------------------------------------------------------------------------------------

def test_dedup_folds_repeats_into_one_alert(topo, start_agent):
    agent = start_agent(extra_args=["--dedup-window-seconds", "2", "--rate-limit", "0"])
    b = topo["agent-b"]
    t0 = time.monotonic()
    all_eperm(topo.connects("agent-a", b.ip, 8080, count=5))

    # The first occurrence is emitted at once, before the window closes.
    assert wait_until(lambda: len(agent.alerts()) >= 1, 1.5), "first occurrence not emitted"
    early = agent.alerts()
    assert len(early) == 1 and early[0]["count"] == 1, early
    if time.monotonic() - t0 < 1.5:  # the window is surely still open: nothing more yet
        assert len(agent.alerts()) == 1, agent.alerts()

    alerts = agent.wait_alerts(0, 2, timeout=4.5, settle=1.0)
    assert time.monotonic() - t0 < 6.5
    assert_schema(alerts)
    assert [a["count"] for a in alerts] == [1, 4], alerts
    assert target(alerts[0]) == target(alerts[1]) == ("net_connect", b.ip, 8080), alerts
    first, folded = alerts
    assert first["first_time"] == first["last_time"], first
    assert first["first_time"] <= folded["first_time"] <= folded["last_time"], folded
    assert folded["workload"] == first["workload"] == topo["agent-a"].workload

    c = wait_quiescent(agent)
    assert c["events"] == 5 and c["delivered_jsonl"] == 5 and c["alerts_jsonl"] == 2, c
    assert c["deduplicated"] == 4, (
        "guardrail_events_deduplicated_total = %r, want 4 (the repeats folded into the "
        "second alert): %r" % (c["deduplicated"], c))


def test_dedup_keeps_different_targets_apart(topo, start_agent):
    agent = start_agent(extra_args=["--dedup-window-seconds", "2", "--rate-limit", "0"])
    b, vdb = topo["agent-b"], topo["vectordb"]
    all_eperm(topo.connects("agent-a", b.ip, 8080, count=3))
    all_eperm(topo.connects("agent-a", b.ip, 8081, count=3))
    all_eperm(topo.connects("agent-a", vdb.ip, 8080, count=1))
    all_eperm(topo.sendto("agent-a", b.ip, 8080, count=2))  # same address, another kind

    alerts = agent.wait_alerts(0, 7, timeout=6, settle=1.0)
    assert_schema(alerts)
    per_target = collections.defaultdict(list)
    for a in alerts:
        per_target[target(a)].append(a["count"])
    assert dict(per_target) == {
        ("net_connect", b.ip, 8080): [1, 2],
        ("net_connect", b.ip, 8081): [1, 2],
        ("net_connect", vdb.ip, 8080): [1],
        ("net_send", b.ip, 8080): [1, 1],
    }, alerts
    c = wait_quiescent(agent)
    assert c["events"] == 9 and c["delivered_jsonl"] == 9, c


def test_dedup_disabled_with_zero_window(topo, start_agent):
    agent = start_agent(extra_args=["--dedup-window-seconds", "0", "--rate-limit", "0"])
    all_eperm(topo.connects("agent-a", topo["agent-b"].ip, 8080, count=4))
    alerts = agent.wait_alerts(0, 4)
    assert [a["count"] for a in alerts] == [1] * 4
    assert_schema(alerts)
    wait_quiescent(agent)


# ---- rate limit ----------------------------------------------------------------------------------

def test_rate_limit_suppresses_and_counts(topo, start_agent):
    agent = start_agent(extra_args=["--dedup-window-seconds", "0", "--rate-limit", "1",
                                    "--rate-burst", "2"])
    all_eperm(topo.connects("agent-a", topo["agent-b"].ip, 8080, count=10))
    c = wait_quiescent(agent)
    assert_schema(agent.alerts())
    # One target: its first alert is never limited, its repeats are. A suppression summary
    # (kind "suppressed") may follow; it is no kernel event.
    alerts = [x for x in agent.alerts() if x["kind"] != "suppressed"]
    suppressed = agent.metric("guardrail_events_suppressed_total", reason="rate_limit")
    assert suppressed is not None, "no guardrail_events_suppressed_total{reason=rate_limit}"
    assert len(alerts) + suppressed == 10, (len(alerts), suppressed, alerts)
    assert suppressed >= 6, "only %r of 10 suppressed with a 1/s, burst 2 bucket" % suppressed
    assert c["events"] == 10 and c["suppressed"] == suppressed, c
    assert sum(a["count"] for a in alerts) == c["delivered_jsonl"], (alerts, c)


# ---- exactness -----------------------------------------------------------------------------------

def test_exactness_equation_at_quiescence(topo, start_agent):
    agent = start_agent(extra_args=["--dedup-window-seconds", "1", "--rate-limit", "3",
                                    "--rate-burst", "4"])
    a, b = topo["agent-a"], topo["agent-b"]
    all_eperm(topo.connects("agent-a", b.ip, 8080, count=12))
    all_eperm(topo.sendto("agent-a", b.ip, 9999, count=6, payload="x"))
    all_eperm(topo.sendto("orchestrator", a.ip, 5000, count=3))  # the flow is tcp only
    with topo.udp_listener("agent-b", 9999):
        topo.sendto("agent-a", b.ip, 9999, count=4, sport=40141, in_cgroup=False)
        time.sleep(0.3)
    time.sleep(1.2)  # let the dedup windows close
    c = wait_quiescent(agent, timeout=10)
    alerts = agent.alerts()
    assert_schema(alerts)
    assert c["lost_ringbuf"] == 0, c
    assert c["events"] == 12 + 6 + 3 + 4, c
    # Suppression summaries are alert lines that stand for no delivered event.
    assert sum(x["count"] for x in alerts if x["kind"] != "suppressed") == c["delivered_jsonl"], c
    assert len(alerts) == c["alerts_jsonl"], (len(alerts), c)
    violations = agent.metric("guardrail_violations_total")
    assert violations == c["events"], "violations_total (%r) counts every kernel event (%r)" % (
        violations, c["events"])


# ---- the alert fields ----------------------------------------------------------------------------

def test_alert_fields_and_schema(topo, start_agent, guardrail_bin):
    require_flags(guardrail_bin, "--node-name")
    agent = start_agent(extra_args=["--node-name", "itest-node-7"])
    a, b = topo["agent-a"], topo["agent-b"]
    # The prober stays alive a second so that the agent can read its /proc entry.
    (res,) = topo.connects("agent-a", b.ip, 8080, count=1, linger=1.0)
    all_eperm([res])
    with topo.udp_listener("agent-b", 9999):
        topo.sendto("agent-a", b.ip, 9999, count=1, sport=40142, in_cgroup=False)   # bypass
        topo.sendto("external", b.ip, 9999, count=1, sport=40143, in_cgroup=False)  # ingress
        alerts = agent.wait_alerts(0, 3)
    assert_schema(alerts)
    by_kind = {x["kind"]: x for x in alerts}
    assert set(by_kind) == {"net_connect", "east_west_bypass", "net_ingress"}, alerts
    for x in alerts:
        assert x["node"] == "itest-node-7" and x["labels"] == {} and x["count"] == 1, x
        assert x["first_time"] == x["last_time"], x
    conn = by_kind["net_connect"]
    assert conn["pid"] == res["pid"], conn
    # The prober is a python3 started by this pytest process; "" / 0 mean "unknown".
    assert conn["exe"] in ("", os.path.realpath(sys.executable)), conn
    assert conn["ppid"] in (0, os.getpid()), conn
    assert conn["parent_exe"] in ("", os.path.realpath(sys.executable)), conn
    assert conn["exe"] != "" and conn["ppid"] != 0, "process info not filled in: %s" % conn
    for kind in ("east_west_bypass", "net_ingress"):  # packets: no process context
        x = by_kind[kind]
        assert (x["pid"], x["ppid"], x["exe"], x["parent_exe"]) == (0, 0, "", ""), x


# ---- alerts file: rotation and SIGHUP ------------------------------------------------------------

def test_alerts_file_rotation(topo, start_agent, guardrail_bin):
    require_flags(guardrail_bin, "--alerts-max-bytes", "--alerts-keep")
    agent = start_agent(extra_args=["--alerts-max-bytes", "2000", "--alerts-keep", "2"])
    all_eperm(topo.connects("agent-a", topo["agent-b"].ip, 8080, count=30))
    assert wait_metric(agent, 30, "guardrail_alerts_total", sink="jsonl", timeout=10) == 30
    path = agent.alerts_path
    files = [path, path + ".1", path + ".2"]
    for f in files:
        assert os.path.isfile(f), "missing %s; have %s" % (f, sorted(os.listdir(
            os.path.dirname(path))))
    assert not os.path.exists(path + ".3"), "--alerts-keep 2 kept a third rotated file"
    per_file = {}
    for f in files:
        with open(f) as fh:
            text = fh.read()
        assert text.endswith("\n"), "%s ends in a partial line" % f
        per_file[f] = read_alerts(f)  # every line must be JSON
        assert per_file[f], "%s is empty" % f
        assert_schema(per_file[f])
        if f != path:
            longest = max(len(line) + 1 for line in text.splitlines())
            assert os.path.getsize(f) <= 2000 + longest, "%s is %d bytes" % (
                f, os.path.getsize(f))
    # Oldest to newest: .2, .1, the live file; the newest alert is in the live file.
    ordered = per_file[path + ".2"] + per_file[path + ".1"] + per_file[path]
    times = [x["time"] for x in ordered]
    assert times == sorted(times), "rotated files are out of order"
    assert len(ordered) < 30, "nothing was rotated away with --alerts-keep 2"
    assert (agent.metric("guardrail_events_lost_total", stage="alerts_file") or 0) == 0
    wait_quiescent(agent)


def test_sighup_reopens_alerts_file(topo, start_agent):
    agent = start_agent()
    b = topo["agent-b"]
    all_eperm(topo.connects("agent-a", b.ip, 8080, count=1))
    agent.wait_alerts(0, 1)
    moved = agent.alerts_path + ".moved"
    os.rename(agent.alerts_path, moved)  # what logrotate does
    agent.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert agent.running(), "SIGHUP stopped the agent:\n" + agent.logs()
    all_eperm(topo.connects("agent-a", b.ip, 8081, count=2))
    assert wait_until(lambda: len(agent.alerts()) >= 2, 5), (
        "no fresh alerts file at %s after SIGHUP; the moved one has %d alerts"
        % (agent.alerts_path, len(read_alerts(moved))))
    time.sleep(0.5)
    fresh, old = agent.alerts(), read_alerts(moved)
    assert [x["dport"] for x in fresh] == [8081, 8081], fresh
    assert [x["dport"] for x in old] == [8080], old
    assert_schema(fresh + old)
    wait_quiescent(agent)


# ---- the pipeline's gauges and histogram ---------------------------------------------------------

def test_pipeline_gauges_and_latency(topo, start_agent):
    agent = start_agent(extra_args=["--ringbuf-bytes", "65536"])
    all_eperm(topo.connects("agent-a", topo["agent-b"].ip, 8080, count=3))
    agent.wait_alerts(0, 3)
    wait_quiescent(agent)
    samples = agent.metrics()

    def one(name, **labels):
        got = [v for n, l, v in samples
               if n == name and all(l.get(k) == w for k, w in labels.items())]
        assert len(got) == 1, "%s%r: %r" % (name, labels, got)
        return got[0]
    assert one("guardrail_ringbuf_size_bytes") == 65536
    assert 0 <= one("guardrail_ringbuf_unread_bytes") <= 65536
    assert one("guardrail_policy_generation") >= 1
    assert one("guardrail_workloads", zone="agent-sandbox") == 2
    # Latency: one observation per alert line, all well under the poll interval's scale.
    assert one("guardrail_event_latency_seconds_count") == 3
    assert one("guardrail_event_latency_seconds_bucket", le="+Inf") == 3
    assert 0 < one("guardrail_event_latency_seconds_sum") < 3 * 1.0
    for guard in ("raw-sockets", "runtime-sockets", "capabilities", "mounts"):
        assert one("guardrail_guard_backend", guard=guard, backend="not_enforced") == 1
    assert one("guardrail_guard_backend", guard="network",
               backend="cgroup_sock_addr+cgroup_skb") == 1
    for stage in ("ringbuf", "queue", "webhook", "alerts_file"):
        assert one("guardrail_events_lost_total", stage=stage) == 0
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        stats_on = f.read().strip() == "1"
    runs = [l for n, l, v in samples if n == "guardrail_bpf_prog_runs_total"]
    secs = [l for n, l, v in samples if n == "guardrail_bpf_prog_run_seconds_total"]
    if stats_on:
        assert runs and secs, "kernel.bpf_stats_enabled=1 but no guardrail_bpf_prog_* series"
    else:
        assert runs == [] and secs == [], "bpf_prog_* exported with kernel.bpf_stats_enabled=0"
