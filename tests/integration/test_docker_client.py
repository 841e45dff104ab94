"""The private dockerd fixture (harness.docker) against a real docker.io: busybox containers with
labels, their v2 cgroups, their bridge addresses in 198.18.0.0/24, and the Engine API answers the
agent's Docker client reads (/version, /containers/json, /containers/{id}/json, /events).

The agent-side Docker tests (guardrail following containers through this daemon) build on this
fixture; these tests make sure the fixture itself is sound.
"""
import ipaddress
import json
import os
import socket
import time

from harness.docker import (SANDBOX_LABELS, SOCKET, busybox_rootfs_tar,  # noqa: F401
                       docker_containers, dockerd)

BRIDGE_NET = ipaddress.ip_network("198.18.0.0/24")


def test_engine_answers_on_its_private_socket(dockerd):
    version = dockerd.api_get("/version")
    assert version["ApiVersion"] == "1.41", version
    assert dockerd.socket == SOCKET and SOCKET != "/var/run/docker.sock"
    info = dockerd.api_get("/info")
    assert info["CgroupDriver"] == "cgroupfs", info["CgroupDriver"]
    assert "gr-busybox:latest" in {t for img in dockerd.api_get("/images/json")
                                   for t in (img.get("RepoTags") or [])}
    print("dockerd start %.2f s, busybox import %.2f s" % (dockerd.start_seconds,
                                                           dockerd.import_seconds))


def test_labelled_container_has_its_cgroup_and_a_bridge_address(docker_containers):
    labels = dict(SANDBOX_LABELS, app="probe")
    c = docker_containers.run(labels=labels)
    print("container start %.2f s" % c.run_seconds)
    assert len(c.id) == 64
    assert c.labels["guardrail.io/zone"] == "agent-sandbox"
    assert c.labels["app"] == "probe"
    assert c.pid > 0

    # cgroup v2: <cgroup2>/docker/<full id>, and the init process is in it.
    assert os.path.isdir(c.cgroup_dir), c.cgroup_dir
    with open("/proc/%d/cgroup" % c.pid) as f:
        assert "0::/docker/%s\n" % c.id in f.read()
    with open(os.path.join(c.cgroup_dir, "cgroup.procs")) as f:
        assert str(c.pid) in f.read().split()

    # One address on the test bridge, none elsewhere.
    assert c.ip is not None and ipaddress.ip_address(c.ip) in BRIDGE_NET, c.addresses
    assert ipaddress.ip_address(c.ip) != ipaddress.ip_address("198.18.0.1")

    # The inspect document carries what docker::container_from_inspect reads.
    doc = dockerd_api(docker_containers, "/containers/%s/json" % c.id)
    assert doc["Name"] == "/" + c.name
    assert doc["Config"]["Image"] == "gr-busybox:latest"
    assert doc["Config"]["Labels"]["guardrail.io/zone"] == "agent-sandbox"
    assert doc["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == c.ip
    assert doc["State"]["Status"] == "running" and doc["State"]["Pid"] == c.pid
    listed = {e["Id"] for e in dockerd_api(docker_containers, "/containers/json")}
    assert c.id in listed


def test_bridge_traffic_host_and_container_to_container(docker_containers):
    a = docker_containers.run(labels=SANDBOX_LABELS)
    b = docker_containers.run(labels=SANDBOX_LABELS)
    assert a.ip != b.ip
    # Only to containers this test created, bounded in count and time.
    res = a.exec("ping", "-c", "1", "-W", "2", b.ip, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    b.exec("sh", "-c", "nc -l -p 8080 -e echo hello >/dev/null 2>&1 &")
    deadline = time.monotonic() + 5
    got = b""
    while time.monotonic() < deadline and not got:
        try:
            with socket.create_connection((b.ip, 8080), timeout=1) as s:
                got = s.recv(64)
        except OSError:
            time.sleep(0.1)
    assert got.strip() == b"hello"


def test_cleanup_removes_containers_and_their_cgroups(docker_containers):
    c = docker_containers.run()
    cgroup = c.cgroup_dir
    assert os.path.isdir(cgroup)
    docker_containers.cleanup()
    assert c.id not in {e["Id"] for e in dockerd_api(docker_containers, "/containers/json?all=1")}
    deadline = time.monotonic() + 5
    while os.path.isdir(cgroup) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.isdir(cgroup)


def test_events_stream_reports_container_start_and_die(docker_containers):
    """What docker::EventStream follows: newline-delimited JSON on GET /events."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(SOCKET)
    try:
        sock.sendall(b"GET /events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D HTTP/1.0\r\n"
                     b"Host: localhost\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(4096)
        assert buf.startswith(b"HTTP/1.0 200") or buf.startswith(b"HTTP/1.1 200"), buf
        buf = buf.split(b"\r\n\r\n", 1)[1]
        c = docker_containers.run(labels=SANDBOX_LABELS, cmd=("true",))
        events = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(e["Action"] == "die" for e in events):
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    events.append(json.loads(line))
            if not any(e["Action"] == "die" for e in events):
                buf += sock.recv(4096)
    finally:
        sock.close()
    mine = [e for e in events if e["Actor"]["ID"] == c.id]
    actions = [e["Action"] for e in mine]
    assert "start" in actions and "die" in actions, actions
    assert all(e["Type"] == "container" for e in events)
    start = next(e for e in mine if e["Action"] == "start")
    assert start["Actor"]["Attributes"]["guardrail.io/zone"] == "agent-sandbox"
    assert start["Actor"]["Attributes"]["name"] == c.name


def test_busybox_rootfs_has_the_applets():
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar())) as tar:
        names = set(tar.getnames())
    assert {"bin/busybox", "bin/sh", "bin/sleep", "bin/ping", "bin/nc"} <= names


def dockerd_api(daemon, path):
    return daemon.api_get(path)
