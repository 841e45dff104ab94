"""Far more violations per second than the agent can take: a 4 KiB ring buffer and a 16-entry
queue against one process sending refused UDP datagrams as fast as it can. Enforcement must
not care (every send gets EPERM), and every attempt must be accounted for exactly: queued by
the kernel or counted lost there, then delivered, suppressed or counted lost by the agent."""
from harness.agent import require_flags, wait_quiescent
from harness.topology import wait_until

ATTEMPTS = 200000
SECONDS = 10.0


def test_flood_is_enforced_and_accounted_exactly(topo, start_agent, guardrail_bin):
    require_flags(guardrail_bin, "--queue-capacity", "--dedup-window-seconds", "--rate-limit")
    agent = start_agent(extra_args=["--ringbuf-bytes", "4096", "--queue-capacity", "16",
                                    "--dedup-window-seconds", "0", "--rate-limit", "50",
                                    "--rate-burst", "100", "--summary-interval-seconds", "1"])
    b = topo["agent-b"]
    res = topo.flood("agent-a", b.ip, 9999, count=ATTEMPTS, seconds=SECONDS)
    attempts = res["attempts"]
    assert attempts > 0, res
    assert res["ok"] == 0 and res["errors"] == {"EPERM": attempts}, (
        "enforcement gave way under the flood: %r" % res)

    c = wait_quiescent(agent, timeout=20)
    assert agent.running(), "agent died under the flood:\n" + agent.logs()
    assert c["events"] + c["lost_ringbuf"] == attempts, (
        "kernel accounting: guardrail_events_total (%d) + guardrail_events_lost_total"
        "{stage=ringbuf} (%d) = %d, want the %d attempts; counters %r"
        % (c["events"], c["lost_ringbuf"], c["events"] + c["lost_ringbuf"], attempts, c))
    assert c["lost_ringbuf"] + c["lost_queue"] > 0, (
        "the flood did not overflow: %d sends in %.1fs, all %d events got through a 4 KiB ring "
        "buffer and a 16-entry queue, so this test proves nothing; counters %r"
        % (attempts, res["elapsed"], c["events"], c))
    violations = agent.metric("guardrail_violations_total", kind="net_send")
    assert violations == c["events"], (violations, c)
    # The rate limit held most of the flood back, and the suppression summaries (kind
    # "suppressed", at most one a second) report exactly what it held back.
    assert c["suppressed"] > 0, c

    def summarised():
        return sum(a["suppressed"].get("net_send", 0) for a in agent.alerts()
                   if a["kind"] == "suppressed")
    assert wait_until(lambda: summarised() == c["suppressed"], 5), (summarised(), c)
    c = wait_quiescent(agent, timeout=10)
    alerts = agent.alerts()
    assert len(alerts) == c["alerts_jsonl"], (len(alerts), c)
    assert sum(a["count"] for a in alerts if a["kind"] != "suppressed") == c["delivered_jsonl"], c
