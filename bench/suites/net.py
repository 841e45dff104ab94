"""Network hot paths per arm and rule count: UDP connect() and sendto(), allowed and refused,
from a workload cgroup in its own network namespace; TCP request/response and stream between
two namespaces.

Arms (each its own netns and cgroup, set up once, measured interleaved):
  none        no programs
  floor       empty programs on the agent's cgroup hooks (bench/bpf/empty_floor.bpf.c)
  guardrail   the agent enforcing: zone agent-sandbox with N egress entries
  guardrail-ids  the same agent: a flow from this arm's workload to a workload of N addresses
  nft-linear  one nftables rule per entry (socket cgroupv2 + daddr + dport accept), then drop
  nft-set     one nftables rule matching an `ip daddr . udp dport` set of N elements, then drop
The allowed destination is the last entry of the list; the refused one is in no rule."""
import os
import time

from bench.lib import (Background, BenchAgent, Cgroup, Cleanup, Netns, bench_id, fmt_range,
                       interleave, load_cpu, agent_cpu, nft_load, policy_check, ratio,
                       run_json, summarize, veth_between)
from bench.lib import policy as pol
from bench.lib.progstats import BpfStats

SUITE = "net"

SIZES_FULL = [1, 1000, 10000, 100000, 1000000]
SIZES_SMOKE = [1, 1000]
NFT_LINEAR_MAX = 100000  # 100 K linear rules already take seconds to load and ~1 ms a packet
ARMS = ["none", "floor", "guardrail", "nft-linear", "nft-set", "guardrail-ids"]
ALLOWED, REFUSED, PORT = "198.18.200.1", "198.18.201.1", 443
# The guardrail-ids arm: a flow to a workload of N static addresses, this one last.
ALLOWED_ID = "198.18.202.1"
TCP_PORT = 5001
MEASURES = [("connect", "allowed"), ("connect", "refused"), ("sendto", "allowed"),
            ("sendto", "refused")]
# The programs' own run time is taken for these, on the floor and guardrail arms.
PROGRAM_MEASURES = [("connect", "allowed"), ("sendto", "allowed"), ("connect", "refused")]


def _fmt_count(n):
    return "{:,}".format(n) if n < 1000 else ("%dK" % (n // 1000) if n < 10 ** 6
                                              else "%dM" % (n // 10 ** 6))


class Bench:
    def __init__(self, ctx, cleanup):
        self.ctx = ctx
        self.cleanup = cleanup
        self.id = bench_id()
        self.cpu = load_cpu()
        self.ops = 20000 if ctx.smoke else 200000
        self.seconds = 0.2 if ctx.smoke else 0.5  # time cap of one measurement
        self.tcp_seconds = 0.5 if ctx.smoke else 3.0
        self.netloop = os.path.join(ctx.tools, "netloop")
        self.udp = {}   # arm -> (Netns, Cgroup)
        self.tcp = {}   # arm -> (client Netns, client Cgroup, server ip)

    # ---- topology -------------------------------------------------------------------------

    def setup_udp(self):
        for k, arm in enumerate(ARMS):
            ns = Netns(self.cleanup, "%s-u%d" % (self.id, k))
            ns.blackhole("198.18.100.%d/24" % (k + 1), [ALLOWED, REFUSED, ALLOWED_ID])
            cg = Cgroup(self.cleanup, "/%s/udp-%s" % (self.id, arm))
            self.udp[arm] = (ns, cg)
        # The agent identifies a workload by the addresses of its processes' netns: a keeper.
        for arm in ("guardrail", "guardrail-ids"):
            ns, cg = self.udp[arm]
            self._server(ns, cg, 9, "keeper-udp-" + arm)

    def setup_tcp(self):
        for k, arm in enumerate(["none", "floor", "guardrail"]):
            cns = Netns(self.cleanup, "%s-tc%d" % (self.id, k))
            sns = Netns(self.cleanup, "%s-ts%d" % (self.id, k))
            cip, sip = "198.18.%d.1" % (110 + k), "198.18.%d.2" % (110 + k)
            veth_between(cns, sns, cip, sip)
            ccg = Cgroup(self.cleanup, "/%s/tcp-%s-client" % (self.id, arm))
            scg = Cgroup(self.cleanup, "/%s/tcp-%s-server" % (self.id, arm))
            # Client and server share CPU 1: a cross-CPU wakeup in this VM is an IPI (a VM exit)
            # that costs more than the whole round trip, and varies with the other CPU's load.
            self._server(sns, scg, TCP_PORT, "tcp-server-" + arm, cpu=self.cpu)
            if arm == "guardrail":
                self._server(cns, ccg, 9, "keeper-tcp-guardrail")
            self.tcp[arm] = (cns, ccg, sip, scg)

    def _server(self, ns, cg, port, label, cpu=None):
        cpu = agent_cpu() if cpu is None else cpu
        return Background(self.cleanup, [self.netloop, "--cgroup", cg.path, "--netns", ns.path,
                                         "--cpu", str(-1 if cpu is None else cpu), "serve",
                                         str(port)], label)

    def start_floor(self):
        dirs = [self.udp["floor"][1].path, self.tcp["floor"][1].path, self.tcp["floor"][3].path]
        Background(self.cleanup, [os.path.join(self.ctx.tools, "floor_loader"),
                                  os.path.join(self.ctx.tools, "empty_floor.bpf.o")] + dirs,
                   "floor_loader")

    # ---- the guardrail arm ------------------------------------------------------------------

    def guardrail_policy(self, workdir, n, ids):
        """The policy: N egress entries for the guardrail arm (1 when n is 0) and, when `ids`,
        a flow from the guardrail-ids arm to a workload of N addresses."""
        body = ["  zones:", "    - name: agent-sandbox", "      egress:"]
        body += pol.egress_lines(workdir, "egress-%d" % n, max(n, 1), ALLOWED + "/32")
        body += ["    - name: servers", "    - name: ids-sandbox", "    - name: peers",
                 "  workloads:",
                 "    - {name: ids-client, zone: ids-sandbox, cgroup: %s}"
                 % self.udp["guardrail-ids"][1].rel]
        if ids:
            body.append("    - " + pol.address_workload(workdir, "peer-hosts", "peers", ids,
                                                       ALLOWED_ID))
        body += [
                 "    - {name: udp-client, zone: agent-sandbox, cgroup: %s}"
                 % self.udp["guardrail"][1].rel,
                 "    - {name: tcp-client, zone: agent-sandbox, cgroup: %s}"
                 % self.tcp["guardrail"][1].rel,
                 "    - {name: tcp-server, zone: servers, cgroup: %s}"
                 % self.tcp["guardrail"][3].rel,
                 "  flows:",
                 "    - {from: {zone: agent-sandbox}, to: {workload: tcp-server}, "
                 "protocol: tcp, ports: [%d]}" % TCP_PORT]
        if ids:
            body.append("    - {from: {workload: ids-client}, to: {workload: peer-hosts}, "
                        "protocol: udp, ports: [%d]}" % PORT)
        return pol.document("bench-net-%d" % n, "\n".join(body) + "\n")

    def start_agent(self, n, scope):
        """The agent enforcing N egress entries and N identities; when this binary refuses
        that, the largest part it takes (egress only, or identities only). Returns (agent or
        None, {arm: why it is not loadable})."""
        workdir = os.path.join(self.ctx.workdir, "agent-%d" % n)
        os.makedirs(workdir, exist_ok=True)
        errs, text = {}, None
        for part in ((n, n), (n, 0), (0, n)):
            candidate = self.guardrail_policy(workdir, *part)
            path = os.path.join(workdir, "check.yaml")
            with open(path, "w") as f:
                f.write(candidate)
            ok, err = policy_check(self.ctx.guardrail_bin, path)
            if ok:
                text = candidate
                break
            errs[part] = err.replace(workdir + "/", "")
        if part == (n, n) and text:
            refused = {}
        elif part == (n, 0) and text:
            refused = {"guardrail-ids": errs[(n, n)]}
        elif text:
            refused = {"guardrail": errs[(n, 0)]}
        else:
            return None, {"guardrail": errs[(n, 0)], "guardrail-ids": errs[(0, n)]}
        agent = BenchAgent(scope, self.ctx.guardrail_bin, workdir, text, label="net-%d" % n,
                           cpu=agent_cpu())
        agent.start()
        return agent, refused

    # ---- nftables arms ----------------------------------------------------------------------

    def nft_script(self, workdir, arm, n):
        ns, cg = self.udp[arm]
        sock = 'socket cgroupv2 level %d "%s"' % (cg.level, cg.nft_path)
        path = os.path.join(workdir, "%s-%d.nft" % (arm, n))
        with open(path, "w") as f:
            f.write("flush ruleset\n")
            f.write("table ip grbench {\n")
            if arm == "nft-set":
                f.write("  set allow { type ipv4_addr . inet_service; }\n")
            f.write("  chain out {\n    type filter hook output priority 0; policy accept;\n")
            if arm == "nft-linear":
                for i in range(1, n):
                    f.write("    %s ip daddr %s udp dport %d accept\n"
                            % (sock, pol.bulk_addr(i), PORT))
                f.write("    %s ip daddr %s udp dport %d accept\n" % (sock, ALLOWED, PORT))
            else:
                f.write("    %s ip daddr . udp dport @allow accept\n" % sock)
            f.write("    %s drop\n  }\n}\n" % sock)
            if arm == "nft-set":
                elems = ["%s . %d" % (pol.bulk_addr(i), PORT) for i in range(1, n)]
                elems.append("%s . %d" % (ALLOWED, PORT))
                for i in range(0, len(elems), 10000):
                    f.write("add element ip grbench allow { %s }\n"
                            % ", ".join(elems[i:i + 10000]))
        return ns, path

    # ---- measuring --------------------------------------------------------------------------

    def udp_once(self, arm, mode, dst):
        ns, cg = self.udp[arm]
        return run_json([self.netloop, "--cgroup", cg.path, "--netns", ns.path, "--cpu",
                         str(self.cpu), "--ops", str(self.ops), "--seconds", str(self.seconds),
                         mode, dst, str(PORT)])

    def tcp_once(self, arm, mode):
        cns, ccg, sip, _ = self.tcp[arm]
        return run_json([self.netloop, "--cgroup", ccg.path, "--netns", cns.path, "--cpu",
                         str(self.cpu), "--seconds", str(self.tcp_seconds), mode, sip,
                         str(TCP_PORT)], timeout=self.tcp_seconds * 3 + 60)


def _over(arm, floor):
    """arm - floor of two medians, '+123 ns'."""
    if not arm or not floor:
        return "-"
    return "{:+,.0f} ns".format(arm["median"] - floor["median"])


def _warn_outcomes(results, arm, expect_refused):
    """'connect refused: 0 of 20000 refused' style notes when an arm did not do what it should."""
    notes = []
    for (mode, kind), runs in results.items():
        if not runs:
            continue
        last = runs[-1]
        refused = last["errors"]
        want = expect_refused(mode, kind)
        if want is True and refused != last["ops"]:
            notes.append("%s %s %s: %d of %d refused (%s)" % (arm, mode, kind, refused,
                                                              last["ops"], last["errno"] or "-"))
        if want is False and refused:
            notes.append("%s %s %s: %d of %d failed (%s)" % (arm, mode, kind, refused,
                                                             last["ops"], last["errno"]))
    return notes


def _expect(arm):
    def expect(mode, kind):
        if arm in ("none", "floor") or (arm == "guardrail-ids" and kind == "allowed"):
            return False
        if kind == "allowed":
            return False
        if arm.startswith("nft") and mode == "connect":
            return None  # netfilter never sees a UDP connect(): it succeeds
        return True
    return expect


def run(ctx):
    sizes = SIZES_SMOKE if ctx.smoke else SIZES_FULL
    if os.environ.get("BENCH_NET_SIZES"):  # e.g. 1,100000: a partial run by hand
        sizes = [int(x) for x in os.environ["BENCH_NET_SIZES"].split(",")]
    out_rows = {m: [] for m in MEASURES}
    plots = {m: {arm: {"x": [], "median": [], "min": [], "max": []} for arm in ARMS}
             for m in MEASURES}
    notes, setup_rows, program_rows = [], [], []
    tcp_table = None
    with Cleanup(ctx.log) as cleanup:
        b = Bench(ctx, cleanup)
        b.setup_udp()
        b.setup_tcp()
        b.start_floor()
        for n in sizes:
            ctx.log("net: %s rules" % _fmt_count(n))
            with Cleanup(ctx.log) as scope:
                arms = list(ARMS)
                unavailable = {}
                t0 = time.monotonic()
                agent, refused = b.start_agent(n, scope)
                agent_s = time.monotonic() - t0
                for arm in ("guardrail", "guardrail-ids"):
                    if agent is None or arm in refused:
                        unavailable[arm] = "not loadable by this binary"
                        notes.append("%s at %s rules: not loadable by this binary: %s"
                                     % (arm, _fmt_count(n), refused.get(arm) or "-"))
                workdir = os.path.join(ctx.workdir, "nft-%d" % n)
                os.makedirs(workdir, exist_ok=True)
                nft_s = {}
                for arm in ("nft-linear", "nft-set"):
                    if arm == "nft-linear" and n > NFT_LINEAR_MAX:
                        unavailable[arm] = "not run (> %s rules)" % _fmt_count(NFT_LINEAR_MAX)
                        continue
                    ns, path = b.nft_script(workdir, arm, n)
                    nft_s[arm] = nft_load(ns, path)
                    os.remove(path)
                setup_rows.append([_fmt_count(n),
                                   "%.2f s" % agent_s if agent else "not loadable",
                                   ", ".join(a for a in ("guardrail", "guardrail-ids")
                                             if a not in unavailable) or "-",
                                   "%.2f s" % nft_s["nft-linear"] if "nft-linear" in nft_s
                                   else "-",
                                   "%.2f s" % nft_s["nft-set"]])
                arms = [a for a in arms if a not in unavailable]
                lost0 = agent.metric("guardrail_events_lost_total") if agent else 0

                def measure(arm, rep):
                    allowed = ALLOWED_ID if arm == "guardrail-ids" else ALLOWED
                    return {(mode, kind): b.udp_once(arm, mode, allowed if kind == "allowed"
                                                     else REFUSED)
                            for mode, kind in MEASURES}
                per_arm = interleave(ctx.reps, arms, measure, ctx.log)
                if agent:
                    if agent.proc.poll() is not None:
                        raise RuntimeError("the agent exited during the run:\n" + agent.logs())
                    lost = agent.metric("guardrail_events_lost_total") - lost0
                    events = agent.metric("guardrail_events_total")
                    notes.append("guardrail at %s rules: %d events, %d lost"
                                 % (_fmt_count(n), events, lost))
                if agent and "guardrail" not in unavailable:
                    program_rows += programs_measure(ctx, b, n, scope)
                for arm in arms:
                    by_measure = {m: [r[m] for r in per_arm[arm]] for m in MEASURES}
                    notes += _warn_outcomes(by_measure, arm, _expect(arm))
                for m in MEASURES:
                    s = {arm: summarize([r[m]["ns_per_op"] for r in per_arm[arm]])
                         if arm in per_arm else None for arm in ARMS}
                    row = [_fmt_count(n)]
                    for arm in ARMS:
                        row.append(unavailable.get(arm) or fmt_range(s[arm]))
                        if arm == "guardrail":
                            row += [_over(s[arm], s["floor"]), ratio(s[arm], s["none"])]
                        if arm == "guardrail-ids":
                            row.append(_over(s[arm], s["floor"]))
                    out_rows[m].append(row)
                    for arm in ARMS:
                        if s[arm]:
                            p = plots[m][arm]
                            p["x"].append(n)
                            for k in ("median", "min", "max"):
                                p[k].append(s[arm][k])
                # TCP once, with the first policy this binary loads (its flow rule does not
                # depend on the egress count), or without the guardrail arm if none loads.
                if tcp_table is None and (agent or n == sizes[-1]):
                    tcp_table = tcp_measure(ctx, b, agent)
    cols = ["rules", "none", "floor", "guardrail", "over floor", "vs none", "nft-linear",
            "nft-set", "guardrail, N identities", "over floor"]
    tables = []
    for m in MEASURES:
        mode, kind = m
        tables.append({
            "title": "UDP %s(), %s destination: ns per call" % (mode, kind),
            "columns": cols, "rows": out_rows[m],
            "note": "median (min-max) of %d interleaved repetitions of up to %d calls (capped "
                    "at %.1f s) on CPU %d; over floor = guardrail - floor (medians); vs none = "
                    "guardrail / none. guardrail, N identities: the allowed destination is the "
                    "last address of a workload of N addresses a flow allows (one egress "
                    "entry).%s" % (ctx.reps, b.ops, b.seconds, b.cpu,
                                            " netfilter never sees a UDP connect(): the nft "
                                            "arms let every connect() through."
                                            if mode == "connect" else "")})
    tables.append({"title": "Setup: policy enforcing / nft ruleset loaded",
                   "columns": ["rules", "guardrail agent ready", "agent enforces",
                               "nft-linear load",
                               "nft-set load"],
                   "rows": setup_rows,
                   "note": "agent: from exec to /readyz 200 (policy applied); nft: `nft -f`."})
    if program_rows:
        tables.append({
            "title": "The programs' own run time (kernel.bpf_stats_enabled): ns per run",
            "columns": ["rules", "call", "hook", "floor", "guardrail", "over floor"],
            "rows": program_rows,
            "note": "median (min-max) of %d interleaved repetitions, the same load generator as "
                    "above, taken in a pass of its own with the statistics on (they add two "
                    "clock reads to every run, which the floor's empty programs measure). "
                    "all hooks: the sum of the hooks one call ran." % ctx.reps})
    if tcp_table:
        tables.append(tcp_table)
    if notes:
        tables.append({"title": "Outcomes and events", "columns": ["note"],
                       "rows": [[n] for n in notes], "note": ""})
    out_plots = []
    for m in MEASURES:
        mode, kind = m
        series = [dict(label=arm, **plots[m][arm]) for arm in ARMS if plots[m][arm]["x"]]
        out_plots.append({"name": "net-%s-%s" % (mode, kind),
                          "title": "UDP %s(), %s" % (mode, kind), "xlabel": "rules",
                          "ylabel": "ns per call", "logx": True, "logy": True,
                          "series": series})
    return {"tables": tables, "plots": out_plots}


def programs_measure(ctx, b, n, scope):
    """Per hook, the floor's and guardrail's own run time for the calls of PROGRAM_MEASURES:
    rows of the programs table."""
    BpfStats(scope)

    def measure(arm, rep):
        cg = b.udp[arm][1]
        out = {}
        for mode, kind in PROGRAM_MEASURES:
            before = BpfStats.snapshot(cg.path)
            r = b.udp_once(arm, mode, ALLOWED if kind == "allowed" else REFUSED)
            out[(mode, kind)] = BpfStats.per_run(before, BpfStats.snapshot(cg.path),
                                                 max(r["ops"] // 2, 1))
        return out
    ctx.log("net: the programs' own run time at %s rules" % _fmt_count(n))
    res = interleave(ctx.reps, ["floor", "guardrail"], measure, ctx.log)
    rows = []
    for m in PROGRAM_MEASURES:
        hooks = sorted({h for r in res["guardrail"] for h in r[m]})
        per_arm = {arm: [{h: ns for h, (_, ns) in r[m].items()} for r in res[arm]]
                   for arm in res}
        for hook in hooks + (["all hooks"] if len(hooks) > 1 else []):
            s = {}
            for arm, reps in per_arm.items():
                values = [sum(r.values()) if hook == "all hooks" else r.get(hook)
                          for r in reps]
                s[arm] = summarize(values)
            rows.append([_fmt_count(n), "%s %s" % (m[1], m[0]), hook, fmt_range(s["floor"]),
                         fmt_range(s["guardrail"]), _over(s["guardrail"], s["floor"])])
    return rows


def tcp_measure(ctx, b, agent):
    """TCP RR and stream: none vs floor vs guardrail (the flow rule allows it)."""
    arms = ["none", "floor", "guardrail"] if agent else ["none", "floor"]
    ctx.log("net: TCP request/response and stream")
    res = interleave(ctx.reps, arms, lambda arm, rep: {"rr": b.tcp_once(arm, "rr"),
                                                       "stream": b.tcp_once(arm, "stream")},
                     ctx.log)
    rows = []
    for key, field, unit, fmt in (("rr", "per_second", "transactions/s", "{:,.0f}"),
                                  ("stream", "gbit_per_second", "Gbit/s", "{:.2f}")):
        s = {a: summarize([r[key][field] for r in res[a]]) if a in res else None
             for a in ["none", "floor", "guardrail"]}

        def cell(x):
            if x is None:
                return "-"
            return "%s (%s-%s)" % (fmt.format(x["median"]), fmt.format(x["min"]),
                                   fmt.format(x["max"]))
        rows.append(["%s (%s)" % (key, unit), cell(s["none"]), cell(s["floor"]),
                     cell(s["guardrail"]), ratio(s["guardrail"], s["none"]),
                     ratio(s["guardrail"], s["floor"])])
    return {"title": "TCP between two network namespaces (veth)",
            "columns": ["measure", "none", "floor", "guardrail", "guardrail / none",
                        "guardrail / floor"],
            "rows": rows,
            "note": "rr: 1-byte ping-pong on one connection; stream: 128 KiB writes; %g s "
                    "each, %d interleaved repetitions; client and server on CPU %d (a "
                    "cross-CPU wakeup here is a VM exit), the agent on CPU 0; client and "
                    "server each in a workload cgroup (floor: both carry the empty programs; "
                    "guardrail: a zone flow allows client -> server)."
                    % (b.tcp_seconds, ctx.reps, b.cpu)}
