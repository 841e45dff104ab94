"""A fake Kubernetes API server for the integration tests (tests/tools/fake_kube_apiserver.py):
HTTPS with its own CA on a loopback port, pods / services / endpointslices / namespaces with
list and watch, and a control port to change what it serves. Stopped by its own pid only.

    api = FakeKubeApi(tokens=["agent-token"])
    api.start(tmp_path)
    api.upsert(make_pod("shop", "web-1", "uid-1", "node-a", {"app": "web"}, ["10.244.1.5"]))
    api.write_kubeconfig(tmp_path / "kubeconfig", token="agent-token")
    ...
    api.stop()
"""
import base64
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SERVER_SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "fake_kube_apiserver.py"


class FakeKubeApi:
    """The fake API server as a child process; every method but start() needs it running."""

    def __init__(self, tokens=("test-token",), bookmark_interval=2.0, listen="127.0.0.1"):
        self.tokens = list(tokens)
        self.bookmark_interval = bookmark_interval
        self.listen = listen
        self.proc = None
        self.info = None
        self.log_path = None

    # Lifecycle ---------------------------------------------------------------------------------

    def start(self, tmpdir, timeout=30.0):
        if not shutil.which("openssl"):
            pytest.skip("SKIPPED (environment): the openssl CLI is not installed; the fake "
                        "Kubernetes API server makes its certificates with it")
        workdir = Path(tmpdir) / "fake-kube-api"
        workdir.mkdir(parents=True, exist_ok=True)
        ready = workdir / "ready.json"
        if ready.exists():
            ready.unlink()
        argv = [sys.executable, str(SERVER_SCRIPT), "--dir", str(workdir / "pki"),
                "--ready", str(ready), "--listen", self.listen,
                "--bookmark-interval", str(self.bookmark_interval)]
        for token in self.tokens:
            argv += ["--token", token]
        self.log_path = workdir / "server.log"
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError("fake Kubernetes API server exited at start (%d): %s"
                                   % (self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("fake Kubernetes API server wrote no ready file in %.0f s: %s"
                                   % (timeout, self.log()))
            time.sleep(0.05)
        self.info = json.loads(ready.read_text())
        return self

    def stop(self, grace=5.0):
        """SIGTERM to the server's pid (never by name), SIGKILL after `grace` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log(self):
        try:
            return Path(self.log_path).read_text()[-4000:]
        except (OSError, TypeError):
            return ""

    # Where it is -------------------------------------------------------------------------------

    @property
    def server(self):
        host = "[%s]" % self.listen if ":" in self.listen else self.listen
        return "https://%s:%d" % (host, self.info["https_port"])

    @property
    def port(self):
        return self.info["https_port"]

    @property
    def ca(self):
        return self.info["ca"]

    @property
    def other_ca(self):
        """A CA that did not sign the server's certificate (for the wrong-CA case)."""
        return self.info["other_ca"]

    def write_kubeconfig(self, path, token=None, token_file=None, client_cert=False,
                         inline_ca=False, context="fake"):
        """A kubeconfig for the agent: this server and CA, with a token, a token file or the
        client certificate the server trusts."""
        cluster = {"server": self.server}
        if inline_ca:
            cluster["certificate-authority-data"] = base64.b64encode(
                Path(self.ca).read_bytes()).decode()
        else:
            cluster["certificate-authority"] = self.ca
        user = {}
        if token is not None:
            user["token"] = token
        if token_file is not None:
            user["tokenFile"] = str(token_file)
        if client_cert:
            user["client-certificate"] = self.info["client_cert"]
            user["client-key"] = self.info["client_key"]
        if not user:
            user["token"] = self.tokens[0]
        config = {"apiVersion": "v1", "kind": "Config", "current-context": context,
                  "clusters": [{"name": context, "cluster": cluster}],
                  "users": [{"name": context, "user": user}],
                  "contexts": [{"name": context,
                                "context": {"cluster": context, "user": context}}]}
        # JSON is YAML: no YAML library needed here.
        Path(path).write_text(json.dumps(config, indent=2) + "\n")
        return str(path)

    def write_service_account(self, directory, token=None):
        """An in-cluster service account directory (token, ca.crt, namespace) and the
        environment an agent in a pod would see."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "token").write_text(token if token is not None else self.tokens[0])
        shutil.copyfile(self.ca, directory / "ca.crt")
        (directory / "namespace").write_text("guardrail-system")
        return {"KUBERNETES_SERVICE_HOST": self.listen,
                "KUBERNETES_SERVICE_PORT": str(self.port)}

    # Control ---------------------------------------------------------------------------------

    def _control(self, method, path, body=None):
        url = "http://127.0.0.1:%d%s" % (self.info["control_port"], path)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError("fake Kubernetes API %s %s: HTTP %d: %s"
                               % (method, path, e.code, e.read().decode(errors="replace")))

    def upsert(self, obj):
        """Creates or replaces an object (its kind says which resource); its resourceVersion."""
        return self._control("POST", "/upsert", {"object": obj})["resourceVersion"]

    def upsert_many(self, objects):
        return self._control("POST", "/upsert", {"objects": list(objects)})["resourceVersion"]

    def delete(self, kind, namespace, name):
        return self._control("POST", "/delete",
                             {"kind": kind, "namespace": namespace, "name": name})

    def compact(self, http_410=False):
        """Forgets the history: the next watch from an older resourceVersion gets 410 Gone (as
        an ERROR event, or as the HTTP status with http_410)."""
        return self._control("POST", "/compact", {"http_410": http_410})

    def drop_watches(self):
        """Cuts every open watch connection mid-stream; how many there were."""
        return self._control("POST", "/drop_watches", {})["dropped"]

    def pause_watches(self, paused=True):
        """While paused, new watches get 503 (to make a gap the clients cannot see into)."""
        return self._control("POST", "/pause_watches", {"paused": paused})

    def set_tokens(self, tokens):
        self.tokens = list(tokens)
        return self._control("POST", "/tokens", {"tokens": self.tokens})

    def counters(self):
        """{"lists": {resource: n}, "list_pages": {...}, "watches": {...}, "unauthorized": n,
        "open_watches": n, "resource_version": n}"""
        return self._control("GET", "/counters")


# Objects -------------------------------------------------------------------------------------

def make_pod(namespace, name, uid, node, labels=None, ips=(), host_network=False,
             phase="Running", containers=(), runtime="containerd"):
    """A pod as the API server shows it; containers: [(name, container_id)]."""
    ips = list(ips)
    status = {"phase": phase, "podIPs": [{"ip": ip} for ip in ips]}
    if ips:
        status["podIP"] = ips[0]
    if containers:
        status["containerStatuses"] = [
            {"name": cname, "ready": True, "containerID": "%s://%s" % (runtime, cid)}
            for cname, cid in containers]
    spec = {"nodeName": node, "containers": [{"name": c[0]} for c in containers]}
    if host_network:
        spec["hostNetwork"] = True
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"namespace": namespace, "name": name, "uid": uid,
                         "labels": dict(labels or {})},
            "spec": spec, "status": status}


def make_service(namespace, name, cluster_ips, ports, selector=None, type_="ClusterIP"):
    """ports: [(port, target_port)] or [(name, protocol, port, target_port)]; target_port an
    int or the name of a container port."""
    cluster_ips = list(cluster_ips)
    spec_ports = []
    for p in ports:
        if len(p) == 2:
            spec_ports.append({"port": p[0], "targetPort": p[1], "protocol": "TCP"})
        else:
            spec_ports.append({"name": p[0], "protocol": p[1], "port": p[2], "targetPort": p[3]})
    spec = {"type": type_, "clusterIP": cluster_ips[0] if cluster_ips else "None",
            "clusterIPs": cluster_ips or ["None"], "ports": spec_ports,
            "selector": dict(selector or {})}
    return {"kind": "Service", "apiVersion": "v1",
            "metadata": {"namespace": namespace, "name": name}, "spec": spec}


def make_endpoint_slice(namespace, name, service, endpoints, ports, address_type="IPv4"):
    """endpoints: [{"ip": ..., "pod": (name, uid), "ready": bool, "node": ...}] (pod, ready and
    node optional); ports: [(port,)] or [(name, protocol, port)]."""
    items = []
    for e in endpoints:
        item = {"addresses": [e["ip"]], "conditions": {"ready": e.get("ready", True)}}
        if e.get("node"):
            item["nodeName"] = e["node"]
        if e.get("pod"):
            pod_name, pod_uid = e["pod"]
            item["targetRef"] = {"kind": "Pod", "namespace": namespace, "name": pod_name,
                                 "uid": pod_uid}
        items.append(item)
    slice_ports = []
    for p in ports:
        if len(p) == 1:
            slice_ports.append({"port": p[0], "protocol": "TCP"})
        else:
            slice_ports.append({"name": p[0], "protocol": p[1], "port": p[2]})
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"namespace": namespace, "name": name,
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": address_type, "endpoints": items, "ports": slice_ports}


def make_namespace(name, labels=None):
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": name, "labels": dict(labels or {})}}
