"""deploy/daemonset without a cluster (no root; also `ctest -L unit`, test kubernetes_manifests):

- the generated files (policy.yaml, prometheusrule.yaml) are what generate.py makes from their
  sources, and a drift is caught;
- `kubectl kustomize deploy/daemonset` builds, into exactly the objects the issue asks for, with
  the policy ConfigMap holding profiles/default.yaml and named as the DaemonSet mounts it;
- the ClusterRole reads pods, services, namespaces and endpointslices, nothing else;
- the DaemonSet has what the agent's deployment needs (tolerations, probes, the downward API's
  node name, the securityContext and read-only host mounts);
- every manifest and the kustomize output validate offline against the Kubernetes API schema
  (npm kubernetes-models; ServiceMonitor and PrometheusRule with
  @kubernetes-models/prometheus-operator), and the validator refuses a broken object.
"""
import json
import os
import shutil
import subprocess

import pytest

yaml = pytest.importorskip("yaml", reason="SKIPPED (environment): python3-yaml is not installed")

pytestmark = pytest.mark.no_root

HERE = os.path.dirname(os.path.abspath(__file__))
VALIDATOR_DIR = os.path.join(HERE, "manifests")
KINDS = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap",
         "DaemonSet", "Service", "ServiceMonitor", "PrometheusRule"}


@pytest.fixture(scope="module")
def deploy_dir(source_dir):
    return os.path.join(source_dir, "deploy", "daemonset")


def kustomize(path):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("SKIPPED (environment): kubectl not found; scripts/setup.sh installs Debian's "
                    "kubernetes-client")
    res = subprocess.run([kubectl, "kustomize", path], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, "kubectl kustomize %s failed: %s" % (path, res.stderr)
    return [d for d in yaml.safe_load_all(res.stdout) if d]


@pytest.fixture(scope="module")
def built(deploy_dir):
    return kustomize(deploy_dir)


def one(objects, kind):
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def manifest_files(deploy_dir):
    return sorted(f for f in os.listdir(deploy_dir)
                  if f.endswith(".yaml") and f not in ("kustomization.yaml", "policy.yaml"))


# ---- generated files ------------------------------------------------------------------------

def run_generate(directory, *args):
    return subprocess.run(["/usr/bin/python3", os.path.join(directory, "generate.py"), *args],
                          capture_output=True, text=True, timeout=30)


def test_generated_files_match_their_sources(deploy_dir):
    res = run_generate(deploy_dir, "--check")
    assert res.returncode == 0, res.stderr


def test_a_drift_from_the_sources_is_caught(source_dir, tmp_path):
    # A copy of the three places generate.py reads and writes, with one source edited.
    for rel in ("deploy/daemonset", "deploy/prometheus", "profiles"):
        shutil.copytree(os.path.join(source_dir, rel), tmp_path / rel)
    copy = str(tmp_path / "deploy" / "daemonset")
    assert run_generate(copy, "--check").returncode == 0
    rules = tmp_path / "deploy" / "prometheus" / "guardrail.rules.yml"
    rules.write_text(rules.read_text().replace("for: 10m", "for: 11m", 1))
    res = run_generate(copy, "--check")
    assert res.returncode == 1 and "prometheusrule.yaml" in res.stderr, res.stderr
    assert "policy.yaml" not in res.stderr.replace("prometheusrule.yaml", ""), res.stderr
    assert run_generate(copy).returncode == 0  # writing it brings them back in line
    assert run_generate(copy, "--check").returncode == 0


def test_the_prometheus_rule_holds_the_rules_file(deploy_dir, source_dir):
    with open(os.path.join(deploy_dir, "prometheusrule.yaml")) as f:
        rule = yaml.safe_load(f)
    with open(os.path.join(source_dir, "deploy", "prometheus", "guardrail.rules.yml")) as f:
        rules = yaml.safe_load(f)
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"] == rules
    assert rule["spec"]["groups"][0]["rules"], "no rules"


# ---- kustomize ------------------------------------------------------------------------------

def test_kustomize_builds_the_objects(built, source_dir):
    assert {o["kind"] for o in built} == KINDS, sorted(o["kind"] for o in built)
    assert len(built) == len(KINDS), [o["kind"] for o in built]
    for o in built:
        if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert o["metadata"]["namespace"] == "guardrail-system", o["metadata"]
    cm = one(built, "ConfigMap")
    with open(os.path.join(source_dir, "profiles", "default.yaml")) as f:
        assert cm["data"] == {"policy.yaml": f.read()}, "the ConfigMap is not the default profile"
    ds = one(built, "DaemonSet")
    volumes = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    # No hash suffix: an edit updates this ConfigMap in place, and the agents reload it.
    assert volumes["policy"]["configMap"]["name"] == cm["metadata"]["name"] == "guardrail-policy"
    binding = one(built, "ClusterRoleBinding")
    sa = one(built, "ServiceAccount")
    assert binding["roleRef"]["name"] == one(built, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": "guardrail-system"}]
    assert ds["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]


def test_the_cluster_role_only_reads_what_discovery_needs(built):
    rules = one(built, "ClusterRole")["rules"]
    granted = {(g, r, v) for rule in rules for g in rule["apiGroups"]
               for r in rule["resources"] for v in rule["verbs"]}
    want = {(g, r, v) for g, r in (("", "pods"), ("", "services"), ("", "namespaces"),
                                   ("discovery.k8s.io", "endpointslices"))
            for v in ("get", "list", "watch")}
    assert granted == want, sorted(granted ^ want)
    assert all(set(rule) <= {"apiGroups", "resources", "verbs"} for rule in rules), rules


def test_the_daemonset_runs_the_agent_on_every_node(built):
    ds = one(built, "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["priorityClassName"] == "system-node-critical"
    assert not pod.get("hostNetwork")
    assert pod["hostPID"] is True
    (c,) = pod["containers"]
    assert "--kubernetes" in c["args"] and "--node-name=$(NODE_NAME)" in c["args"], c["args"]
    assert {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in c[
        "env"]
    (port,) = c["ports"]
    assert "--metrics-address=0.0.0.0:%d" % port["containerPort"] in c["args"], c["args"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    svc = one(built, "Service")
    assert svc["spec"]["ports"][0]["targetPort"] == port["name"]
    assert svc["spec"]["selector"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    sm = one(built, "ServiceMonitor")
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()


def test_the_daemonsets_security_context_is_least_privilege(built):
    pod = one(built, "DaemonSet")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["runAsUser"] == 0 and sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False and not sc.get("privileged")
    assert sc["capabilities"]["drop"] == ["ALL"]
    # What test_image.py measured; a change there must change this too.
    assert sc["capabilities"]["add"] == ["NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"], sc
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for path in ("/sys/fs/cgroup", "/sys/kernel/btf", "/etc/guardrail"):
        assert mounts[path].get("readOnly") is True, mounts[path]
    assert not mounts["/sys/fs/bpf"].get("readOnly"), "pinning writes to bpffs"
    assert all("subPath" not in m for m in c["volumeMounts"]), "a subPath mount is never updated"
    host = {volumes[m["name"]]["hostPath"]["path"] for m in c["volumeMounts"]
            if "hostPath" in volumes[m["name"]]}
    assert host == {"/sys/fs/bpf", "/sys/fs/cgroup", "/sys/kernel/btf"}


def test_the_policy_in_the_config_map_checks(guardrail_bin, deploy_dir):
    res = subprocess.run([guardrail_bin, "policy", "check", os.path.join(deploy_dir,
                                                                         "policy.yaml")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


# ---- schema ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def validator():
    """Runs validate.js (kubernetes-models) on a list of objects -> {(kind, name): errors}."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("SKIPPED (environment): Node.js not found; scripts/setup.sh installs it")
    if not os.path.isdir(os.path.join(VALIDATOR_DIR, "node_modules", "kubernetes-models")):
        npm = shutil.which("npm")
        res = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                             cwd=VALIDATOR_DIR, capture_output=True, text=True,
                             timeout=300) if npm else None
        if res is None or res.returncode != 0:
            pytest.skip("SKIPPED (environment): cannot install kubernetes-models from the npm "
                        "registry (%s); the manifests were not validated against the API schema"
                        % ((res.stderr.strip().splitlines() or ["?"])[-1] if res else "no npm"))

    def run(objects):
        res = subprocess.run([node, os.path.join(VALIDATOR_DIR, "validate.js")],
                             input=json.dumps(objects), capture_output=True, text=True,
                             timeout=60, cwd=VALIDATOR_DIR)
        assert res.returncode == 0, res.stderr
        return {(r["kind"], r["name"]): r["errors"] for r in json.loads(res.stdout)}
    return run


def test_every_manifest_validates_against_the_api_schema(validator, deploy_dir):
    objects = []
    for name in manifest_files(deploy_dir):
        with open(os.path.join(deploy_dir, name)) as f:
            objects += [d for d in yaml.safe_load_all(f) if d]
    assert {o["kind"] for o in objects} == KINDS - {"ConfigMap"}
    results = validator(objects)
    assert len(results) == len(objects)
    assert all(not e for e in results.values()), {k: e for k, e in results.items() if e}


def test_the_kustomize_output_validates_against_the_api_schema(validator, built):
    results = validator(built)
    assert len(results) == len(built)
    assert all(not e for e in results.values()), {k: e for k, e in results.items() if e}


def test_the_validator_refuses_broken_objects(validator, built):
    ds = json.loads(json.dumps(one(built, "DaemonSet")))
    del ds["spec"]["selector"]
    ds["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "9464"
    sm = json.loads(json.dumps(one(built, "ServiceMonitor")))
    sm["spec"]["endpoints"] = "metrics"
    results = validator([ds, sm, {"apiVersion": "v9", "kind": "Nothing", "metadata": {}}])
    errors = " ".join(results[("DaemonSet", "guardrail")])
    assert "selector" in errors and "containerPort" in errors, errors
    assert results[("ServiceMonitor", "guardrail")], results
    assert results[("Nothing", "")] == ["no schema for v9 Nothing"], results
