"""Agent lifecycle: a clean stop detaches everything; a bad policy attaches nothing."""
import re
import signal
import subprocess

import pytest

from harness.agent import NET_ATTACH_TYPES, bpftool_cgroup_programs, free_port, policy_yaml

NET_HOOKS = {"connect4", "connect6", "sendmsg4", "sendmsg6", "ingress", "egress"}


def attached_hooks(cgroup_dir):
    return {NET_ATTACH_TYPES.get(p.get("attach_type"), p.get("attach_type"))
            for p in bpftool_cgroup_programs(cgroup_dir)}


def assert_nothing_attached(topo):
    left = {path: progs for path in topo.all_cgroup_dirs()
            if (progs := bpftool_cgroup_programs(path))}
    assert left == {}, "programs still in effect on test cgroups: %r" % left


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_exits_cleanly_and_detaches(topo, start_agent, sig):
    agent = start_agent()
    for node in topo.workloads():
        hooks = attached_hooks(node.cgroup_dir)
        assert NET_HOOKS <= hooks, "%s: hooks in effect %s" % (node.key, sorted(hooks))
    b = topo["agent-b"]
    assert topo.connect("agent-a", b.ip, 8080).get("errno") == "EPERM"

    assert agent.stop(sig) == 0, agent.logs()

    assert_nothing_attached(topo)
    with topo.tcp_server("agent-b", 8080):
        res = topo.connect("agent-a", b.ip, 8080, echo="free again")
    assert res["result"] == "ok" and res["echo"] == "free again", res


def _bad_policies(topo):
    good = policy_yaml(topo).splitlines()
    # Semantic error: an unknown protocol in the second flow; the line is known exactly.
    semantic = list(good)
    idx = next(i for i, l in enumerate(semantic) if "protocol: udp" in l)
    semantic[idx] = semantic[idx].replace("protocol: udp", "protocol: udpx")
    # Syntax error: an unclosed flow mapping.
    syntax = list(good)
    sidx = next(i for i, l in enumerate(syntax) if l.strip().startswith("- {name: vectordb"))
    syntax[sidx] = syntax[sidx].rstrip("}")
    return {"semantic": ("\n".join(semantic) + "\n", idx + 1),
            "syntax": ("\n".join(syntax) + "\n", None)}


@pytest.mark.parametrize("kind", ["semantic", "syntax"])
def test_bad_policy_refused_with_position(topo, guardrail_bin, tmp_path, kind):
    text, line = _bad_policies(topo)[kind]
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    try:
        res = subprocess.run([guardrail_bin, "agent", "--policy", str(path),
                              "--metrics-address", "127.0.0.1:%d" % free_port(),
                              "--alerts", str(tmp_path / "alerts.jsonl")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=15)
    except subprocess.TimeoutExpired as exc:  # subprocess.run killed it
        pytest.fail("agent kept running on a broken policy: %s" % exc)
    assert res.returncode != 0, "agent accepted a broken policy; stderr:\n" + res.stderr
    positions = re.findall(r"broken\.yaml:(\d+):(\d+)", res.stderr)
    assert positions, "no file:line:column in stderr:\n" + res.stderr
    if line is not None:
        assert str(line) in [p[0] for p in positions], (
            "expected line %d in the diagnostics:\n%s" % (line, res.stderr))
    assert_nothing_attached(topo)
