"""The programs' own run time, from the kernel's BPF statistics (kernel.bpf_stats_enabled): per
program, the time spent inside it and the number of runs. End-to-end figures scatter by about
+-100 ns here; the programs' own time resolves a few nanoseconds. Turning the statistics on adds
two clock reads to every program run (about 50 ns, which the empty floor programs measure), so
they are on only for this pass, never while the end-to-end figures are taken."""
import json
import subprocess


def _bpftool_json(args):
    res = subprocess.run(["bpftool", "-j"] + args, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError("bpftool %s failed: %s" % (" ".join(args), res.stderr.strip()))
    return json.loads(res.stdout or "[]")


class BpfStats:
    """Turns the statistics on for its lifetime (restoring the previous setting at cleanup)."""

    SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"

    def __init__(self, cleanup):
        with open(self.SYSCTL) as f:
            self._before = f.read().strip()
        self._write("1")
        cleanup.push("restore kernel.bpf_stats_enabled", self._write, self._before)

    def _write(self, value):
        with open(self.SYSCTL, "w") as f:
            f.write(value)

    @staticmethod
    def snapshot(cgroup_path):
        """{attach type: (name, run_time_ns, run_cnt)} of the programs in effect on the cgroup
        (those attached to it and to its ancestors)."""
        effective = {e["id"]: e["attach_type"]
                     for e in _bpftool_json(["cgroup", "show", cgroup_path, "effective"])}
        out = {}
        for p in _bpftool_json(["prog", "show"]):
            if p["id"] in effective:
                out[effective[p["id"]]] = (p.get("name", "?"), p.get("run_time_ns", 0),
                                           p.get("run_cnt", 0))
        return out

    @staticmethod
    def per_run(before, after, min_runs):
        """{attach type: (name, ns per run)} of the programs that ran at least min_runs times
        between two snapshots."""
        out = {}
        for hook, (name, t1, c1) in after.items():
            _, t0, c0 = before.get(hook, (name, 0, 0))
            if c1 - c0 >= min_runs:
                out[hook] = (name, (t1 - t0) / (c1 - c0))
        return out
