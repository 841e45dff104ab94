"""A stack of undo actions: everything a suite creates registers how to remove it, and the stack
runs in reverse on exit, also after a failure or Ctrl-C (and at interpreter exit as a last
resort), collecting errors instead of stopping at the first."""
import atexit
import sys


class Cleanup:
    def __init__(self, log=None):
        self._undo = []
        self._log = log or (lambda msg: print(msg, file=sys.stderr))
        atexit.register(self.run)

    def push(self, what, fn, *args):
        """Registers fn(*args) (named `what` in error messages); returns fn's first argument or
        None, so `x = cleanup.push(...)` is handy."""
        self._undo.append((what, fn, args))

    def run(self):
        errors = []
        while self._undo:
            what, fn, args = self._undo.pop()
            try:
                fn(*args)
            except Exception as exc:  # keep cleaning up
                errors.append("%s: %s" % (what, exc))
        for e in errors:
            self._log("cleanup: " + e)
        return errors

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.run()
        return False


def sweep_leftovers(guardrail_bin, log):
    """Removes what an earlier run killed with SIGKILL left behind: netns grb<PID>-*, cgroups
    /grb<PID> and pin directories /sys/fs/bpf/guardrail-bench-<PID>-<N> whose PID is gone."""
    import os
    import re
    import shutil
    import subprocess

    from .fixtures import Cgroup, cgroup2_root

    def dead(pid):
        return int(pid) != os.getpid() and not os.path.exists("/proc/%s" % pid)

    pins = "/sys/fs/bpf"
    for name in sorted(os.listdir(pins)) if os.path.isdir(pins) else []:
        m = re.fullmatch(r"guardrail-bench-(\d+)-\d+", name)
        if m and dead(m.group(1)):
            log("sweeping the pins of an earlier run: %s/%s" % (pins, name))
            subprocess.run([guardrail_bin, "uninstall", "--pin-dir", os.path.join(pins, name)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            shutil.rmtree(os.path.join(pins, name), ignore_errors=True)
    res = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, text=True)
    for line in res.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(r"grb(\d+)-\w+", name)
        if m and dead(m.group(1)):
            log("sweeping netns %s of an earlier run" % name)
            subprocess.run(["ip", "netns", "del", name])
    root = cgroup2_root()
    for name in sorted(os.listdir(root)) if root else []:
        m = re.fullmatch(r"grb(\d+)", name)
        if m and dead(m.group(1)):
            log("sweeping cgroup %s/%s of an earlier run" % (root, name))
            for dirpath, _, _ in sorted(os.walk(os.path.join(root, name)),
                                        key=lambda w: -w[0].count("/")):
                try:
                    Cgroup._remove(dirpath)
                except RuntimeError as exc:
                    log(str(exc))
