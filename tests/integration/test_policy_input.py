"""Bounded policy input through the real binary: the inputs that made yaml-cpp 0.7 allocate until
the OOM killer came end in a positioned error, for `policy check` and the agent alike, under a
1 GiB address-space limit; a policy the kernel maps cannot hold is refused by both, naming the
limit (docs/policy.md)."""
import glob
import os
import re
import resource
import subprocess

import pytest

from harness.agent import bpftool_cgroup_programs, free_port, policy_yaml

MEMORY_LIMIT = 1 << 30  # bytes of address space: yaml-cpp passed it within seconds


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_limited(cmd):
    """Runs cmd with the memory limit; a hang is a failure, not a stuck suite."""
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=30, preexec_fn=_limited)
    except subprocess.TimeoutExpired as exc:
        pytest.fail("did not end: %s" % exc)


def hang_inputs(source):
    files = sorted(glob.glob(os.path.join(source, "fuzz/corpus/policy/yaml-cpp-hang-*.yaml")))
    assert len(files) >= 9, "the corpus lost its yaml-cpp cases"
    return files


def egress_policy(topo, rules):
    """policy_yaml with `rules` extra /32 egress rules in the agent zone."""
    lines = policy_yaml(topo).splitlines()
    at = next(i for i, l in enumerate(lines) if "cidr: 198.18.200.0/24" in l) + 1
    extra = ["        - {cidr: 10.%d.%d.%d/32}" % (i >> 16 & 255, i >> 8 & 255, i & 255)
             for i in range(rules)]
    return "\n".join(lines[:at] + extra + lines[at:]) + "\n"


@pytest.mark.no_root
def test_policy_check_ends_every_yaml_cpp_hang_with_a_position(guardrail_bin, source_dir):
    for path in hang_inputs(source_dir):
        res = run_limited([guardrail_bin, "policy", "check", path])
        assert res.returncode == 1, (path, res.returncode, res.stderr)
        assert re.search(re.escape(path) + r":\d+:\d+: error: invalid YAML", res.stderr), (
            path, res.stderr)


@pytest.mark.no_root
def test_policy_check_names_depth_and_size_limits(guardrail_bin, tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 100000 + "]" * 100000)
    res = run_limited([guardrail_bin, "policy", "check", str(deep)])
    assert res.returncode == 1
    assert "deep.yaml:1:33: error: the policy nests deeper than 32 levels" in res.stderr, res.stderr
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    res = run_limited([guardrail_bin, "policy", "check", str(big)])
    assert res.returncode == 1
    assert "big.yaml:1:1: error: the policy file has more than 1048576 bytes" in res.stderr


def assert_nothing_attached(topo):
    left = {p: progs for p in topo.all_cgroup_dirs() if (progs := bpftool_cgroup_programs(p))}
    assert left == {}, "programs in effect on test cgroups: %r" % left


def run_agent(guardrail_bin, tmp_path, policy):
    return run_limited([guardrail_bin, "agent", "--policy", str(policy),
                        "--metrics-address", "127.0.0.1:%d" % free_port(),
                        "--alerts", str(tmp_path / "alerts.jsonl")])


def test_agent_refuses_a_yaml_cpp_hang_with_a_position(topo, guardrail_bin, source_dir, tmp_path):
    path = hang_inputs(source_dir)[0]
    res = run_agent(guardrail_bin, tmp_path, path)
    assert res.returncode != 0, res.stderr
    assert re.search(re.escape(path) + r":\d+:\d+: error: invalid YAML", res.stderr), res.stderr
    assert_nothing_attached(topo)


def test_check_and_agent_load_more_than_the_compiled_in_map_size(topo, guardrail_bin, tmp_path):
    # 16,384 egress prefixes are the compiled-in size (GR_MAX_EGRESS_RULES): the base rule plus
    # 16,384 more load all the same, into a map made as large as the policy needs.
    path = tmp_path / "beyond-compiled-size.yaml"
    path.write_text(egress_policy(topo, 16384))
    check = run_limited([guardrail_bin, "policy", "check", str(path)])
    assert check.returncode == 0, check.stderr
    assert "16385" not in check.stderr, check.stderr
