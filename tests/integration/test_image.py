"""The agent image, built and run for real with the tests' private dockerd, no registry.

The image: deploy/daemonset/Containerfile built on a base imported from the agent binary's ldd
closure (plus /bin/sh for the Containerfile's RUN), with RUNTIME_PACKAGES empty. It runs with
exactly what deploy/daemonset/daemonset.yaml gives the pod, read from that file so the two cannot
drift: hostPID and no host network, runAsUser, a read-only root, no_new_privs
(allowPrivilegeEscalation: false), --cap-drop ALL plus the listed capabilities, the runtime's
default seccomp filter (RuntimeDefault), the same host mounts read-only where the manifest says
so, the memory and CPU limits, and the container's args minus Kubernetes discovery (--kubernetes;
$(NODE_NAME) becomes a fixed node name) with a test-only --pin-dir.

Proved: the agent enforces the harness policy on the topology's workloads (a connect the policy
denies is refused with EPERM and alerted in `docker logs`; the egress allowlist and a flow to the
orchestrator, which needs the orchestrator's address read from its network namespace, pass), and
/readyz answers ready. Then each listed capability is removed in turn: the agent must not start,
naming the capability it lacks, or must visibly fail to enforce (the check that fails is named).
A capability without which everything still works fails the test: it must leave the DaemonSet.
"""
import json
import os
import shutil
import subprocess
import tarfile
import time
import uuid

import pytest

from harness.agent import policy_yaml
from harness.docker import dockerd, host_missing_capabilities  # noqa: F401  (pytest fixture)
from harness.topology import wait_until

yaml = pytest.importorskip("yaml", reason="SKIPPED (environment): python3-yaml is not installed")

BASE_IMAGE = "gr-itest-agent-base:latest"
IMAGE = "gr-itest-agent:latest"
NODE_NAME = "itest-node"
OWNER_LABEL = "guardrail.io/itest-owner"
SHELL = "/bin/sh"
RUNC = "/usr/sbin/runc"

# Debian 12's dockerd (20.10) predates CAP_BPF and CAP_PERFMON (Linux 5.8) and refuses
# `--cap-add BPF`; runc knows them. Those go in through this runtime: runc, after it added the
# capabilities the container's CAPS_ENV names to the OCI config's sets. The others are plain
# --cap-add, so dockerd's default seccomp filter (which opens bpf(2), perf_event_open(2) and
# setns(2) to CAP_SYS_ADMIN) is the one RuntimeDefault gives the pod.
CAPS_RUNTIME = "gr-itest-caps"
CAPS_ENV = "GR_ITEST_CAPABILITIES"
UNKNOWN_TO_DOCKERD = {"BPF", "PERFMON", "CHECKPOINT_RESTORE"}
CAPS_WRAPPER = """#!/usr/bin/python3
import json, os, sys
args = sys.argv[1:]
for i, a in enumerate(args):
    bundle = args[i + 1] if a in ("--bundle", "-b") and i + 1 < len(args) else (
        a.split("=", 1)[1] if a.startswith("--bundle=") else None)
    if not bundle:
        continue
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        doc = json.load(f)
    proc = doc["process"]
    env = dict(e.split("=", 1) for e in proc.get("env", []) if "=" in e)
    add = [c for c in env.get(%(env)r, "").split(",") if c]
    caps = proc.setdefault("capabilities", {})
    for key in ("bounding", "effective", "permitted"):
        caps[key] = sorted(set(caps.get(key) or []) | set(add))
    with open(path, "w") as f:
        json.dump(doc, f)
os.execv(%(runc)r, [%(runc)r] + args)
""" % {"env": CAPS_ENV, "runc": RUNC}

DENIED = ("198.18.201.5", 443)  # world, not on agent-sandbox's egress allowlist
ALLOWED = ("198.18.200.5", 443)  # on the allowlist (the world namespace answers with a RST)


# ---- the manifest ---------------------------------------------------------------------------

def daemonset(source_dir):
    with open(os.path.join(source_dir, "deploy", "daemonset", "daemonset.yaml")) as f:
        return yaml.safe_load(f)


def pod_spec(source_dir):
    return daemonset(source_dir)["spec"]["template"]["spec"]


def agent_container(spec):
    (container,) = [c for c in spec["containers"] if c["name"] == "guardrail"]
    return container


def listed_capabilities(source_dir):
    return agent_container(pod_spec(source_dir))["securityContext"]["capabilities"]["add"]


def memory_flag(quantity):
    units = {"Ki": "k", "Mi": "m", "Gi": "g"}
    for suffix, flag in units.items():
        if quantity.endswith(suffix):
            return quantity[: -len(suffix)] + flag
    return quantity


def run_args(spec, policy_dir, pin_dir, caps):
    """`docker run` flags and the container's args, from the pod spec; `caps` replaces the
    manifest's capabilities.add (the sweep removes one)."""
    container = agent_container(spec)
    sc = container["securityContext"]
    flags = ["--network", "host" if spec.get("hostNetwork") else "none"]
    if spec.get("hostPID"):
        flags += ["--pid", "host"]
    flags += ["--user", "%d:%d" % (sc["runAsUser"], sc.get("runAsGroup", sc["runAsUser"]))]
    assert not sc.get("privileged"), "the DaemonSet must not be privileged"
    if sc.get("readOnlyRootFilesystem"):
        flags.append("--read-only")
    if sc.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    assert sc["capabilities"]["drop"] == ["ALL"], sc["capabilities"]
    flags += ["--cap-drop", "ALL", "--runtime", CAPS_RUNTIME,
              "-e", "%s=%s" % (CAPS_ENV, ",".join("CAP_" + c for c in caps
                                                  if c in UNKNOWN_TO_DOCKERD))]
    for cap in caps:
        if cap not in UNKNOWN_TO_DOCKERD:
            flags += ["--cap-add", cap]
    seccomp = sc.get("seccompProfile", {}).get("type")
    if seccomp == "Unconfined":
        flags += ["--security-opt", "seccomp=unconfined"]
    else:
        assert seccomp == "RuntimeDefault", seccomp  # docker's default filter
    if (sc.get("appArmorProfile", {}).get("type") == "Unconfined"
            and os.path.isdir("/sys/kernel/security/apparmor")):
        flags += ["--security-opt", "apparmor=unconfined"]
    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        flags += ["--memory", memory_flag(limits["memory"])]
    if "cpu" in limits:
        flags += ["--cpus", str(limits["cpu"])]
    volumes = {v["name"]: v for v in spec["volumes"]}
    for m in container["volumeMounts"]:
        v = volumes[m["name"]]
        if "configMap" in v:
            source = policy_dir
        else:
            source = v["hostPath"]["path"]
            if v["hostPath"].get("type") == "Directory" and not os.path.isdir(source):
                pytest.skip("SKIPPED (environment): the DaemonSet mounts the host's %s, which "
                            "this host lacks" % source)
        options = ["ro" if m.get("readOnly") else "rw"]
        propagation = {"HostToContainer": "rslave", "Bidirectional": "rshared"}.get(
            m.get("mountPropagation"))
        if propagation:
            options.append(propagation)
        flags += ["-v", "%s:%s:%s" % (source, m["mountPath"], ",".join(options))]
    args = []
    for a in container["args"]:
        if a == "--kubernetes":
            continue  # no API server here: the cgroup selectors of the test policy place workloads
        args.append(a.replace("$(NODE_NAME)", NODE_NAME))
    args += ["--pin-dir=" + pin_dir, "--detach-on-exit", "--dedup-window-seconds=0",
             "--rate-limit=0", "-v"]
    return flags, args


# ---- the image ------------------------------------------------------------------------------

def ldd_closure(binary):
    """The files `binary` loads (resolved paths -> the paths the loader asks for)."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    paths = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts:
            target = parts[parts.index("=>") + 1]
            if target.startswith("/"):
                paths.append(target)
        elif parts and parts[0].startswith("/"):
            paths.append(parts[0])  # the dynamic loader
    return paths


def base_rootfs_tar(binary):
    """A root holding the shared libraries of the agent and of /bin/sh, /bin/sh itself, and the
    directories the runtime mounts over."""
    import io
    buf = io.BytesIO()
    files = sorted(set(ldd_closure(binary) + ldd_closure(SHELL)))
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs = {"bin", "dev", "etc", "proc", "sys", "tmp", "run", "usr", "usr/local",
                "usr/local/bin"}
        for f in files:
            d = os.path.dirname(f).lstrip("/")
            while d:
                dirs.add(d)
                d = os.path.dirname(d)
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        for f in files:
            tar.add(os.path.realpath(f), arcname=f.lstrip("/"))
        tar.add(os.path.realpath(SHELL), arcname="bin/sh")
    return buf.getvalue()


def register_caps_runtime(dockerd, workdir):
    runtimes = dict(dockerd._config.get("runtimes") or {})
    if CAPS_RUNTIME in (dockerd.api_get("/info").get("Runtimes") or {}):
        return
    wrapper = os.path.join(workdir, "runc-caps")
    with open(wrapper, "w") as f:
        f.write(CAPS_WRAPPER)
    os.chmod(wrapper, 0o755)
    runtimes[CAPS_RUNTIME] = {"path": wrapper}
    # The harness's own way of changing daemon.json (as for its privileged runtime).
    dockerd._reload_config({"runtimes": runtimes},
                           lambda info: CAPS_RUNTIME in (info.get("Runtimes") or {}),
                           "register the %s runtime" % CAPS_RUNTIME)


@pytest.fixture(scope="module")
def image(dockerd, guardrail_bin, source_dir, tmp_path_factory):
    """IMAGE, built from the Containerfile on a base imported from the ldd closure."""
    context = tmp_path_factory.mktemp("image-context")
    register_caps_runtime(dockerd, str(tmp_path_factory.mktemp("caps-runtime")))
    shutil.copy2(guardrail_bin, context / "guardrail")
    dockerd.docker("import", "-", BASE_IMAGE, input=base_rootfs_tar(guardrail_bin), timeout=120)
    env = dict(os.environ)
    os.environ["DOCKER_BUILDKIT"] = "0"  # the classic builder: local images only, no registry
    try:
        t0 = time.monotonic()
        dockerd.docker("build", "-f", os.path.join(source_dir, "deploy/daemonset/Containerfile"),
                       "--build-arg", "BASE=" + BASE_IMAGE, "--build-arg", "RUNTIME_PACKAGES=",
                       "-t", IMAGE, str(context), timeout=300)
        print("image built in %.1f s" % (time.monotonic() - t0))
    finally:
        os.environ.clear()
        os.environ.update(env)
    yield IMAGE
    dockerd.docker("rmi", "-f", IMAGE, BASE_IMAGE, check=False, timeout=60)
    dockerd.docker("image", "prune", "-f", check=False, timeout=60)


# ---- one agent container --------------------------------------------------------------------

class AgentContainer:
    def __init__(self, dockerd, image, spec, workdir, topo, caps, label):
        self.dockerd = dockerd
        self.name = "gr-itest-image-%s-%s" % (label, uuid.uuid4().hex[:8])
        self.policy_dir = os.path.join(workdir, label + "-policy")
        os.makedirs(self.policy_dir)
        with open(os.path.join(self.policy_dir, "policy.yaml"), "w") as f:
            f.write(policy_yaml(topo, name="itest-image"))
        self.pin_dir = "/sys/fs/bpf/gr-itest-image-%d-%s" % (os.getpid(), label)
        self.flags, self.args = run_args(spec, self.policy_dir, self.pin_dir, caps)
        self.id = None

    def start(self):
        res = self.dockerd.docker("run", "-d", "--name", self.name,
                                  "--label", "%s=image-test" % OWNER_LABEL,
                                  *self.flags, IMAGE, *self.args, check=False)
        if res.returncode != 0:
            raise AssertionError("docker run %s failed: %s" % (" ".join(self.flags),
                                                               res.stderr.strip()))
        self.id = res.stdout.strip().splitlines()[-1]
        return self

    def state(self):
        res = self.dockerd.docker("inspect", "--type", "container", self.id, check=False)
        return json.loads(res.stdout)[0]["State"] if res.returncode == 0 else {}

    def pid(self):
        return self.state().get("Pid", 0)

    def logs(self):
        res = self.dockerd.docker("logs", self.id, check=False, timeout=30)
        return res.stdout, res.stderr

    def log_text(self):
        out, err = self.logs()
        return out + err

    def alerts(self):
        out, _ = self.logs()
        return [json.loads(l) for l in out.splitlines() if l.startswith("{")]

    def health(self, path):
        """GET path on the container's metrics address, from inside its network namespace (the
        pod IP's namespace; the DaemonSet has no host network). (status, JSON) or None."""
        pid = self.pid()
        if not pid:
            return None
        code = ("import json,urllib.request,urllib.error\n"
                "try:\n"
                "  r=urllib.request.urlopen('http://127.0.0.1:9464%s',timeout=2)\n"
                "  print(json.dumps([r.status,r.read().decode()]))\n"
                "except urllib.error.HTTPError as e:\n"
                "  print(json.dumps([e.code,e.read().decode()]))\n") % path
        res = subprocess.run(["nsenter", "-t", str(pid), "-n", "/usr/bin/python3", "-c", code],
                             capture_output=True, text=True, timeout=10)
        if res.returncode != 0:
            return None
        status, body = json.loads(res.stdout)
        return status, json.loads(body) if body.startswith("{") else body

    def wait_started(self, timeout=60.0):
        """True once /readyz says ready; False when the container exited first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if not state.get("Running"):
                return False
            answer = self.health("/readyz")
            if answer and answer[0] == 200:
                return True
            time.sleep(0.2)
        raise AssertionError("the agent container neither became ready nor exited in %.0fs:\n%s"
                             % (timeout, self.log_text()[-6000:]))

    def remove(self, binary):
        if self.id:
            self.dockerd.docker("stop", "-t", "10", self.id, check=False, timeout=30)
            self.dockerd.docker("rm", "-f", self.id, check=False, timeout=30)
        if os.path.exists(self.pin_dir):
            subprocess.run([binary, "uninstall", "--pin-dir", self.pin_dir],
                           capture_output=True, timeout=30)
            shutil.rmtree(self.pin_dir, ignore_errors=True)


@pytest.fixture
def containers(dockerd, guardrail_bin):
    made = []
    yield made
    for c in made:
        c.remove(guardrail_bin)


def connect_result(topo, dest):
    res = topo.connect("agent-a", dest[0], dest[1], timeout=2.0)
    if res["result"] == "ok" or res.get("errno") == "ECONNREFUSED":
        return "allow"
    return res.get("errno") or res["result"]


def enforcement_failures(topo, agent):
    """What of the harness policy the agent in the container does not enforce ([] = all)."""
    failures = []
    if connect_result(topo, DENIED) != "EPERM":
        failures.append("a connect to %s:%d the policy denies was not refused" % DENIED)
    else:
        ok = wait_until(lambda: any(a.get("kind") == "net_connect" and a.get("dst") == DENIED[0]
                                    and a.get("dport") == DENIED[1] for a in agent.alerts()),
                        10, interval=0.1)
        if not ok:
            failures.append("the refused connect to %s:%d was not alerted in the container's "
                            "log" % DENIED)
    if connect_result(topo, ALLOWED) != "allow":
        failures.append("the egress allowlist's %s:%d was refused" % ALLOWED)
    orchestrator = (topo["orchestrator"].ip, 8080)
    if connect_result(topo, orchestrator) != "allow":
        failures.append("the flow to the orchestrator (%s:%d, known by the address read from its "
                        "network namespace) was refused" % orchestrator)
    return failures


def start_agent(dockerd, image, source_dir, tmp_path, topo, containers, caps, label):
    c = AgentContainer(dockerd, image, pod_spec(source_dir), str(tmp_path), topo, caps, label)
    containers.append(c)
    return c.start()


# ---- the tests ------------------------------------------------------------------------------

def test_the_listed_capabilities_are_grantable_here(source_dir, dockerd):
    missing = set(host_missing_capabilities())
    listed = {"CAP_" + c for c in listed_capabilities(source_dir)}
    assert not listed & missing, (
        "the DaemonSet adds %s, which this host's bounding set lacks: the container cannot "
        "start here" % sorted(listed & missing))


def test_image_enforces_with_the_daemonsets_security_context(dockerd, image, source_dir,
                                                             tmp_path, topo, containers):
    caps = listed_capabilities(source_dir)
    agent = start_agent(dockerd, image, source_dir, tmp_path, topo, containers, caps, "all")
    assert agent.wait_started(), "the agent exited:\n" + agent.log_text()[-6000:]
    status, ready = agent.health("/readyz")
    assert status == 200 and ready["status"] == "ready", ready
    assert ready["policy"] == "itest-image" and ready["generation"] >= 1, ready
    status, live = agent.health("/healthz")
    assert status == 200 and live["status"] == "ok", live
    failures = enforcement_failures(topo, agent)
    assert not failures, "with %s: %s\n%s" % (caps, failures, agent.log_text()[-6000:])
    # The image holds nothing the agent writes to: the root filesystem is read-only and the
    # agent never needed a writable path but bpffs.
    assert os.path.isdir(agent.pin_dir), "nothing was pinned at " + agent.pin_dir
    print("image: enforcing with capabilities %s, read-only root, %s" % (
        ", ".join(caps), " ".join(agent.flags)))


# The capabilities as this checkout's manifest lists them (the tests read it again from
# --guardrail-source, the same tree when run as ctest does).
LISTED = listed_capabilities(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.mark.parametrize("removed", LISTED)
def test_one_capability_fewer_is_not_enough(dockerd, image, source_dir, tmp_path, topo,
                                            containers, removed):
    caps = listed_capabilities(source_dir)
    assert removed in caps, "the manifest changed under the test: %s" % caps
    fewer = [c for c in caps if c != removed]
    agent = start_agent(dockerd, image, source_dir, tmp_path, topo, containers, fewer,
                        "no-" + removed.lower().replace("_", "-"))
    if not agent.wait_started():
        log = agent.log_text()
        assert "CAP_" + removed in log, (
            "without CAP_%s the agent exited without naming the capability:\n%s"
            % (removed, log[-4000:]))
        line = next(l for l in log.splitlines() if "CAP_" + removed in l)
        print("without CAP_%s: the agent refuses to start: %s" % (removed, line.strip()))
        return
    failures = enforcement_failures(topo, agent)
    refused = [l.strip() for l in agent.log_text().splitlines()
               if "Permission denied" in l or "Operation not permitted" in l]
    print("without CAP_%s the kernel refused: %s" % (removed, refused[:3]))
    assert failures, ("CAP_%s is not needed: the agent enforces everything without it; drop it "
                      "from deploy/daemonset/daemonset.yaml" % removed)
    print("without CAP_%s: the agent starts but %s" % (removed, "; ".join(failures)))
