"""The ring buffer -> pipeline -> metrics and -> JSON path: events/s the agent consumes at zero
loss and where loss begins, against a bare libbpf consumer of the same records; the producer's
cost per event.

Refusals come from pipeline_load: refused UDP connect()s (one event each, nothing sent) from a
workload cgroup in its own netns, at fixed rates and flat out. Arms, interleaved per repetition:
- guardrail: the agent enforcing a one-zone policy, one alert per refusal (dedup and rate limit
  off), alerts to a JSONL file; delivered = guardrail_events_delivered_total{sink=jsonl}, lost =
  the guardrail_events_lost_total stages (ring buffer, then queue and sinks);
- bare: bench/bpf/pipeline_bare.bpf.c on the same hook, records of sizeof(struct gr_net_event)
  through the agent's events.bpf.h (same ring buffer size, same quarter-full wakeup), consumed
  by bench/tools/pipeline_bare.c (ring_buffer__poll with the agent's 20 ms timeout, counting).
Producer cost: ns per connect() flat out, to the refused and to the allowed peer, per arm, with
no programs at all as the baseline.
"""
import os
import time

try:
    from . import _pipeline_common as pc
except ImportError:  # loaded by file path, not as a package
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _pipeline_common as pc

SUITE = "pipeline"


def _guardrail_rates(ctx, wl, policy, rates, window, producer_calls, inner):
    """`inner` repetitions of the agent arm in one agent: a list of ({rate: (offered/s,
    delivered/s, lost in the ring buffer, lost after it, refused)}, {target: ns/call})."""
    reps = []
    with pc.AgentProc(ctx, policy, "pipeline") as agent:
        agent.wait_ready()
        time.sleep(1.0)  # the first rescan and tamper check pass before anything is timed
        for _ in range(inner):
            out = {}
            agent.wait_quiet()
            cost = _cost(ctx, wl, producer_calls)  # first: no backlog from the floods below
            for rate in rates:
                before = agent.wait_quiet()
                res = pc.load(ctx, wl, ["%s:%d" % (pc.NET_REFUSED, pc.PORT)], rate, window)
                after = agent.wait_quiet()
                secs = res["elapsed_ns"] / 1e9
                refused = res["targets"][0]["eperm"]
                out[rate] = (refused / secs,
                             (after["delivered"] - before["delivered"]) / secs,
                             after["lost_ringbuf"] - before["lost_ringbuf"],
                             after["lost_other"] - before["lost_other"], refused)
            reps.append((out, cost))
    return reps


def _cost(ctx, wl, producer_calls):
    """ns per connect() flat out, to the allowed then the refused peer."""
    cost = {}
    for name, addr in (("allowed", pc.NET_ALLOWED), ("refused", pc.NET_REFUSED)):
        res = pc.load(ctx, wl, ["%s:%d" % (addr, pc.PORT)], 0, 30, producer_calls)
        cost[name] = res["elapsed_ns"] / res["calls"]
    return cost


def _bare_rates(ctx, wl, rates, window, producer_calls, inner):
    reps = []
    for _ in range(inner):
        out = {}
        with pc.BareConsumer(ctx, wl) as bare:
            cost = _cost(ctx, wl, producer_calls)
            bare.finish()
        for rate in rates:  # a fresh consumer per rate: its totals are that window's
            with pc.BareConsumer(ctx, wl) as bare:
                res = pc.load(ctx, wl, ["%s:%d" % (pc.NET_REFUSED, pc.PORT)], rate, window)
                time.sleep(0.05)
                got = bare.finish()
            secs = res["elapsed_ns"] / 1e9
            refused = res["targets"][0]["eperm"]
            out[rate] = (refused / secs, got["consumed"] / secs, got["lost"],
                         refused - got["consumed"] - got["lost"], refused)
        reps.append((out, cost))
    return reps


def run(ctx):
    if ctx.smoke:
        rates, window, producer_calls = [10000, 0], 0.5, 50000
    else:
        rates, window, producer_calls = [5000, 10000, 20000, 50000, 100000, 200000, 0], 1.0, \
            300000
    results = {"guardrail": {r: [] for r in rates}, "bare": {r: [] for r in rates}}
    costs = {arm: {"refused": [], "allowed": []} for arm in ("none", "bare", "guardrail")}
    with pc.Workload("grbench-pipe-%d" % os.getpid()) as wl:
        policy = os.path.join(ctx.workdir, "pipeline-policy.yaml")
        with open(policy, "w") as f:
            f.write(pc.zone_policy(wl, name="bench-pipeline"))
        # Full mode: a fresh agent per repetition, arms interleaved. Smoke: one agent for
        # every repetition (an agent start verifies every program: seconds here).
        outer, inner = (1, ctx.reps) if ctx.smoke else (ctx.reps, 1)
        for rep in range(outer):
            ctx.log("pipeline: repetition %d/%d" % (rep + 1, outer))
            for _ in range(inner):
                for name, value in _cost(ctx, wl, producer_calls).items():
                    costs["none"][name].append(value)
            arms = [("guardrail", lambda: _guardrail_rates(ctx, wl, policy, rates, window,
                                                           producer_calls, inner)),
                    ("bare", lambda: _bare_rates(ctx, wl, rates, window, producer_calls,
                                                 inner))]
            if rep % 2:
                arms.reverse()
            for arm, measure in arms:
                for by_rate, cost in measure():
                    for rate, row in by_rate.items():
                        results[arm][rate].append(row)
                    for name, value in cost.items():
                        costs[arm][name].append(value)

    def label(rate):
        return "flat out" if rate == 0 else pc.fmt(rate)

    rows, series, verdicts = [], [], []
    for arm in ("guardrail", "bare"):
        xs, med, lo, hi = [], [], [], []
        zero_loss_best, loss_start = None, None
        for rate in rates:
            reps = results[arm][rate]
            offered = [r[0] for r in reps]
            consumed = [r[1] for r in reps]
            lost_rb = [r[2] for r in reps]
            lost_after = [r[3] for r in reps]
            lost = [a + b for a, b in zip(lost_rb, lost_after)]
            loss_pct = [100.0 * l / max(1, r[4]) for l, r in zip(lost, reps)]
            rows.append([arm, label(rate), pc.fmt_mmm(offered), pc.fmt_mmm(consumed),
                         pc.fmt_mmm(lost_rb), pc.fmt_mmm(lost_after), pc.fmt_mmm(loss_pct, 2)])
            m_off, _, _ = pc.summary(offered)
            c_med, c_lo, c_hi = pc.summary(consumed)
            xs.append(m_off)
            med.append(c_med)
            lo.append(c_lo)
            hi.append(c_hi)
            if max(lost) == 0:
                zero_loss_best = max(zero_loss_best or 0, min(consumed))
            elif loss_start is None:
                loss_start = m_off
        verdicts.append("%s: %s events/s delivered at the highest rate measured with zero "
                        "loss in every repetition; loss begins %s" % (arm, pc.fmt(zero_loss_best),
                                       "at about %s events/s offered" % pc.fmt(loss_start)
                                       if loss_start else "at no rate measured (none lost)"))
        order = sorted(range(len(xs)), key=lambda i: xs[i])
        series.append({"label": arm, "x": [xs[i] for i in order],
                       "median": [med[i] for i in order], "min": [lo[i] for i in order],
                       "max": [hi[i] for i in order]})

    cost_rows = []
    none_refused = pc.summary(costs["none"]["refused"])[0]
    none_allowed = pc.summary(costs["none"]["allowed"])[0]
    for arm in ("none", "bare", "guardrail"):
        r, a = costs[arm]["refused"], costs[arm]["allowed"]
        cost_rows.append([arm, pc.fmt_mmm(r), pc.fmt_mmm(a),
                          pc.fmt(pc.summary(r)[0] - none_refused),
                          pc.fmt(pc.summary(a)[0] - none_allowed),
                          pc.fmt(pc.summary(r)[0] - pc.summary(a)[0])])
    note_place = "%s. %d repetitions (%s); cells are median [min-max]." % (
        pc.PLACEMENT, ctx.reps, "one agent for all, arms one after the other" if ctx.smoke
        else "a fresh agent each, arms interleaved")
    return {
        "tables": [
            {"title": "Ring buffer -> pipeline -> JSONL: events delivered vs offered (refused UDP "
                      "connect(), %.1f s windows)" % window,
             "columns": ["arm", "target rate /s", "offered /s", "delivered /s",
                         "lost in ring buffer", "lost after it", "lost %"],
             "rows": rows,
             "note": "; ".join(verdicts) + ". Record: sizeof(struct gr_net_event), 1 MiB ring "
                     "buffer, wakeup at a quarter unread, 20 ms poll, in both arms. guardrail "
                     "runs with --dedup-window-seconds 0 --rate-limit 0 (one JSON alert per "
                     "refusal). delivered/s: guardrail, alerts written to the JSONL file "
                     "(guardrail_events_delivered_total{sink=jsonl}); bare, records the consumer "
                     "counted; over the producer's window, the drain after it included. Lost in "
                     "ring buffer: failed reservations (guardrail_events_lost_total{stage="
                     "ringbuf}); lost after it: the agent's other stages (queue, alerts_file, "
                     "...). " + note_place},
            {"title": "Producer cost: ns per UDP connect() from the workload, flat out",
             "columns": ["arm", "refused ns/call", "allowed ns/call", "refused - none",
                         "allowed - none", "refused - allowed"],
             "rows": cost_rows,
             "note": "none: no programs (both peers connect). bare: the bare producer on "
                     "connect4 (a refusal reserves and submits one record; its consumer "
                     "running). guardrail: the agent enforcing, its consumer and pipeline "
                     "running. %d calls per measurement; the allowed call includes the route "
                     "lookup the refused one skips. %s" % (producer_calls, note_place)},
        ],
        "plots": [{"name": "pipeline-consumed", "title": "Events delivered vs offered (refused connect())",
                   "xlabel": "offered refusals/s", "ylabel": "events delivered/s",
                   "logx": True, "series": series}],
    }
