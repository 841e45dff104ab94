"""Policy load and swap time at 1 K / 10 K / 100 K / 1 M egress rules (smoke: 1 K, 10 K):
(a) `guardrail policy check` wall time; (b) agent start to /readyz 200; (c) a swap: a new policy
file renamed over the watched one (as a ConfigMap update lands), until /readyz shows the new
generation; (d) enforcement during that swap: a load generator keeps doing allowed and refused
connect()s from the workload, and the table says whether any allowed call failed or any refused
one passed, and the slowest call; (e) the nftables peer: `nft -f` of the same N rules as linear
rules and as one set, in a private netns.

Rules are /32s in 240.0.0.0/4 (reserved, never routed: no traffic goes there) plus the one
allowed peer of the workload. Up to 10 K rules the policy holds them inline; above, through
`cidrFile:` (the 1 MiB policy cap), one CIDR per line in a file beside the policy. A binary that
refuses a size (the pre-issue one caps egress at 16384 entries and knows no cidrFile) is
reported as "not loadable by this binary" with the first line of its error.
"""
import json
import os
import re
import signal
import subprocess
import time

try:
    from . import _pipeline_common as pc
except ImportError:  # loaded by file path, not as a package
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _pipeline_common as pc

SUITE = "policy_load"

INLINE_MAX = 10000
NFT_LINEAR_MAX = 100000  # past this a linear load is left out: it would eat the suite's bound
NFT_TIMEOUT_S = 300
SWAP_LOAD_RATE = 10000   # connect()s per second during a swap, allowed and refused alternating


def _cidrs(n, salt):
    """n distinct /32s in 240.0.0.0/4; `salt` shifts the set (a swap changes every entry)."""
    out = []
    for i in range(n):
        v = (i + salt * 7919) % (1 << 28)
        out.append("240.%d.%d.%d/32" % (v >> 16 & 0xff, v >> 8 & 0xff, v & 0xff))
    return out


def _write_policy(directory, wl, n, salt, name):
    """Writes a policy of n + 1 egress entries (plus its cidr file for big n); returns its text
    (the caller renames it in place)."""
    cidrs = _cidrs(n, salt)
    allowed = "{cidr: %s/32, protocol: udp, ports: [%d]}" % (pc.NET_ALLOWED, pc.PORT)
    if n <= INLINE_MAX:
        egress = [allowed] + ["{cidr: %s, protocol: udp, ports: [443]}" % c for c in cidrs]
    else:
        fname = "%s-cidrs-%d.txt" % (name, salt)
        with open(os.path.join(directory, fname), "w") as f:
            f.write("# %d egress prefixes for the policy_load benchmark\n" % n)
            f.write("\n".join(cidrs) + "\n")
        egress = [allowed, "{cidrFile: %s, protocol: udp, ports: [443]}" % fname]
    return pc.zone_policy(wl, name=name, egress=egress)


def _check(ctx, path):
    """(seconds, None) or (seconds, first error line)."""
    t0 = time.monotonic()
    res = subprocess.run([ctx.guardrail_bin, "policy", "check", path], capture_output=True,
                         text=True, timeout=600)
    took = time.monotonic() - t0
    if res.returncode != 0:
        text = (res.stderr or res.stdout).strip().splitlines()
        return took, text[0] if text else "exit %d" % res.returncode
    return took, None


def _swap(ctx, wl, agent, policy_path, text, name):
    """Renames a new policy (named `name`) over the watched one under load -> (seconds until
    /readyz names it, load JSON). The load runs from before the rename until then. By name, not
    by sha256: the agent's hash covers the list files (cidrFile) too."""
    tmp = policy_path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    loadgen = pc.start_load(ctx, wl, ["%s:%d" % (pc.NET_ALLOWED, pc.PORT),
                                      "%s:%d" % (pc.NET_REFUSED, pc.PORT)],
                            SWAP_LOAD_RATE, 600)
    try:
        time.sleep(0.2)  # the load runs before the swap begins
        t0 = time.monotonic()
        os.rename(tmp, policy_path)
        took = None
        deadline = t0 + 300
        while time.monotonic() < deadline:
            r = agent.readiness()
            if r is not None and r.get("policy") == name:
                took = time.monotonic() - t0
                break
            if agent.proc.poll() is not None:
                break
            time.sleep(0.002)
        time.sleep(0.2)  # and after it
    finally:
        loadgen.send_signal(signal.SIGTERM)
        out, err = loadgen.communicate(timeout=30)
    return took, json.loads(out)


RELOAD_RE = re.compile(r"policy reload .* reloaded in ([0-9.]+) ms")


def _agent_reload_ms(agent):
    """The agent's own measure of its last reload (compile and apply), from its log."""
    found = RELOAD_RE.findall(agent.log_text())
    return float(found[-1]) if found else None


def _nft(ctx, wl, n, as_set):
    """Seconds for `nft -f` of n rules (linear) or one set of n elements, in the workload's netns,
    matching the workload's cgroup as the agent's rules do."""
    path = os.path.join(ctx.workdir, "nft-%d-%s.nft" % (n, "set" if as_set else "linear"))
    cg = 'socket cgroupv2 level 1 "%s"' % os.path.relpath(wl.base, "/sys/fs/cgroup")
    with open(path, "w") as f:
        f.write("table inet grbench {\n  chain out {\n"
                "    type filter hook output priority 0; policy accept;\n")
        if as_set:
            f.write("  }\n  set allow {\n    type ipv4_addr; flags interval;\n    elements = {\n")
            f.write(",\n".join("      " + c for c in _cidrs(n, 0)))
            f.write("\n    }\n  }\n}\n")
            f.write("add rule inet grbench out %s ip daddr @allow udp dport 443 accept\n" % cg)
        else:
            for c in _cidrs(n, 0):
                f.write("    %s ip daddr %s udp dport 443 accept\n" % (cg, c))
            f.write("  }\n}\n")
        f.write("add rule inet grbench out %s drop\n" % cg)
    nsenter = ["nsenter", "--net=" + wl.netns_path]
    subprocess.run(nsenter + ["nft", "delete", "table", "inet", "grbench"], capture_output=True)
    t0 = time.monotonic()
    try:
        res = subprocess.run(nsenter + ["nft", "-f", path], capture_output=True, text=True,
                             timeout=NFT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        res = None
    took = time.monotonic() - t0
    subprocess.run(nsenter + ["nft", "delete", "table", "inet", "grbench"], capture_output=True)
    os.unlink(path)
    if res is None:
        return None, "did not finish within %d s (stopped)" % NFT_TIMEOUT_S
    if res.returncode != 0:
        return None, (res.stderr.strip().splitlines() or ["exit %d" % res.returncode])[0]
    return took, None


def run(ctx):
    sizes = [1000, 10000] if ctx.smoke else [1000, 10000, 100000, 1000000]
    rows, nft_rows, swap_rows = [], [], []
    series = {"policy check": {}, "start to ready": {}, "swap": {}, "nft linear": {},
              "nft set": {}}
    have_nft = subprocess.run(["which", "nft"], capture_output=True).returncode == 0
    with pc.Workload("grbench-pol-%d" % os.getpid()) as wl:
        for n in sizes:
            d = os.path.join(ctx.workdir, "policy-%d" % n)
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "policy.yaml")
            with open(path, "w") as f:
                f.write(_write_policy(d, wl, n, 0, "bench-policy"))
            checks, starts, swaps, reloads, problem = [], [], [], [], None
            allowed_failed = refused_passed = other = 0
            max_allowed, max_refused, swap_calls = [], [], 0
            for rep in range(ctx.reps):
                took, problem = _check(ctx, path)
                if problem:
                    problem = problem.replace(path, "policy.yaml")
                    break
                checks.append(took)
            # Start to ready: every repetition in full mode, once in smoke (a start verifies
            # every program: seconds each on 2 shared cores).
            for rep in range(0 if problem or ctx.smoke else min(ctx.reps, 3) - 1):
                with pc.AgentProc(ctx, path, "policy-%d" % n) as agent:
                    starts.append(agent.wait_ready(timeout=600, poll=0.002))
            if not problem:
                with pc.AgentProc(ctx, path, "policy-%d" % n) as agent:
                    starts.append(agent.wait_ready(timeout=600, poll=0.002))
                    for rep in range(ctx.reps):  # swaps back and forth in one agent
                        ctx.log("policy_load: %d rules, swap %d/%d" % (n, rep + 1, ctx.reps))
                        name = "bench-policy-%d" % (rep + 1)
                        text = _write_policy(d, wl, n, rep + 1, name)
                        took, res = _swap(ctx, wl, agent, path, text, name)
                        if took is None:
                            problem = "swap: the new policy never applied (%s)" % \
                                agent.log_tail(300).strip().splitlines()[-1]
                            break
                        swaps.append(took)
                        time.sleep(0.05)
                        ms = _agent_reload_ms(agent)
                        if ms is not None:
                            reloads.append(ms)
                        a, r = res["targets"]
                        allowed_failed += a["calls"] - a["ok"]
                        refused_passed += r["ok"]
                        other += r["other"]
                        swap_calls += res["calls"]
                        max_allowed.append(a["max_ns"] / 1e3)
                        max_refused.append(r["max_ns"] / 1e3)
            form = "inline" if n <= INLINE_MAX else "cidrFile"
            if problem:
                rows.append([pc.fmt(n), form, "not loadable by this binary: " + problem,
                             "-", "-", "-"])
            else:
                rows.append([pc.fmt(n), form, pc.fmt_mmm([c * 1e3 for c in checks]),
                             pc.fmt_mmm([s * 1e3 for s in starts]),
                             pc.fmt_mmm([s * 1e3 for s in swaps]), pc.fmt_mmm(reloads, 1)])
                swap_rows.append([pc.fmt(n), pc.fmt(swap_calls), pc.fmt(allowed_failed),
                                  pc.fmt(refused_passed + other),
                                  pc.fmt_mmm(max_allowed), pc.fmt_mmm(max_refused)])
                for key, vals in (("policy check", checks), ("start to ready", starts),
                                  ("swap", swaps)):
                    series[key][n] = vals
            if have_nft:
                for as_set in (False, True):
                    if not as_set and n > NFT_LINEAR_MAX:
                        nft_rows.append([pc.fmt(n), "linear", "not measured: stopped at %s linear "
                                         "rules (the row above) to keep the suite within its "
                                         "time bound" % pc.fmt(NFT_LINEAR_MAX)])
                        continue
                    times, err = [], None
                    for _ in range(min(ctx.reps, 3) if n <= 100000 else 1):
                        took, err = _nft(ctx, wl, n, as_set)
                        if err:
                            break
                        times.append(took)
                    kind = "set" if as_set else "linear"
                    nft_rows.append([pc.fmt(n), kind, ("failed: " + err) if err else
                                     pc.fmt_mmm([t * 1e3 for t in times])])
                    if times:
                        series["nft " + kind][n] = times
    plots = [{"name": "policy-load", "title": "Policy load and swap time vs rules",
              "xlabel": "egress rules", "ylabel": "seconds", "logx": True,
              "series": [{"label": label, "x": sorted(v),
                          "median": [pc.summary(v[n])[0] for n in sorted(v)],
                          "min": [pc.summary(v[n])[1] for n in sorted(v)],
                          "max": [pc.summary(v[n])[2] for n in sorted(v)]}
                         for label, v in series.items() if v]}]
    tables = [
        {"title": "Policy load and swap (ms)",
         "columns": ["egress rules", "form", "policy check ms", "agent start to ready ms",
                     "swap: rename to new policy ready ms", "agent's reload ms"],
         "rows": rows,
         "note": "policy check: wall time of `guardrail policy check`. start to ready: process "
                 "start until /readyz answers 200 (polled every 2 ms; one start per size in smoke, "
                 "three in full mode). swap: a new policy with "
                 "every rule changed renamed over the watched file until /readyz names it (each "
                 "swap has its own policy name); includes the watcher's 200 ms quiet period "
                 "(src/agent/policy_watch.hpp) before the reload begins. agent's reload: what the agent logs for that reload "
                 "(read, compile, fill and flip the map set). Rules above %s go "
                 "through cidrFile:. %d repetitions (swaps in one agent); median [min-max]. %s."
                 % (pc.fmt(INLINE_MAX), ctx.reps, pc.PLACEMENT)},
        {"title": "Enforcement during a swap",
         "columns": ["egress rules", "connect() calls during swaps", "allowed that failed",
                     "refused that passed", "max allowed call us", "max refused call us"],
         "rows": swap_rows,
         "note": "pipeline_load alternates connect()s to the allowed and a refused peer at "
                 "%s calls/s from 0.2 s before the rename until 0.2 s after the new generation "
                 "showed; counts summed over the repetitions, max latency per repetition "
                 "(median [min-max]). %s." % (pc.fmt(SWAP_LOAD_RATE), pc.PLACEMENT)},
    ]
    if have_nft:
        tables.append({
            "title": "nftables peer: `nft -f` load time (ms)",
            "columns": ["rules", "form", "nft -f ms"],
            "rows": nft_rows,
            "note": "The same N /32s, each `socket cgroupv2 level 1 \"<workload cgroup>\" ip daddr "
                    "X udp dport 443 accept` (linear), or one interval set with one rule; a "
                    "table inet with an output chain, loaded fresh into the workload's private "
                    "netns through nsenter. %d repetitions up to 100 K, 1 above."
                    % min(ctx.reps, 3)})
    else:
        tables.append({"title": "nftables peer", "columns": ["skipped"],
                       "rows": [["nft is not installed (scripts/setup.sh installs nftables)"]],
                       "note": ""})
    return {"tables": tables, "plots": plots}
