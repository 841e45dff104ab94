"""Stopping a child process the harness started (only that pid, never by name)."""
import subprocess


def terminate(proc, grace):
    """SIGTERM to `proc`, SIGKILL when it still runs after `grace` seconds; reaped either way
    (our child: a zombie would still "exist")."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
