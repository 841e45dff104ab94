"""A private dockerd for the integration tests, started once per test session.

Never the system's Docker: its own socket (/run/gr-itest-docker.sock, not /var/run/docker.sock),
data root (a fresh dir under /var/tmp), exec root, pidfile, daemon.json (empty) and bridge:
"grdock0", created here with 198.18.0.1/24 (shared/KERNEL.md: test networks live in
198.18.0.0/15) and handed to dockerd with -b, so a system docker0 is never touched. No iptables
rules, no NAT, no host ip_forward change (--iptables=false --ip-masq=false --ip-forward=false):
the host and containers on the bridge reach each other without them. cgroupfs driver, so each
container's v2 cgroup is <cgroup2>/docker/<full-id>.

There is no registry: the image gr-busybox:latest is `docker import`ed from a folder holding
/bin/busybox and its applet links.

Use from a test module (pytest finds fixtures in the module's namespace):

    from harness.docker import dockerd, docker_containers  # noqa: F401  (pytest fixtures)

    def test_x(dockerd, docker_containers):
        c = docker_containers.run(labels={"guardrail.io/zone": "agent-sandbox"})
        c.id, c.name, c.pid, c.ip, c.addresses, c.labels, c.cgroup_dir

`dockerd` (session scope, one daemon however many modules import it) skips the test loudly when
docker.io is not installed or not root. Everything is undone at session end: every container
started here is removed, dockerd is stopped by its pid (SIGTERM, then SIGKILL), then its
containerd and shims, found by their exact command line naming this exec root, mounts under the
data/exec roots are unmounted, the bridge and the directories are deleted.
"""
import atexit
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time

import pytest

from .process import terminate
from .topology import cgroup2_mount

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"  # docker.io's CLI (not whatever else is first on PATH)
BUSYBOX = "/bin/busybox"

SOCKET = "/run/gr-itest-docker.sock"
PIDFILE = "/run/gr-itest-docker.pid"
EXEC_ROOT = "/run/gr-itest-docker"
BRIDGE = "grdock0"
BRIDGE_ADDRESS = "198.18.0.1/24"
SUBNET_PREFIX = "198.18.0."  # containers get 198.18.0.2 ...
IMAGE = "gr-busybox:latest"
# On every container started here, so cleanup finds them all.
OWNER_LABEL = "guardrail.io/itest-owner"
SANDBOX_LABELS = {"guardrail.io/zone": "agent-sandbox"}
RUNC = "/usr/sbin/runc"
PRIVILEGED_RUNTIME = "gr-privileged"
# capabilities(7) by number, as OCI configs name them.
CAPABILITY_NAMES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE"]

# The runtime wrapper privileged_args() registers: removes the capabilities the host's bounding
# set lacks from the OCI config (create/run --bundle) or process file (exec --process), then runs
# runc. Everything else is runc's.
_PRIVILEGED_WRAPPER = """#!/usr/bin/python3
import json, os, sys
DROP = set(%(drop)r)
args = sys.argv[1:]

def strip(path):
    with open(path) as f:
        doc = json.load(f)
    proc = doc.get("process", doc) if "ociVersion" in doc else doc
    caps = proc.get("capabilities") or {}
    for key in list(caps):
        caps[key] = [c for c in (caps[key] or []) if c not in DROP]
    with open(path, "w") as f:
        json.dump(doc, f)

for i, a in enumerate(args):
    for flag, name in (("--bundle", "config.json"), ("-b", "config.json"), ("--process", None)):
        value = None
        if a == flag and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(flag + "="):
            value = a.split("=", 1)[1]
        if value:
            strip(os.path.join(value, name) if name else value)
os.execv(%(runc)r, [%(runc)r] + args)
"""


def host_missing_capabilities():
    """Capabilities this kernel knows that the host's bounding set lacks (names)."""
    with open("/proc/self/status") as f:
        bnd = int(next(l.split()[1] for l in f if l.startswith("CapBnd:")), 16)
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    return [CAPABILITY_NAMES[i] for i in range(min(last + 1, len(CAPABILITY_NAMES)))
            if not bnd & (1 << i)]


def missing_requirement():
    """Why a private dockerd cannot run here, or None."""
    if os.geteuid() != 0:
        return "Docker tests need root (euid is %d)" % os.geteuid()
    for path, what in ((DOCKERD, "dockerd"), (DOCKER, "the docker CLI")):
        if not os.access(path, os.X_OK):
            return ("%s (%s) not found: install Debian's `docker.io` package "
                    "(scripts/setup.sh does)" % (what, path))
    if not os.access(BUSYBOX, os.X_OK):
        return "%s not found: install `busybox-static` (scripts/setup.sh does)" % BUSYBOX
    if cgroup2_mount() is None:
        return "Docker tests need a cgroup v2 mount (none in /proc/self/mounts)"
    return None


def require_docker():
    reason = missing_requirement()
    if reason:
        pytest.skip("SKIPPED (environment): " + reason)


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def _kill_pid(pid, timeout=10.0):
    """SIGTERM this pid, then SIGKILL it if it is still there after `timeout`."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if _wait_gone(pid, wait):
            return


def _processes_naming(text):
    """Pids whose command line contains `text` (an exact path of ours)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and text in _cmdline(int(entry)):
            pids.append(int(entry))
    return pids


def _mounts_under(*roots):
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            target = line.split()[1].replace("\\040", " ")
            if any(target == r or target.startswith(r.rstrip("/") + "/") for r in roots):
                found.append(target)
    return found


def _bridge_exists():
    return os.path.isdir("/sys/class/net/" + BRIDGE)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def busybox_rootfs_tar():
    """A tar (bytes) of a root holding bin/busybox and a link per applet."""
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "dev", "etc", "proc", "sys", "tmp", "root"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in applets:
            if applet == "busybox" or "/" in applet:
                continue
            info = tarfile.TarInfo("bin/" + applet)
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    return buf.getvalue()


class Container:
    """A container started by Dockerd.run; fields from its inspect document."""

    def __init__(self, daemon, inspect, run_seconds):
        self.daemon = daemon
        self.run_seconds = run_seconds
        self.id = inspect["Id"]
        self.name = inspect["Name"].lstrip("/")
        self.pid = inspect["State"]["Pid"]
        self.labels = dict((inspect.get("Config") or {}).get("Labels") or {})
        networks = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
        self.addresses = [a for n in networks.values() if n
                          for a in (n.get("IPAddress"), n.get("GlobalIPv6Address")) if a]
        self.ip = self.addresses[0] if self.addresses else None

    @property
    def cgroup_dir(self):
        """This container's cgroup v2 directory (cgroupfs driver: <cgroup2>/<parent>/<id>, the
        parent being /docker unless the daemon runs with --cgroup-parent)."""
        parent = (self.daemon.cgroup_parent or "/docker").strip("/")
        return os.path.join(cgroup2_mount(), parent, self.id)

    def inspect(self):
        return self.daemon.inspect(self.id)

    def exec(self, *argv, check=True, timeout=30):
        return self.daemon.docker("exec", self.id, *argv, check=check, timeout=timeout)

    def remove(self):
        self.daemon.remove(self.id)


class Dockerd:
    """One private dockerd. start() -> self; stop() undoes everything (idempotent)."""

    def __init__(self, workdir=None):
        self.workdir = workdir or tempfile.mkdtemp(prefix="gr-itest-docker-", dir="/var/tmp")
        self.data_root = os.path.join(self.workdir, "data")
        self.log_path = os.path.join(self.workdir, "dockerd.log")
        self.socket = SOCKET
        self.proc = None
        self.containerd_pid = None
        self.started = []  # ids of containers started here, not yet removed
        self.start_seconds = None  # dockerd launch -> API answers
        self.import_seconds = None
        self._made_bridge = False
        self._config = {}  # what daemon.json holds
        self._owner = "gr-itest-%d" % os.getpid()
        self._counter = 0
        self.cgroup_parent = None  # dockerd --cgroup-parent (None: the default, /docker)

    # ---- lifecycle -------------------------------------------------------------------------

    def _check_no_other(self):
        try:
            with open(PIDFILE) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid and _alive(pid) and "dockerd" in _cmdline(pid):
            raise AssertionError(
                "another test session's dockerd (pid %d: %s) holds %s: wait for it to finish or "
                "stop it by that pid" % (pid, _cmdline(pid), SOCKET))
        for stale in (PIDFILE, SOCKET):
            if os.path.lexists(stale):
                os.unlink(stale)

    def _make_bridge(self):
        if _bridge_exists():  # left by an earlier session that died: ours by name
            subprocess.run(["ip", "link", "del", BRIDGE], check=False, capture_output=True)
        for cmd in (["ip", "link", "add", BRIDGE, "type", "bridge"],
                    ["ip", "addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE],
                    ["ip", "link", "set", BRIDGE, "up"]):
            subprocess.run(cmd, check=True, capture_output=True, timeout=10)
        self._made_bridge = True

    def start(self, timeout=30.0):
        require_docker()
        try:
            self._check_no_other()
        except AssertionError:
            shutil.rmtree(self.workdir, ignore_errors=True)  # made by __init__, still empty
            raise
        os.makedirs(self.data_root, exist_ok=True)
        self._write_config({})
        self._make_bridge()
        atexit.register(self.stop)
        self._launch(timeout)
        try:
            self.import_busybox()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def config_path(self):
        return os.path.join(self.workdir, "daemon.json")  # not /etc/docker/daemon.json

    def _write_config(self, config):
        with open(self.config_path, "w") as f:
            f.write(json.dumps(config) + "\n")
        self._config = dict(config)

    def _reload_config(self, changes, ready, what):
        """Adds `changes` to daemon.json and has dockerd reload it (SIGHUP); waits until
        ready(/info) holds."""
        self._write_config(dict(self._config, **changes))
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not ready(self.api_get("/info")):
            if time.monotonic() > deadline:
                raise AssertionError("dockerd did not %s after SIGHUP:\n%s" % (what, self.logs()))
            time.sleep(0.05)

    def privileged_args(self):
        """`docker run` arguments for a --privileged container on this host. A privileged
        container gets every capability; where the host's own bounding set lacks some (this CI
        VM has no CAP_SYS_RESOURCE), runc fails with "unable to apply caps: operation not
        permitted". Then a runtime wrapper (PRIVILEGED_RUNTIME) is registered that leaves
        those out of the container's capability sets before runc runs; the container stays
        --privileged in its configuration (HostConfig.Privileged true)."""
        missing = host_missing_capabilities()
        if not missing:
            return ["--privileged"]
        if PRIVILEGED_RUNTIME not in (self.api_get("/info").get("Runtimes") or {}):
            wrapper = os.path.join(self.workdir, "runc-privileged")
            with open(wrapper, "w") as f:
                f.write(_PRIVILEGED_WRAPPER % {"drop": missing, "runc": RUNC})
            os.chmod(wrapper, 0o755)
            self._reload_config(
                {"runtimes": {PRIVILEGED_RUNTIME: {"path": wrapper}}},
                lambda info: PRIVILEGED_RUNTIME in (info.get("Runtimes") or {}),
                "register the %s runtime" % PRIVILEGED_RUNTIME)
        return ["--privileged", "--runtime", PRIVILEGED_RUNTIME]

    def _argv(self):
        return [DOCKERD, "--config-file", self.config_path, "--data-root", self.data_root,
                "--exec-root", EXEC_ROOT, "--pidfile", PIDFILE, "-H", "unix://" + SOCKET,
                "--bridge", BRIDGE, "--iptables=false", "--ip-masq=false", "--ip-forward=false",
                "--exec-opt", "native.cgroupdriver=cgroupfs"] + (
                    ["--cgroup-parent", self.cgroup_parent] if self.cgroup_parent else [])

    def relaunch(self, cgroup_parent=None, timeout=30.0):
        """Stops this dockerd (its containers go with it: remove them first) and starts it
        again on the same data root, socket and bridge with `--cgroup-parent cgroup_parent`
        (None: none, containers under /docker)."""
        assert self.proc is not None and self.proc.poll() is None, "dockerd is not running"
        terminate(self.proc, 20)
        self.cgroup_parent = cgroup_parent
        self._launch(timeout)

    def _launch(self, timeout):
        """Starts dockerd (log appended) and waits until its API answers; sets start_seconds and
        containerd_pid. On failure everything is undone (stop()) and AssertionError raised."""
        argv = self._argv()
        env = dict(os.environ)
        env.pop("DOCKER_HOST", None)
        t0 = time.monotonic()
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        deadline = t0 + timeout
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.stop()
                raise AssertionError("dockerd exited with %d before answering:\n%s\n%s"
                                     % (rc, " ".join(argv), self.logs()))
            try:
                if self.api_get("/_ping", timeout=1.0) == "OK":
                    break
            except (OSError, http.client.HTTPException, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("dockerd did not answer on %s within %.0f s:\n%s"
                                     % (SOCKET, timeout, self.logs()))
            time.sleep(0.05)
        self.start_seconds = time.monotonic() - t0
        try:
            with open(os.path.join(EXEC_ROOT, "containerd", "containerd.pid")) as f:
                self.containerd_pid = int(f.read().strip())
        except (OSError, ValueError):
            self.containerd_pid = None

    def restart(self, down_seconds=0.0, timeout=30.0):
        """Stops this dockerd and starts it again on the same data root, exec root, socket and
        bridge, with live-restore on (turned on first through a SIGHUP config reload), so the
        running containers, their cgroups and addresses outlive the daemon. The API is gone from
        the SIGTERM until the new daemon answers, plus `down_seconds` of no daemon at all.
        Returns (went_down, came_back): time.monotonic() when the old daemon had exited and when
        the new one answered."""
        assert self.proc is not None and self.proc.poll() is None, "dockerd is not running"
        if not self.api_get("/info").get("LiveRestoreEnabled"):
            # live-restore is a reloadable option.
            self._reload_config({"live-restore": True},
                                lambda info: info.get("LiveRestoreEnabled"),
                                "turn live-restore on")
        terminate(self.proc, 20)
        went_down = time.monotonic()
        if down_seconds > 0:
            time.sleep(down_seconds)
        self._launch(timeout)
        return went_down, time.monotonic()

    def stop(self):
        """Removes every container started here, stops dockerd, its containerd and shims (by
        pid), unmounts what they left, deletes the bridge and the directories. Idempotent."""
        if self.proc is None:
            return
        atexit.unregister(self.stop)
        if self.proc.poll() is None:
            try:
                self.cleanup()
            except Exception:  # dockerd hung or broke: the kills below still run
                pass
            terminate(self.proc, 20)
        self.proc = None
        leftovers = []
        if self.containerd_pid and EXEC_ROOT in _cmdline(self.containerd_pid):
            leftovers.append(self.containerd_pid)
        # containerd-shim-runc-v2 ... -address /run/gr-itest-docker/containerd/containerd.sock
        leftovers += _processes_naming(os.path.join(EXEC_ROOT, "containerd", "containerd.sock"))
        for pid in sorted(set(leftovers)):
            _kill_pid(pid, timeout=5.0)
        for target in sorted(_mounts_under(self.data_root, EXEC_ROOT), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True)
        if self._made_bridge and _bridge_exists():
            subprocess.run(["ip", "link", "del", BRIDGE], check=False, capture_output=True)
        for path in (SOCKET, PIDFILE):
            if os.path.lexists(path):
                os.unlink(path)
        shutil.rmtree(EXEC_ROOT, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def logs(self, limit=6000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-limit:]
        except FileNotFoundError:
            return ""

    # ---- talking to it ---------------------------------------------------------------------

    def docker(self, *args, check=True, timeout=60, input=None):
        """The docker CLI against this daemon -> CompletedProcess (text, output captured)."""
        env = dict(os.environ, DOCKER_CONFIG=os.path.join(self.workdir, "cli-config"))
        env.pop("DOCKER_HOST", None)
        env.pop("DOCKER_CONTEXT", None)
        res = subprocess.run([DOCKER, "-H", "unix://" + SOCKET] + list(args), input=input,
                             capture_output=True, env=env, timeout=timeout,
                             text=not isinstance(input, bytes))
        if check and res.returncode != 0:
            err = res.stderr if isinstance(res.stderr, str) else res.stderr.decode(
                errors="replace")
            raise AssertionError("docker %s failed (%d): %s" % (" ".join(args), res.returncode,
                                                                err.strip()))
        return res

    def api_get(self, path, timeout=5.0):
        """GET path on the Engine API socket -> parsed JSON (or text when not JSON); raises
        AssertionError on an HTTP error."""
        conn = _UnixHTTPConnection(SOCKET, timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace")
        finally:
            conn.close()
        if resp.status >= 300:
            raise AssertionError("GET %s: HTTP %d: %s" % (path, resp.status, body.strip()))
        try:
            return json.loads(body)
        except ValueError:
            return body

    def import_busybox(self, tag=IMAGE):
        t0 = time.monotonic()
        self.docker("import", "-c", 'CMD ["/bin/sh"]', "-", tag, input=busybox_rootfs_tar())
        self.import_seconds = time.monotonic() - t0

    def inspect(self, ident):
        return json.loads(self.docker("inspect", "--type", "container", ident).stdout)[0]

    # ---- containers ------------------------------------------------------------------------

    def run(self, labels=None, name=None, cmd=("sleep", "3600"), args=(), image=IMAGE):
        """Starts a detached container (`docker run -d`), labelled, on the bridge -> Container.
        `args` go before the image (e.g. ("--cap-add", "NET_ADMIN"))."""
        self._counter += 1
        name = name or "%s-%d" % (self._owner, self._counter)
        argv = ["run", "-d", "--name", name, "--label", "%s=%s" % (OWNER_LABEL, self._owner)]
        for key, value in (labels or {}).items():
            argv += ["--label", "%s=%s" % (key, value)]
        argv += list(args) + [image] + list(cmd)
        t0 = time.monotonic()
        res = self.docker(*argv, check=False)
        took = time.monotonic() - t0
        cid = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
        if cid:
            self.started.append(cid)
        if res.returncode != 0:
            raise AssertionError("docker %s failed (%d): %s\n%s" % (
                " ".join(argv), res.returncode, res.stderr.strip(), self.logs(2000)))
        return Container(self, self.inspect(cid), took)

    def remove(self, ident):
        self.docker("rm", "-f", ident, check=False, timeout=30)
        self.started = [c for c in self.started if c != ident and not c.startswith(ident)]

    def cleanup(self):
        """Removes every container this session started (tracked or labelled as ours)."""
        listed = self.docker("ps", "-aq", "--no-trunc", "--filter",
                             "label=%s=%s" % (OWNER_LABEL, self._owner),
                             check=False, timeout=30).stdout.split()
        ids = sorted(set(listed) | set(self.started))
        if ids:
            self.docker("rm", "-f", *ids, check=False, timeout=60)
        self.started = []


# ---- pytest fixtures ---------------------------------------------------------------------------

_SESSION = {"daemon": None, "users": 0}


@pytest.fixture(scope="session")
def dockerd():
    """The session's private dockerd (started on first use, one however many modules import
    this fixture), with gr-busybox:latest imported. Skips when docker.io is missing or not
    root."""
    require_docker()
    if _SESSION["daemon"] is None:
        _SESSION["daemon"] = Dockerd().start()
    _SESSION["users"] += 1
    try:
        yield _SESSION["daemon"]
    finally:
        _SESSION["users"] -= 1
        if _SESSION["users"] == 0:
            daemon, _SESSION["daemon"] = _SESSION["daemon"], None
            daemon.stop()


@pytest.fixture
def docker_containers(dockerd):
    """dockerd, with every container run() during the test removed when it ends."""
    yield dockerd
    dockerd.cleanup()
