#!/usr/bin/env python3
"""Checks a smoke run's output (the harness works, not the numbers): OUT/<date>.md exists, names
no failed suite, has at least one PNG next to it, and every suite section has a table with at
least one row. Usage: smoke_check.py OUT"""
import glob
import os
import re
import sys


def main(out):
    mds = sorted(glob.glob(os.path.join(out, "????-??-??.md")))
    if not mds:
        return "no <date>.md in %s" % out
    text = open(mds[-1]).read()
    problems = []
    if "**FAILED**" in text or "Failed suites" in text:
        problems.append("a suite failed (see %s)" % mds[-1])
    if not glob.glob(os.path.join(out, "*.png")):
        problems.append("no PNG plot in %s" % out)
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    if not sections:
        problems.append("no suite section")
    for sec in sections:
        name = sec.splitlines()[0].strip()
        # A table row: a markdown row after a |---| separator.
        rows = re.findall(r"^\|---.*\n((?:\|.*\|\n)+)", sec, flags=re.M)
        if not any(r.strip() for r in rows):
            problems.append("suite %s reported no table rows" % name)
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        if not os.path.exists(os.path.join(os.path.dirname(mds[-1]), link)):
            problems.append("plot link %s points nowhere" % link)
    return "; ".join(problems)


if __name__ == "__main__":
    err = main(sys.argv[1])
    if err:
        print("bench smoke: " + err, file=sys.stderr)
        sys.exit(1)
    print("bench smoke: ok")
