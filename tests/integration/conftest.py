"""Root integration suite: the real `guardrail agent` against workloads in cgroups and netns.

Run (as ctest does):
    /usr/bin/python3 -m pytest -v -ra tests/integration \
        --guardrail-bin BUILD/guardrail --guardrail-source /work/main

Needs root, cgroup v2 (found in /proc/self/mounts) and iproute2; without them every test is
skipped with the reason.
"""
import os
import shutil

import pytest

import harness.agent
import harness.services
from harness.agent import Agent, policy_yaml
from harness.topology import Topology, cgroup2_mount, is_mounted, run


def pytest_addoption(parser):
    group = parser.getgroup("guardrail")
    group.addoption("--guardrail-bin", default=None,
                    help="path to the guardrail binary (default: SOURCE/build/guardrail)")
    group.addoption("--guardrail-source", default=None,
                    help="the guardrail source tree (default: two levels above this directory)")


def _missing_requirement():
    if os.geteuid() != 0:
        return "integration tests need root (euid is %d)" % os.geteuid()
    if cgroup2_mount() is None:
        with open("/proc/filesystems") as f:
            known = "cgroup2" in f.read()
        return ("integration tests need cgroup v2: the kernel %s, and no cgroup2 mount is in "
                "/proc/self/mounts" % ("has it" if known else "lacks it"))
    if shutil.which("ip") is None:
        return "integration tests need iproute2 (`ip`)"
    if not os.path.isdir("/run/netns") and not os.access("/run", os.W_OK):
        return "integration tests need a writable /run for `ip netns`"
    return None


@pytest.fixture(scope="session")
def requirements():
    reason = _missing_requirement()
    if reason:
        pytest.skip("SKIPPED (environment): " + reason)


@pytest.fixture(autouse=True)
def _root_environment(request):
    """Every test needs root, cgroup v2 and iproute2, except those marked no_root (e.g. the
    promtool checks of deploy/prometheus)."""
    if request.node.get_closest_marker("no_root") is None:
        request.getfixturevalue("requirements")


@pytest.fixture(scope="session")
def source_dir(request):
    return os.path.abspath(request.config.getoption("--guardrail-source")
                           or os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="session")
def guardrail_bin(request, source_dir):
    path = request.config.getoption("--guardrail-bin") or os.path.join(source_dir, "build",
                                                                       "guardrail")
    path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("guardrail binary not found or not executable: %s "
                    "(build it, or pass --guardrail-bin)" % path)
    return path


@pytest.fixture(scope="session")
def topo(requirements):
    """The namespaces, bridge and workload cgroups, shared by the whole session."""
    t = Topology(cgroup2_mount())
    t.setup()
    try:
        yield t
    finally:
        t.teardown()


@pytest.fixture
def start_agent(guardrail_bin, topo, tmp_path):
    """start_agent(mode="enforce", extra_args=(), policy=None, exact=True) -> a running, ready
    Agent. exact=True adds --dedup-window-seconds 0 --rate-limit 0 (one alert per attempt) unless
    extra_args set them. Every agent started here is stopped (SIGTERM, then SIGKILL) when the
    test ends."""
    agents = []

    def start(mode="enforce", extra_args=(), policy=None, label=None, exact=True, **kwargs):
        agent = Agent(guardrail_bin, str(tmp_path), policy or policy_yaml(topo, mode=mode),
                      extra_args=extra_args, label=label or "agent%d" % len(agents),
                      exact=exact, **kwargs)
        agents.append(agent)
        return agent.start()

    yield start
    for agent in agents:
        harness.agent.shutdown(agent)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's report carries the logs of every agent that was running."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for agent in list(harness.agent.LIVE_AGENTS):
            report.sections.append(("guardrail %s logs" % agent.label, agent.logs()))
        for server in list(harness.services.LIVE_SERVERS):
            report.sections.append(("%s log" % server.label, server.logs()))


@pytest.fixture
def servers():
    """A list to put harness.services servers in: each is stopped (by its pid) when the test ends,
    pass or fail."""
    started = []
    yield started
    for server in started:
        server.stop()


# ctest reads exit code 77 as "skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt): a run where
# every test skipped (not root, no cgroup v2) must not show up as a pass.
SKIPPED_EXIT_CODE = 77


def pytest_sessionfinish(session, exitstatus):
    # What a test's agents left pinned (a test that failed before its teardown) is detached.
    shutil.rmtree(harness.agent.TEST_PIN_ROOT, ignore_errors=True)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or exitstatus != 0:
        return
    ran = sum(len(reporter.stats.get(k, [])) for k in ("passed", "failed", "error"))
    if ran == 0 and reporter.stats.get("skipped"):
        session.exitstatus = SKIPPED_EXIT_CODE


@pytest.fixture
def mark(agent):
    """Alert count before the test (for a module that defines the fixture `agent`); also fails
    the test if the agent died meanwhile."""
    assert agent.running(), "agent exited:\n" + agent.logs()
    return agent.mark()


@pytest.fixture
def mount_dir(tmp_path):
    """An empty directory to mount on; whatever is mounted there is unmounted afterwards."""
    path = tmp_path / "mnt"
    path.mkdir()
    yield str(path)
    for _ in range(10):
        if not is_mounted(str(path)):
            break
        run(["umount", "-l", str(path)], check=False)
    assert not is_mounted(str(path)), "could not unmount " + str(path)
