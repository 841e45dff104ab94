"""Hooked host syscalls: ns per call with and without the agent, from inside a workload cgroup
(a zone whose guards deny capabilities, raw sockets, mounts and host writes) and from outside
every workload (a host process). On a kernel without BPF-LSM the host guards run on the
fallback backend (tracepoints, tp_btf/cap_capable, cgroup/sock_create): `guardrail probe` says
which, and the table names it.

The agent cannot be half there (its tracepoints are host-wide), so the arms alternate in phases:
no agent, agent, no agent, ... one repetition each (smoke: one phase each, all repetitions)."""
import json
import os
import subprocess

from bench.lib import (Background, BenchAgent, Cgroup, Cleanup, bench_id, agent_cpu, fmt_ns,
                       fmt_range, load_cpu, ratio, run_json, summarize)
from bench.lib import policy as pol

SUITE = "syscalls"

# (mode, what the guard does with it inside the workload on each backend)
MODES = [
    ("getppid", "unhooked (reference)"),
    ("udp-socket", "socket(AF_INET, SOCK_DGRAM)+close: sock_create runs, allows"),
    ("raw-socket", "socket(AF_INET, SOCK_RAW): refused inside (EPERM)"),
    ("sethostname", "CAP_SYS_ADMIN check (private UTS ns): detected inside"),
    ("mount-bind-fail", "mount(MS_BIND) of a missing source: ENOENT, detected inside"),
    ("mount-tmpfs", "mount+umount of a tmpfs (private mount ns): detected inside"),
    ("open-close", "open(O_RDONLY)+close of /etc/hostname: the open exit is judged"),
]
PLACES = ["inside", "outside"]
GUARDS = ("rawSockets", "capabilities", "mounts", "hostWrites")


def backends(binary):
    """{guard: backend} from `guardrail probe --json` (empty when it cannot say)."""
    try:
        res = subprocess.run([binary, "probe", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, timeout=60)
        data = json.loads(res.stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        return {}
    guards = data.get("guards", data)
    out = {}
    if isinstance(guards, list):
        for g in guards:
            if isinstance(g, dict) and "guard" in g:
                out[g["guard"]] = g.get("backend", "?")
            elif isinstance(g, dict) and "name" in g:
                out[g["name"]] = g.get("backend", "?")
    elif isinstance(guards, dict):
        for k, v in guards.items():
            out[k] = v.get("backend", "?") if isinstance(v, dict) else str(v)
    return out


def run(ctx):
    bid = bench_id()
    cpu = load_cpu()
    ops = 20000 if ctx.smoke else 200000
    seconds = 0.2 if ctx.smoke else 0.5
    sysloop = os.path.join(ctx.tools, "sysloop")
    phases = 1 if ctx.smoke else ctx.reps
    per_phase = ctx.reps if ctx.smoke else 1
    res = {(arm, place, mode): [] for arm in ("none", "guardrail") for place in PLACES
           for mode, _ in MODES}
    notes = []
    with Cleanup(ctx.log) as cleanup:
        inside = Cgroup(cleanup, "/%s/sys-workload" % bid)
        outside = Cgroup(cleanup, "/%s/sys-host" % bid)
        # A process in the workload from the start, as a real one would have.
        Background(cleanup, ["sh", "-c", "echo $$ > %s/cgroup.procs && echo READY && exec sleep "
                             "1000000" % inside.path], "keeper-sys-workload")
        text = pol.document("bench-syscalls", "\n".join([
            "  zones:",
            "    - name: agent-sandbox",
            "      guards:",
            "        capabilities: {deny: [ALL], action: deny}",
            "        rawSockets: {action: deny}",
            "        mounts: {action: deny}",
            "        hostWrites: {action: deny}",
            "  workloads:",
            "    - {name: sys-workload, zone: agent-sandbox, cgroup: %s}" % inside.rel]) + "\n")

        def block(arm):
            for _ in range(per_phase):
                for place in PLACES:
                    cg = inside if place == "inside" else outside
                    for mode, _ in MODES:
                        r = run_json([sysloop, "--cgroup", cg.path, "--cpu", str(cpu), "--ops",
                                      str(ops), "--seconds", str(seconds), mode])
                        res[(arm, place, mode)].append(r)

        for phase in range(phases):
            order = ["none", "guardrail"] if phase % 2 == 0 else ["guardrail", "none"]
            for arm in order:
                if arm == "none":
                    block(arm)
                    continue
                with Cleanup(ctx.log) as scope:
                    agent = BenchAgent(scope, ctx.guardrail_bin, ctx.workdir, text,
                                       label="sys-%d" % phase, cpu=agent_cpu())
                    agent.start()
                    block(arm)
                    if agent.proc.poll() is not None:
                        raise RuntimeError("the agent exited during the run:\n" + agent.logs())
                    if phase == 0:
                        notes.append("agent: %d events, %d lost (first phase)" % (
                            agent.metric("guardrail_events_total"),
                            agent.metric("guardrail_events_lost_total")))
            ctx.log("  phase %d/%d done" % (phase + 1, phases))
    be = backends(ctx.guardrail_bin)
    backend_note = ", ".join("%s: %s" % (g, be[g]) for g in
                             ("raw-sockets", "capabilities", "mounts", "host-writes") if g in be)
    rows = []
    for mode, what in MODES:
        for place in PLACES:
            s_none = summarize([r["ns_per_op"] for r in res[("none", place, mode)]])
            s_gr = summarize([r["ns_per_op"] for r in res[("guardrail", place, mode)]])
            last = res[("guardrail", place, mode)][-1]
            outcome = last["errno"] if last["errors"] else "ok"
            if last["errors"] and last["errors"] != last["ops"]:
                outcome = "%s (%d of %d)" % (outcome, last["errors"], last["ops"])
            over = fmt_ns(s_gr["median"] - s_none["median"]) if s_gr and s_none else "-"
            rows.append([mode, place, fmt_range(s_none), fmt_range(s_gr),
                         over if over.startswith("-") else "+" + over, ratio(s_gr, s_none),
                         outcome])
    table = {
        "title": "Host syscalls: ns per call, without and with the agent",
        "columns": ["syscall", "caller", "no agent", "agent", "agent - none", "ratio",
                    "outcome with agent"],
        "rows": rows,
        "note": "inside: a workload cgroup of zone agent-sandbox (guards: capabilities deny ALL, "
                "rawSockets, mounts, hostWrites deny); outside: a cgroup of no workload (a host "
                "process). Median (min-max) of %d repetitions of up to %d calls (capped at "
                "%.1f s) on CPU %d, agent on CPU 0; arms alternate in %d phase(s). Backends "
                "(`guardrail probe`): %s. What each call meets: %s."
                % (ctx.reps, ops, seconds, cpu, phases * 2, backend_note or "unknown",
                   "; ".join("%s: %s" % (m, w) for m, w in MODES))}
    tables = [table]
    if notes:
        tables.append({"title": "Events", "columns": ["note"], "rows": [[n] for n in notes],
                       "note": ""})
    return {"tables": tables, "plots": []}
