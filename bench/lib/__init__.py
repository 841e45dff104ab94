"""Shared helpers of the benchmark suites (bench/suites/*.py): statistics, interleaving,
cgroup/netns/nft fixtures with guaranteed cleanup, the agent under benchmark, and the tools."""
from .stats import summarize, fmt_ns, fmt_range, ratio  # noqa: F401
from .cleanup import Cleanup  # noqa: F401
from .interleave import interleave  # noqa: F401
from .fixtures import (cgroup2_root, Cgroup, Netns, Background, run, run_json,  # noqa: F401
                       nft_load, bench_id, veth_between, load_cpu, agent_cpu)
from .agent import BenchAgent, policy_check  # noqa: F401
