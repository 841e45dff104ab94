"""/healthz and /readyz of the real agent, on its metrics address: JSON, ready once the programs
are attached and the policy applied, with the generation and sha256 that /metrics reports, and
following a reload."""
import json
import urllib.error
import urllib.request

import pytest

from harness.agent import Agent
from harness.topology import wait_until
from test_reload import policy_a, policy_b, policy_info, reloads, sha256, wait_reload, \
    write_by_rename


def health(agent, path):
    """GET path on the agent's metrics address -> (HTTP status, parsed JSON body)."""
    url = "http://127.0.0.1:%d%s" % (agent.port, path)
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            status, body, ctype = resp.status, resp.read(), resp.headers.get("Content-Type")
    except urllib.error.HTTPError as e:
        status, body, ctype = e.code, e.read(), e.headers.get("Content-Type")
    assert ctype == "application/json", (path, ctype, body)
    return status, json.loads(body)


def assert_ready_as_metrics_say(agent, text):
    """/readyz is ready with the generation /metrics has and the sha256 of `text`."""
    status, ready = health(agent, "/readyz")
    assert status == 200, ready
    assert ready["status"] == "ready" and ready["programs_attached"] and ready["policy_applied"]
    assert ready["generation"] == agent.metric("guardrail_policy_generation"), ready
    assert ready["sha256"] == sha256(text) == policy_info(agent)["sha256"], ready
    assert ready["policy"] == policy_info(agent)["name"], ready
    return ready


@pytest.fixture
def agent(guardrail_bin, topo, tmp_path):
    a = Agent(guardrail_bin, str(tmp_path), policy_a(topo), label="health").start()
    yield a
    a.stop()


def test_ready_with_the_generation_after_start(agent, topo):
    ready = assert_ready_as_metrics_say(agent, policy_a(topo))
    assert ready["policy"] == "itest-a" and ready["generation"] >= 1, ready
    status, live = health(agent, "/healthz")
    assert status == 200 and live["status"] == "ok", live
    # The main loop has turned (it beats at every wake-up, at least once a re-scan interval).
    assert wait_until(lambda: "main" in health(agent, "/healthz")[1]["loops"], 5), live
    main = health(agent, "/healthz")[1]["loops"]["main"]
    assert main["live"] is True, main


def test_the_generation_follows_a_reload(agent, topo):
    before_ready = assert_ready_as_metrics_say(agent, policy_a(topo))
    before = reloads(agent)
    write_by_rename(agent.policy_path, policy_b(topo))
    wait_reload(agent, before, "applied")
    after = assert_ready_as_metrics_say(agent, policy_b(topo))
    assert after["generation"] > before_ready["generation"], (before_ready, after)
    assert after["policy"] == "itest-b", after


def test_a_rejected_reload_leaves_readiness_as_it_was(agent, topo):
    ready = assert_ready_as_metrics_say(agent, policy_a(topo))
    before = reloads(agent)
    write_by_rename(agent.policy_path, policy_b(topo) + "  flows: [\n")
    wait_reload(agent, before, "rejected")
    assert assert_ready_as_metrics_say(agent, policy_a(topo)) == ready
