"""Kubernetes nodes: two agents on this machine acting as two nodes of one cluster, sharing one
API server (the tests' own, over HTTPS with its own CA), each with its own kubelet cgroup tree
(node A with the systemd driver's names, node B with cgroupfs's) and its own pods, each pod in
its own network namespace on one bridge.

    node A  /gr-k8s-<pid>/node-a/kubepods.slice/...   agent-a1, agent-a2 (agents), coredns (kube-system)
    node B  /gr-k8s-<pid>/node-b/kubepods/...         agent-b1 (agents), orchestrator-0 (control)
    world   198.18.50.200, no cgroup

The policy places pods by namespace and labels: namespace `agents` is the agent sandbox,
`control` pods labelled app=orchestrator are the control plane. Agents may reach the control
plane on TCP 8080, the control plane may reach agents. Services: `control/orchestrator`
(ClusterIP 198.19.50.10:80 -> targetPort "http" = 8080) and `agents/agents` (198.19.50.11:80 ->
the agent pods' 8080). kube-proxy's DNAT is played by a DNAT rule in each client pod's namespace
(the connect is judged before it, by the Service's backends).

Each test asserts what the kernel did (the connect's result) and what the agents reported.
"""
import json
import os
import subprocess
import time
import uuid

import pytest

import harness.agent
from harness.agent import Agent, assert_alert, shutdown
from harness.kube_api import FakeKubeApi, make_endpoint_slice, make_pod, make_service
from harness.topology import Node, Topology, run, wait_until

ORCH_SVC = "198.19.50.10"
AGENTS_SVC = "198.19.50.11"
WORLD_IP = "198.18.50.200"

POLICY = """\
apiVersion: guardrail.io/v1alpha1
kind: GuardrailPolicy
metadata: {name: k8s}
spec:
  mode: enforce
  defaultZone: agent-sandbox
  zones:
    - name: agent-sandbox
      selector: {namespaces: [agents]}
    - name: control-plane
      selector:
        namespaces: [control]
        matchExpressions:
          - {key: app, operator: In, values: [orchestrator]}
  flows:
    - {from: {zone: agent-sandbox}, to: {zone: control-plane}, protocol: tcp, ports: [8080]}
    - {from: {zone: control-plane}, to: {zone: agent-sandbox}, protocol: tcp}
"""


class Pod:
    """A pod: its API object's fields, and the node of the topology that plays it."""

    def __init__(self, node, namespace, name, ip, labels=None, qos="besteffort"):
        self.node = node          # "a" or "b"
        self.namespace = namespace
        self.name = name
        self.ip = ip
        self.labels = labels or {}
        self.qos = qos
        self.uid = str(uuid.uuid4())
        self.container_id = uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex digits
        self.key = name

    def obj(self, node_names):
        return make_pod(self.namespace, self.name, self.uid, node_names[self.node], self.labels,
                        [self.ip])


class Cluster(Topology):
    """Pods as nodes of the harness's topology: each pod's netns on one bridge and its container
    cgroup in its node's kubepods tree, laid out as that node's cgroup driver names it."""

    def __init__(self, cgroup_root):
        super().__init__(cgroup_root)
        self.prefix = "gk%d" % (self.id % 100000)
        self.switch_ns = self.prefix + "-sw"
        self.bridge = self.prefix + "br"
        self.base_rel = "/gr-k8s-%d" % self.id
        self.kubelet_root = {"a": self.base_rel + "/node-a", "b": self.base_rel + "/node-b"}
        self.node_names = {"a": "node-a-%d" % self.id, "b": "node-b-%d" % self.id}
        self.pods = {p.key: p for p in [
            Pod("a", "agents", "agent-a1", "198.18.50.3", {"app": "agent"}),
            Pod("a", "agents", "agent-a2", "198.18.50.4", {"app": "agent"}, qos="burstable"),
            Pod("a", "kube-system", "coredns", "198.18.50.9", {"k8s-app": "kube-dns"},
                qos="guaranteed"),
            Pod("b", "agents", "agent-b1", "198.18.50.13", {"app": "agent"}),
            Pod("b", "control", "orchestrator-0", "198.18.50.15", {"app": "orchestrator"},
                qos="burstable"),
            # made later by a test: its cgroup and netns exist, the API server has no pod yet
            Pod("a", "control", "orchestrator-1", "198.18.50.6", {"app": "orchestrator"}),
        ]}
        self.nodes = {key: Node(key, "p%d" % i, [p.ip], self.container_cgroup(p))
                      for i, (key, p) in enumerate(self.pods.items())}
        self.nodes["world"] = Node("world", "w", [WORLD_IP], None)

    def pod_cgroup(self, pod):
        root = self.kubelet_root[pod.node]
        if pod.node == "a":  # systemd driver, containerd
            uid = pod.uid.replace("-", "_")
            if pod.qos == "guaranteed":
                return "%s/kubepods.slice/kubepods-pod%s.slice" % (root, uid)
            return "%s/kubepods.slice/kubepods-%s.slice/kubepods-%s-pod%s.slice" % (
                root, pod.qos, pod.qos, uid)
        qos = "" if pod.qos == "guaranteed" else "/" + pod.qos
        return "%s/kubepods%s/pod%s" % (root, qos, pod.uid)

    def container_cgroup(self, pod):
        if pod.node == "a":
            return self.pod_cgroup(pod) + "/cri-containerd-%s.scope" % pod.container_id
        return self.pod_cgroup(pod) + "/" + pod.container_id

    def _setup(self):
        # The kubelets' trees exist before the agents start (the kubelet makes kubepods first).
        self._mkdir_cgroup(self.kubelet_root["a"] + "/kubepods.slice")
        self._mkdir_cgroup(self.kubelet_root["b"] + "/kubepods")
        super()._setup()
        for node in self.nodes.values():
            run(["ip", "-n", node.netns, "route", "add", "198.19.0.0/16", "dev", "eth0"])

    def dnat(self, client, service_ip, port, backend_ip, backend_port):
        """kube-proxy's rewrite of a Service address, in the client pod's namespace."""
        run(["ip", "netns", "exec", self.nodes[client].netns, "iptables", "-t", "nat", "-A",
             "OUTPUT", "-d", service_ip, "-p", "tcp", "--dport", str(port), "-j", "DNAT",
             "--to-destination", "%s:%d" % (backend_ip, backend_port)])


def node_agent(binary, workdir, cluster, api, node):
    kubeconfig = os.path.join(workdir, "kubeconfig-%s" % node)
    api.write_kubeconfig(kubeconfig)
    return Agent(binary, workdir, POLICY, label="node-" + node, extra_args=[
        "--no-docker", "--kubernetes", "--kubeconfig", kubeconfig,
        "--node-name", cluster.node_names[node],
        "--kubelet-cgroup-root", cluster.kubelet_root[node],
        "--rescan-seconds", "0.5"]).start()


class Env:
    def __init__(self, binary, workdir, cgroup_root):
        self.binary = binary
        self.workdir = workdir
        self.cluster = Cluster(cgroup_root)
        self.api = FakeKubeApi()
        self.agents = {}

    def setup(self):
        try:
            harness.agent.require_flags(self.binary, "--kubernetes", "--kubelet-cgroup-root")
            self.cluster.setup()
            self.api.start(os.path.join(self.workdir, "api"))
            c = self.cluster
            for pod in c.pods.values():
                if pod.name != "orchestrator-1":
                    self.api.upsert(pod.obj(c.node_names))
            orch, a2, b1 = c.pods["orchestrator-0"], c.pods["agent-a2"], c.pods["agent-b1"]
            self.api.upsert(make_service("control", "orchestrator", [ORCH_SVC],
                                         [("http", "TCP", 80, "http")]))
            self.api.upsert(make_endpoint_slice(
                "control", "orchestrator-x1", "orchestrator",
                [{"ip": orch.ip, "pod": (orch.name, orch.uid)}], [("http", "TCP", 8080)]))
            self.api.upsert(make_service("agents", "agents", [AGENTS_SVC],
                                         [("http", "TCP", 80, 8080)]))
            self.api.upsert(make_endpoint_slice(
                "agents", "agents-x1", "agents",
                [{"ip": a2.ip, "pod": (a2.name, a2.uid)}, {"ip": b1.ip, "pod": (b1.name, b1.uid)}],
                [("http", "TCP", 8080)]))
            for client in ("agent-a1", "agent-b1"):
                c.dnat(client, ORCH_SVC, 80, orch.ip, 8080)
                c.dnat(client, AGENTS_SVC, 80, a2.ip, 8080)
            for node in ("a", "b"):
                self.agents[node] = node_agent(self.binary, self.workdir, c, self.api, node)
            for node in ("a", "b"):
                self.wait_identified(node)
        except BaseException:
            self.teardown()
            raise
        return self

    def wait_identified(self, node, timeout=20):
        """Until the agent's log names each of its pods by namespace/name."""
        agent = self.agents[node]
        names = [p.namespace + "/" + p.name for p in self.cluster.pods.values()
                 if p.node == node and p.namespace != "kube-system" and p.name != "orchestrator-1"]
        ok = wait_until(lambda: all(n in agent.logs(limit=10**7) for n in names), timeout)
        assert ok, "node %s never identified %s:\n%s" % (node, names, agent.logs())

    def teardown(self):
        errors = []
        for agent in self.agents.values():
            try:
                shutdown(agent)
            except Exception as exc:  # keep cleaning up
                errors.append("agent: %s" % exc)
        try:
            self.api.stop()
        except Exception as exc:
            errors.append("api server: %s" % exc)
        try:
            self.cluster.teardown()
        except Exception as exc:
            errors.append(str(exc))
        if errors:
            raise RuntimeError("; ".join(errors))


@pytest.fixture(scope="module")
def env(requirements, guardrail_bin, tmp_path_factory):
    from harness.topology import cgroup2_mount
    e = Env(guardrail_bin, str(tmp_path_factory.mktemp("k8s")), cgroup2_mount())
    yield e.setup()
    e.teardown()


@pytest.fixture
def marks(env):
    for node, agent in env.agents.items():
        assert agent.running(), "node %s's agent exited:\n%s" % (node, agent.logs())
    return {node: agent.mark() for node, agent in env.agents.items()}


def assert_eperm(res):
    assert res["result"] == "error" and res["errno"] == "EPERM", res


def assert_ok(res, echo):
    assert res["result"] == "ok" and res.get("echo") == echo, res


# ---- the boundary across nodes --------------------------------------------------------------

def allowed(env, marks, server, port, client, dst, dport=None):
    """A connect from `client` to dst:dport reaches `server` (listening on `port`), and neither
    node reports anything."""
    c = env.cluster
    with c.tcp_server(server, port):
        assert_ok(c.connect(client, dst, dport or port, echo=client), client)
    for node, agent in env.agents.items():
        agent.wait_alerts(marks[node], 0)


def refused(env, marks, server, port, client, dst, node, dport=None):
    """A connect from `client` to dst:dport fails with EPERM, `server` (listening on `port`)
    accepts nothing, `node`'s agent reports exactly one alert (returned) and the other none."""
    c = env.cluster
    with c.tcp_server(server, port) as listener:
        assert_eperm(c.connect(client, dst, dport or port))
        (alert,) = env.agents[node].wait_alerts(marks[node], 1)
        assert listener.json_lines() == [], "%s accepted a connection" % server
    for other, agent in env.agents.items():
        if other != node:
            agent.wait_alerts(marks[other], 0)
    return alert


def test_an_agent_reaches_the_orchestrator_on_another_node_by_pod_ip(env, marks):
    allowed(env, marks, "orchestrator-0", 8080, "agent-a1", env.cluster.pods["orchestrator-0"].ip)


def test_an_agent_reaches_the_orchestrator_by_its_cluster_ip(env, marks):
    """Judged at connect() as the Service's backends on their port (80 -> http = 8080)."""
    allowed(env, marks, "orchestrator-0", 8080, "agent-a1", ORCH_SVC, dport=80)
    allowed(env, marks, "orchestrator-0", 8080, "agent-b1", ORCH_SVC, dport=80)


def test_an_agent_never_reaches_another_agent_on_its_node(env, marks):
    a2 = env.cluster.pods["agent-a2"]
    alert = refused(env, marks, "agent-a2", 8080, "agent-a1", a2.ip, "a")
    assert_alert(alert, kind="net_connect", verdict="blocked", dst=a2.ip, dport=8080,
                 workload="agent-sandbox:agents/agent-a1", zone="agent-sandbox",
                 peer_workload="agent-sandbox:agents/agent-a2", peer_zone="agent-sandbox")


def test_an_agent_never_reaches_an_agent_on_another_node(env, marks):
    b1 = env.cluster.pods["agent-b1"]
    alert = refused(env, marks, "agent-b1", 8080, "agent-a1", b1.ip, "a")
    assert_alert(alert, kind="net_connect", verdict="blocked", dst=b1.ip, dport=8080,
                 peer_workload="agent-sandbox:agents/agent-b1", peer_zone="agent-sandbox")


def test_an_agent_never_reaches_agents_through_their_cluster_ip(env, marks):
    """The agents' Service has backends of two workloads: judged as the default zone (fail
    closed), which no rule lets an agent reach."""
    alert = refused(env, marks, "agent-a2", 8080, "agent-a1", AGENTS_SVC, "a", dport=80)
    assert_alert(alert, kind="net_connect", verdict="blocked", dst=AGENTS_SVC, dport=80,
                 peer_zone="agent-sandbox")


def test_the_other_node_enforces_for_its_own_agents(env, marks):
    a1 = env.cluster.pods["agent-a1"]
    alert = refused(env, marks, "agent-a1", 8080, "agent-b1", a1.ip, "b")
    assert_alert(alert, kind="net_connect", verdict="blocked",
                 workload="agent-sandbox:agents/agent-b1",
                 peer_workload="agent-sandbox:agents/agent-a1")


def test_the_orchestrator_on_another_node_reaches_an_agent(env, marks):
    allowed(env, marks, "agent-a1", 9000, "orchestrator-0", env.cluster.pods["agent-a1"].ip)


# ---- kube-system and identification ---------------------------------------------------------

def test_a_kube_system_pod_is_under_no_policy(env, marks):
    c = env.cluster
    with c.tcp_server("world", 9999, in_cgroup=False):
        assert_ok(c.connect("coredns", WORLD_IP, 9999, echo="dns"), "dns")
        assert_eperm(c.connect("agent-a1", WORLD_IP, 9999))
    (alert,) = env.agents["a"].wait_alerts(marks["a"], 1)
    assert_alert(alert, kind="net_connect", workload="agent-sandbox:agents/agent-a1")


def test_a_pod_is_the_default_zone_until_its_metadata_arrives(env, marks):
    """orchestrator-1's container runs before the API server knows the pod: it is judged as the
    default zone (an agent: it may not reach another agent) from its first instruction. Once the
    pod is known (namespace control, app=orchestrator) it is the control plane and may."""
    c = env.cluster
    pod = c.pods["orchestrator-1"]
    a1 = c.pods["agent-a1"]
    with c.tcp_server("agent-a1", 9000) as server:
        assert_eperm(c.connect("orchestrator-1", a1.ip, 9000))
        (alert,) = env.agents["a"].wait_alerts(marks["a"], 1)
        assert alert["zone"] == "agent-sandbox", alert
        start = time.monotonic()
        env.api.upsert(pod.obj(c.node_names))
        ok = wait_until(lambda: c.connect("orchestrator-1", a1.ip, 9000, echo="x",
                                          timeout=1.0)["result"] == "ok", 20, interval=0.05)
        took = time.monotonic() - start
        assert ok, "orchestrator-1 never became the control plane:\n" + env.agents["a"].logs()
        print("identified by its metadata within %.3f s (the consistency window)" % took)
        assert server.json_lines(), "the allowed connect never arrived"
    env.api.delete("Pod", pod.namespace, pod.name)


def test_a_removed_pods_address_leaves_before_its_new_owner_talks(env, marks):
    """agent-b1's pod goes; a new orchestrator pod on node B gets its address. Node A must judge
    the address as the orchestrator now, and never again as the agent."""
    c = env.cluster
    b1 = c.pods["agent-b1"]
    env.api.delete("Pod", b1.namespace, b1.name)
    reused = make_pod("control", "orchestrator-2", str(uuid.uuid4()), c.node_names["b"],
                      {"app": "orchestrator"}, [b1.ip])
    env.api.upsert(reused)
    try:
        # b1's netns still answers on the address; its process is now the "new owner".
        with c.tcp_server("agent-b1", 8080, in_cgroup=False):
            ok = wait_until(lambda: c.connect("agent-a1", b1.ip, 8080, echo="r",
                                              timeout=1.0)["result"] == "ok", 20, interval=0.05)
            assert ok, "node A never learnt the address's new owner:\n" + env.agents["a"].logs()
    finally:
        env.api.delete("Pod", "control", "orchestrator-2")
        env.api.upsert(b1.obj(c.node_names))
