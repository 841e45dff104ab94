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
