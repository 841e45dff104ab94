"""Agent RSS and CPU, idle and under a steady stream of events (10 K and 100 K refusals/s; smoke:
idle and 10 K, short windows). RSS: VmRSS at the end of a window and VmHWM (the peak so far)
from /proc/PID/status; CPU: utime + stime of the whole agent (every thread) over the window from
/proc/PID/stat, as a share of one CPU. Events are refused UDP connect()s from pipeline_load in
the workload (one alert each, dedup and rate limit off, JSONL sink).
"""
import os
import time

try:
    from . import _pipeline_common as pc
except ImportError:  # loaded by file path, not as a package
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _pipeline_common as pc

SUITE = "resources"

HZ = os.sysconf("SC_CLK_TCK")


def _window(ctx, wl, agent, rate, seconds):
    """(cpu % of one CPU, VmRSS MiB, VmHWM MiB, achieved rate, events lost) over one window."""
    pid = pc.agent_pid(agent)
    before = agent.counters()
    t0, ticks0 = time.monotonic(), pc.proc_cpu_ticks(pid)
    if rate:
        res = pc.load(ctx, wl, ["%s:%d" % (pc.NET_REFUSED, pc.PORT)], rate, seconds)
        achieved = res["targets"][0]["eperm"] / (res["elapsed_ns"] / 1e9)
    else:
        time.sleep(seconds)
        achieved = 0.0
    ticks1, t1 = pc.proc_cpu_ticks(pid), time.monotonic()
    status = pc.proc_status(pid)
    after = agent.wait_quiet()
    lost = (after["lost_ringbuf"] + after["lost_other"]) - (
        before["lost_ringbuf"] + before["lost_other"])
    return (100.0 * (ticks1 - ticks0) / HZ / (t1 - t0), status["VmRSS"] / 1024.0,
            status["VmHWM"] / 1024.0, achieved, lost)


def run(ctx):
    if ctx.smoke:
        loads, seconds = [("idle", 0), ("10 K events/s", 10000)], 2.0
    else:
        loads, seconds = [("idle", 0), ("10 K events/s", 10000), ("100 K events/s", 100000)], \
            5.0
    got = {name: [] for name, _ in loads}
    with pc.Workload("grbench-res-%d" % os.getpid()) as wl:
        policy = os.path.join(ctx.workdir, "resources-policy.yaml")
        with open(policy, "w") as f:
            f.write(pc.zone_policy(wl, name="bench-resources"))
        with pc.AgentProc(ctx, policy, "resources") as agent:
            agent.wait_ready()
            time.sleep(1.0)  # start-up work (first rescan, tamper check) is not idle
            for rep in range(ctx.reps):
                ctx.log("resources: repetition %d/%d" % (rep + 1, ctx.reps))
                for name, rate in (loads if rep % 2 == 0 else list(reversed(loads))):
                    got[name].append(_window(ctx, wl, agent, rate, seconds))
    rows = []
    for name, _ in loads:
        w = got[name]
        rows.append([name, pc.fmt_mmm([x[3] for x in w]), pc.fmt_mmm([x[0] for x in w], 1),
                     pc.fmt_mmm([x[1] for x in w], 1), pc.fmt_mmm([x[2] for x in w], 1),
                     pc.fmt_mmm([x[4] for x in w])])
    return {
        "tables": [{
            "title": "Agent RSS and CPU, idle and under load (%.0f s windows)" % seconds,
            "columns": ["load", "achieved events/s", "CPU % of one core", "VmRSS MiB",
                        "VmHWM MiB", "events lost"],
            "rows": rows,
            "note": "CPU = (utime + stime) of every agent thread over the window / wall time. "
                    "VmHWM is the peak since the agent started (it only grows: later windows "
                    "include earlier peaks). Loads interleaved per repetition (%d). "
                    "guardrail agent with --dedup-window-seconds 0 --rate-limit 0, JSONL "
                    "alerts, 1 MiB ring buffer, 20 ms poll. %s."
                    % (ctx.reps, pc.PLACEMENT)}],
        "plots": [],
    }
