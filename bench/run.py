#!/usr/bin/env python3
"""bench/run.py: runs the benchmark suites (bench/suites/*.py, or --only) and writes
OUT/<date>.md and OUT/<plot>.png. A suite that raises is reported as a failed section (its
traceback in the markdown) and makes the exit status 1; the other suites still run.
Normally started by bench/run.sh, which builds the tools first."""
import argparse
import datetime
import importlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.lib.cleanup import sweep_leftovers  # noqa: E402
from bench.lib.report import render_plot, table_markdown  # noqa: E402


def _on_sigterm(sig, frame):
    # SIGTERM (ctest's timeout, a kill) unwinds like Ctrl-C, so every suite cleans up.
    raise KeyboardInterrupt("SIGTERM")


class Context:
    def __init__(self, args, suite, out):
        self.guardrail_bin = os.path.abspath(args.guardrail_bin)
        self.smoke = args.smoke
        self.reps = args.reps or (3 if args.smoke else 7)
        self.tools = os.path.abspath(args.tools)
        self.source = ROOT
        self.out = out
        self.workdir = os.path.join(out, "work", suite)
        os.makedirs(self.workdir, exist_ok=True)
        self.label = args.label
        self._suite = suite

    def log(self, msg):
        print("[%s %s] %s" % (time.strftime("%H:%M:%S"), self._suite, msg), file=sys.stderr,
              flush=True)


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
    return {"nproc": os.cpu_count(), "model": model, "memory": mem,
            "kernel": platform.release()}


def discover(only):
    names = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "bench", "suites"))
                   if f.endswith(".py") and not f.startswith("_"))
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            sys.exit("run.py: unknown suite(s) %s (have: %s)" % (", ".join(unknown),
                                                                   ", ".join(names)))
        names = [n for n in names if n in only]
    return names


def binary_version(path):
    try:
        res = subprocess.run([path, "version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=10)
        return res.stdout.strip().splitlines()[0] if res.stdout.strip() else "?"
    except (OSError, subprocess.SubprocessError) as exc:
        return "unavailable (%s)" % exc


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--guardrail-bin", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--only", default="", help="comma-separated suite names")
    ap.add_argument("--tools", required=True, help="the compiled tools and BPF objects")
    ap.add_argument("--reps", type=int, default=0, help="repetitions (default 3 smoke, 7 full)")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, _on_sigterm)
    sweep_leftovers(args.guardrail_bin, lambda msg: print("run.py: " + msg, file=sys.stderr))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    results = os.path.join(ROOT, "bench", "results")
    out = os.path.abspath(args.out or os.path.join(results, date))
    os.makedirs(out, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    m = machine()
    names = discover([n for n in args.only.split(",") if n])

    md = ["# Guardrail benchmarks, %s%s" % (date, " (smoke)" if args.smoke else ""), "",
          "| | |", "|---|---|",
          "| machine | %d CPUs, %s, %s |" % (m["nproc"], m["model"], m["memory"]),
          "| kernel | %s |" % m["kernel"],
          "| guardrail binary | `%s` (%s) |" % (os.path.abspath(args.guardrail_bin),
                                              binary_version(args.guardrail_bin)),
          "| label | %s |" % (args.label or "-"),
          "| started | %s |" % started.strftime("%Y-%m-%dT%H:%M:%SZ"),
          "| mode | %s, %d repetitions per figure |" % (
              "smoke" if args.smoke else "full", args.reps or (3 if args.smoke else 7)),
          "| suites | %s |" % ", ".join(names), ""]
    failed = []
    for name in names:
        ctx = Context(args, name, out)
        t0 = time.monotonic()
        ctx.log("start")
        md.append("## %s\n" % name)
        try:
            mod = importlib.import_module("bench.suites." + name)
            result = mod.run(ctx)
            for t in result.get("tables", []):
                md.append(table_markdown(t))
            for p in result.get("plots", []):
                if not p.get("series"):
                    continue
                png = render_plot(p, out)
                md.append("![%s](%s)\n" % (p["title"], png))
            md.append("_%s: %.0f s_\n" % (name, time.monotonic() - t0))
            ctx.log("done in %.0f s" % (time.monotonic() - t0))
        except Exception:  # report, never hide: the section says the suite failed
            failed.append(name)
            tb = traceback.format_exc()
            ctx.log("FAILED\n" + tb)
            md += ["**FAILED** after %.0f s:" % (time.monotonic() - t0), "", "```",
                   tb.rstrip(), "```", ""]
    if failed:
        md.append("**Failed suites: %s**\n" % ", ".join(failed))
    md.append("_finished %s_\n" % datetime.datetime.now(datetime.timezone.utc)
              .strftime("%Y-%m-%dT%H:%M:%SZ"))
    text = "\n".join(md)
    path = os.path.join(out, date + ".md")
    with open(path, "w") as f:
        f.write(text)
    if not args.out:
        # bench/results/<date>.md next to the <date>/ directory: plots relative to it.
        rel = os.path.relpath(out, results)
        copied = text
        for fname in os.listdir(out):
            if fname.endswith(".png"):
                copied = copied.replace("](%s)" % fname, "](%s/%s)" % (rel, fname))
        with open(os.path.join(results, date + ".md"), "w") as f:
            f.write(copied)
    if not failed:  # a failed suite keeps its scratch files (agent logs, policies) to look at
        shutil.rmtree(os.path.join(out, "work"), ignore_errors=True)
    print(path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
