"""The agent is not a target, on a kernel without BPF-LSM (this host).

A root process inside a workload cgroup, in the host's PID namespace, reaches for the agent's own
process. Nothing on this kernel can refuse a signal or ptrace, so what the agent promises here:

- a workload's SIGTERM (SIGINT, SIGHUP) is ignored: the agent learns the sender from the kernel's
  record (tp_btf/signal_generate, map agent_signals) and alerts it as `tamper`, tamper `signal`,
  verdict `blocked` (it refused it itself); the operator's SIGTERM still stops it;
- a workload's SIGKILL does kill it, but the pinned programs keep enforcing, and the event waits
  in the pinned ring buffer: the next agent alerts it (tamper `signal`, `SIGKILL`, `detected`);
- ptrace (PTRACE_SEIZE) and process_vm_readv of the agent are detected (tamper `ptrace`).
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from harness import BUILD_ATTEMPT, require_ia32
from harness.agent import assert_alert
from harness.topology import wait_until

NODE, PEER, PORT = "agent-a", "agent-b", 9  # default deny between agents

# Runs inside the workload: joins the cgroup, then does one thing to the agent and prints the
# outcome as JSON (errno name on failure).
ATTEMPT = r"""
import ctypes, errno, json, os, signal, sys
cgroup, action, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
libc = ctypes.CDLL(None, use_errno=True)
out = {"pid": os.getpid()}
try:
    if action.startswith("SIG"):
        os.kill(pid, getattr(signal, action))
    elif action == "ptrace_seize":
        # PTRACE_SEIZE does not stop the tracee; the tracer's exit detaches it.
        if libc.ptrace(0x4206, pid, None, None) != 0:
            raise OSError(ctypes.get_errno(), "ptrace")
    elif action == "process_vm_readv":
        class iovec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
        buf = ctypes.create_string_buffer(8)
        local, remote = iovec(ctypes.addressof(buf), 8), iovec(0x1000, 8)
        libc.syscall.restype = ctypes.c_long
        if libc.syscall(310, pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) < 0:
            raise OSError(ctypes.get_errno(), "process_vm_readv")
    out["result"] = "ok"
except OSError as e:
    out["result"], out["errno"] = "error", errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(out))
"""


def attempt(topo, action, agent_pid, node=NODE):
    res = subprocess.run([sys.executable, "-c", ATTEMPT, topo[node].cgroup_dir, action,
                          str(agent_pid)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def tamper_alerts(agent, mark, **fields):
    return [a for a in agent.alerts()[mark:] if a.get("kind") == "tamper"
            and all(a.get(k) == v for k, v in fields.items())]


def wait_tamper(agent, mark, timeout=5, **fields):
    assert wait_until(lambda: tamper_alerts(agent, mark, **fields), timeout), (
        "no tamper alert %r within %ss; alerts since mark: %r\n%s"
        % (fields, timeout, agent.alerts()[mark:], agent.logs()))
    return tamper_alerts(agent, mark, **fields)


@pytest.fixture(autouse=True)
def _tp_btf():
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("SKIPPED (environment): no BTF, so no tp_btf/signal_generate")


def test_a_workloads_sigterm_is_ignored_and_alerted_the_operators_stops_the_agent(topo,
                                                                                  start_agent):
    agent = start_agent()
    mark = agent.mark()
    for sig in ("SIGTERM", "SIGHUP", "SIGINT"):
        out = attempt(topo, sig, agent.pid)
        assert out["result"] == "ok", out  # the kernel delivered it: nothing here can refuse it
        (alert,) = wait_tamper(agent, mark, tamper="signal", signal=sig)
        assert_alert(alert, verdict="blocked", backend="agent", pid=out["pid"],
                     workload=topo[NODE].workload, zone=topo[NODE].zone,
                     cgroup_id=topo.cgroup_id(NODE), signal_number=getattr(signal, sig),
                     target_pid=agent.pid, detected_by="signal_inbox", judged_by="kernel",
                     comm="python3")
        time.sleep(0.3)
        assert agent.running(), "a workload's %s stopped the agent:\n%s" % (sig, agent.logs())
    # One alert per signal, and the kernel reported none of its own for these three.
    assert len(tamper_alerts(agent, mark)) == 3, agent.alerts()[mark:]
    for sig in ("SIGTERM", "SIGHUP", "SIGINT"):
        assert agent.metric("guardrail_agent_signals_from_workloads_total", signal=sig,
                            verdict="blocked", zone=topo[NODE].zone) == 1
    # The agent's own alerts are no kernel events: the exactness of the event counters holds.
    assert agent.metric("guardrail_violations_total", kind="tamper") is None
    assert "reopening" not in agent.stderr_text(), "a workload's SIGHUP reloaded the agent"
    # Enforcement is untouched, and the operator (outside every workload) still stops it.
    res = topo.probe(NODE, "sendto", topo[PEER].ip, PORT)[1][0]
    assert res["result"] == "error" and res["errno"] == "EPERM", res
    assert agent.stop(signal.SIGTERM) == 0
    assert "received SIGTERM" in agent.stderr_text()


def test_a_workloads_sigkill_kills_the_agent_enforcement_stays_the_next_agent_reports_it(
        topo, start_agent):
    first = start_agent(detach_on_exit=False)
    victim = first.pid
    out = attempt(topo, "SIGKILL", victim)
    assert out["result"] == "ok", out
    assert wait_until(lambda: not first.running(), 5), "SIGKILL did not end the agent"
    first.kill()  # reaps it
    # No agent: the pinned programs alone still refuse the forbidden send.
    res = topo.probe(NODE, "sendto", topo[PEER].ip, PORT)[1][0]
    assert res["result"] == "error" and res["errno"] == "EPERM", res
    second = start_agent(pin_dir=first.pin_dir, label="restarted")
    (alert,) = wait_tamper(second, 0, tamper="signal", signal="SIGKILL")
    assert_alert(alert, verdict="detected", backend="tp_btf", pid=out["pid"],
                 workload=topo[NODE].workload, zone=topo[NODE].zone,
                 cgroup_id=topo.cgroup_id(NODE), signal_number=9, target_pid=victim,
                 target_tid=victim, detected_by="event")
    assert "BPF-LSM unavailable" in alert["guarantee"]
    # The restarted agent protects itself, not its dead predecessor's pid.
    mark = second.mark()
    out = attempt(topo, "SIGTERM", second.pid)
    (alert,) = wait_tamper(second, mark, tamper="signal", signal="SIGTERM")
    assert alert["target_pid"] == second.pid and alert["verdict"] == "blocked", alert
    assert second.running()


def test_ia32_ptrace_of_the_agent_is_detected(topo, start_agent, tmp_path):
    """PTRACE_SEIZE through int $0x80 (the 32-bit ABI, from a 64-bit process): seen like the
    native call, because the guards watch the raw syscall tracepoint of every ABI."""
    tool = str(tmp_path / "attempt")
    built = subprocess.run([BUILD_ATTEMPT, tool], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    require_ia32(tool)
    agent = start_agent()
    mark = agent.mark()
    proc = subprocess.Popen([tool, "run-in-cgroup", topo[NODE].cgroup_dir, "--", tool, "ia32",
                             "ptrace-seize", str(agent.pid)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=30)
    assert out.strip() == "OK", (out, err)  # detection only on this kernel
    (alert,) = wait_tamper(agent, mark, tamper="ptrace", access="ptrace")
    assert_alert(alert, verdict="detected", backend="tracepoint", pid=proc.pid,
                 workload=topo[NODE].workload, zone=topo[NODE].zone,
                 cgroup_id=topo.cgroup_id(NODE), ptrace_request="seize", target_pid=agent.pid)
    assert agent.running()


def test_ptrace_and_process_vm_readv_of_the_agent_are_detected(topo, start_agent):
    agent = start_agent()
    mark = agent.mark()
    out = attempt(topo, "ptrace_seize", agent.pid)
    assert out["result"] == "ok", out  # detection only on this kernel
    (alert,) = wait_tamper(agent, mark, tamper="ptrace", access="ptrace")
    assert_alert(alert, verdict="detected", backend="tracepoint", pid=out["pid"],
                 workload=topo[NODE].workload, zone=topo[NODE].zone,
                 cgroup_id=topo.cgroup_id(NODE), ptrace_request="seize", target_pid=agent.pid,
                 detected_by="event")
    out = attempt(topo, "process_vm_readv", agent.pid)
    (alert,) = wait_tamper(agent, mark, tamper="ptrace", access="process_vm_readv")
    assert_alert(alert, verdict="detected", backend="tracepoint", pid=out["pid"],
                 target_pid=agent.pid)
    time.sleep(0.3)
    assert agent.running()
    # From outside every workload (this test runner) nothing is reported.
    mark = agent.mark()
    os.kill(agent.pid, 0)
    os.kill(agent.pid, signal.SIGCONT)
    time.sleep(0.5)
    assert tamper_alerts(agent, mark) == [], agent.alerts()[mark:]
