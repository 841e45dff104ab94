#!/usr/bin/env python3
"""A small Kubernetes API server for tests: pods, services, endpointslices and namespaces over
HTTPS with its own CA, list and watch as the real one does them.

    fake_kube_apiserver.py --dir DIR --ready DIR/ready.json [--token T ...]

At start it makes a CA, a server certificate (127.0.0.1, ::1, localhost), a client certificate
and an unrelated second CA in DIR with the openssl CLI, serves HTTPS on a loopback port and a
plain-HTTP control API on another, writes {"https_port", "control_port", "ca", "other_ca",
"client_cert", "client_key", "pid"} to the ready file and runs until SIGTERM.

The API side: GET /api/v1/{pods,services,namespaces}, /api/v1/namespaces/NS/{pods,services},
/apis/discovery.k8s.io/v1/endpointslices (and .../namespaces/NS/endpointslices).
  list:  ?limit=N&continue=T (a consistent snapshot per list), fieldSelector (spec.nodeName,
         metadata.namespace, metadata.name; = == !=), labelSelector (= == !=, bare key exists).
  watch: ?watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=N, chunked JSON
         lines; events after RV from the history, then live ones; a BOOKMARK every
         --bookmark-interval seconds; an ERROR event with code 410 (or HTTP 410, see /compact)
         when RV is older than the compacted history. Objects that start or stop matching the
         selectors come as ADDED / DELETED, as the real server sends them.
  auth:  Authorization: Bearer <one of the accepted tokens>, or a client certificate signed by
         the CA; 401 otherwise.

The control side (JSON; POST unless noted):
  /upsert {"object": {...}} or {"objects": [...]} -> {"resourceVersion": "N"} (the last)
  /delete {"kind": K, "namespace": NS, "name": N}  -> {"resourceVersion": "N"} (404 if absent)
  /compact {"http_410": false}   forget the history: a watch from an older RV gets 410
  /drop_watches                  cut every open watch connection mid-stream -> {"dropped": n}
  /pause_watches {"paused": b}   new watches get 503 while paused (to make a gap)
  /tokens {"tokens": [...]}      the accepted bearer tokens
  GET /counters                  {"lists": {res: n}, "list_pages": {...}, "watches": {...},
                                  "unauthorized": n, "open_watches": n, "resource_version": N}
"""
import argparse
import json
import os
import queue
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = {
    "Pod": ("pods", "v1"),
    "Service": ("services", "v1"),
    "Namespace": ("namespaces", "v1"),
    "EndpointSlice": ("endpointslices", "discovery.k8s.io/v1"),
}
RESOURCES = {res: (kind, api) for kind, (res, api) in KINDS.items()}
NAMESPACED = {"pods", "services", "endpointslices"}


def make_certs(directory):
    """CA, server and client certificates (EC P-256) and an unrelated CA, with openssl."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, cwd=directory,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def ca(name, cn):
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={cn}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def leaf(name, cn, ext):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}")
        with open(os.path.join(directory, f"{name}.ext"), "w") as f:
            f.write(ext)
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")

    ca("ca", "fake-kube-ca")
    ca("other-ca", "unrelated-ca")
    leaf("server", "kube-apiserver",
         "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
         "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    leaf("client", "system:node:test",
         "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
         "extendedKeyUsage=clientAuth\n")
    return {name: os.path.join(directory, name)
            for name in ("ca.crt", "other-ca.crt", "server.crt", "server.key", "client.crt",
                         "client.key")}


def key_of(obj):
    meta = obj.get("metadata", {})
    return (meta.get("namespace", ""), meta.get("name", ""))


def parse_selector(text):
    """[(key, op, value)] from "a=b,c!=d,e"; op is "=", "!=" or "exists"."""
    terms = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        if "!=" in part:
            k, v = part.split("!=", 1)
            terms.append((k.strip(), "!=", v.strip()))
        elif "==" in part:
            k, v = part.split("==", 1)
            terms.append((k.strip(), "=", v.strip()))
        elif "=" in part:
            k, v = part.split("=", 1)
            terms.append((k.strip(), "=", v.strip()))
        else:
            terms.append((part, "exists", None))
    return terms


def field_value(obj, field):
    value = obj
    for part in field.split("."):
        value = value.get(part, {}) if isinstance(value, dict) else {}
    return value if isinstance(value, str) else ""


class Filter:
    def __init__(self, namespace, fields, labels):
        self.namespace = namespace
        self.fields = parse_selector(fields)
        self.labels = parse_selector(labels)

    def __call__(self, obj):
        if obj is None:
            return False
        if self.namespace and obj.get("metadata", {}).get("namespace") != self.namespace:
            return False
        for k, op, v in self.fields:
            actual = field_value(obj, k)
            if (op == "=" and actual != v) or (op == "!=" and actual == v):
                return False
        labels = obj.get("metadata", {}).get("labels") or {}
        for k, op, v in self.labels:
            if op == "exists" and k not in labels:
                return False
            if op == "=" and labels.get(k) != v:
                return False
            if op == "!=" and labels.get(k) == v:
                return False
        return True


class Watcher:
    def __init__(self, resource, match):
        self.resource = resource
        self.match = match
        self.events = queue.Queue()


class Store:
    """Every object, a global resourceVersion as etcd keeps it, and the event history."""

    def __init__(self, tokens):
        self.lock = threading.Lock()
        self.rv = 100
        self.objects = {res: {} for res in RESOURCES}
        self.history = []        # (rv, resource, type, obj, previous)
        self.compacted = 0       # a watch from an RV below this gets 410
        self.http_410 = False
        self.paused = False
        self.watchers = []
        self.snapshots = {}      # continue token -> remaining items, list RV
        self.tokens = set(tokens)
        self.counters = {"lists": {}, "list_pages": {}, "watches": {}, "unauthorized": 0}

    def count(self, name, resource):
        with self.lock:
            self.counters[name][resource] = self.counters[name].get(resource, 0) + 1

    def _publish(self, resource, type_, obj, previous):
        self.history.append((self.rv, resource, type_, obj, previous))
        for w in self.watchers:
            if w.resource == resource:
                w.events.put(("event", self.rv, type_, obj, previous))

    def upsert(self, obj):
        kind = obj.get("kind")
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        resource, api = KINDS[kind]
        obj = json.loads(json.dumps(obj))
        obj.setdefault("apiVersion", api)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            raise ValueError("metadata.name is missing")
        if resource in NAMESPACED and not meta.get("namespace"):
            raise ValueError("metadata.namespace is missing")
        with self.lock:
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            previous = self.objects[resource].get(key_of(obj))
            meta.setdefault("uid", (previous or {}).get("metadata", {}).get("uid")
                            or f"uid-{self.rv}")
            meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            self.objects[resource][key_of(obj)] = obj
            self._publish(resource, "MODIFIED" if previous else "ADDED", obj, previous)
            return self.rv

    def delete(self, kind, namespace, name):
        resource = KINDS[kind][0]
        with self.lock:
            previous = self.objects[resource].pop((namespace or "", name), None)
            if previous is None:
                return None
            self.rv += 1
            obj = json.loads(json.dumps(previous))
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._publish(resource, "DELETED", obj, previous)
            return self.rv

    def compact(self, http_410):
        with self.lock:
            self.compacted = self.rv
            self.history = []
            self.http_410 = bool(http_410)
            self.snapshots = {}

    def drop_watches(self):
        with self.lock:
            for w in self.watchers:
                w.events.put(("drop",))
            return len(self.watchers)


def watch_events(type_, obj, previous, match):
    """The event a watcher with this filter sees, or None (filtered watches turn a change in or
    out of the selection into ADDED or DELETED)."""
    if type_ == "ADDED":
        return "ADDED" if match(obj) else None
    if type_ == "DELETED":
        return "DELETED" if match(previous) or match(obj) else None
    was, now = match(previous), match(obj)
    if was and now:
        return "MODIFIED"
    if now:
        return "ADDED"
    if was:
        return "DELETED"
    return None


def status_body(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def send_json(handler, code, body):
    data = json.dumps(body).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def route(path):
    """(resource, namespace) of an API path, or None."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        rest = parts[2:]
        group = ("pods", "services", "namespaces")
    elif parts[:3] == ["apis", "discovery.k8s.io", "v1"]:
        rest = parts[3:]
        group = ("endpointslices",)
    else:
        return None
    if len(rest) == 1 and rest[0] in group:
        return rest[0], ""
    if len(rest) == 3 and rest[0] == "namespaces" and rest[2] in group and rest[2] in NAMESPACED:
        return rest[2], rest[1]
    return None


def make_api_handler(store, args):
    class Api(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            if args.verbose:
                sys.stderr.write("api: " + fmt % a + "\n")

        def send_json(self, code, body):
            send_json(self, code, body)

        def authorized(self):
            header = self.headers.get("Authorization", "")
            if header.startswith("Bearer ") and header[7:] in store.tokens:
                return True
            try:
                if self.connection.getpeercert():
                    return True
            except (AttributeError, ValueError):
                pass
            with store.lock:
                store.counters["unauthorized"] += 1
            return False

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
            if not self.authorized():
                self.send_json(401, status_body(401, "Unauthorized", "Unauthorized"))
                return
            target = route(url.path)
            if target is None:
                self.send_json(404, status_body(404, "NotFound", f"no resource at {url.path}"))
                return
            resource, namespace = target
            match = Filter(namespace, q.get("fieldSelector"), q.get("labelSelector"))
            if q.get("watch") in ("1", "true"):
                self.watch(resource, match, q)
            else:
                self.list(resource, match, q)

        def list(self, resource, match, q):
            limit = int(q.get("limit") or 0)
            token = q.get("continue")
            with store.lock:
                if token:
                    snapshot = store.snapshots.pop(token, None)
                else:
                    snapshot = ([o for _, o in sorted(store.objects[resource].items()) if match(o)],
                                store.rv)
            if snapshot is None:
                self.send_json(410, status_body(410, "Expired",
                                                "the continue token is expired: list again"))
                return
            items, rv = snapshot
            store.count("list_pages", resource)
            if not token:
                store.count("lists", resource)
            meta = {"resourceVersion": str(rv)}
            if limit and len(items) > limit:
                page, rest = items[:limit], items[limit:]
                next_token = f"c{time.monotonic_ns()}-{len(rest)}"
                with store.lock:
                    store.snapshots[next_token] = (rest, rv)
                meta["continue"] = next_token
                meta["remainingItemCount"] = len(rest)
            else:
                page = items
            kind, api = RESOURCES[resource]
            page = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page]
            self.send_json(200, {"kind": kind + "List", "apiVersion": api, "metadata": meta,
                                 "items": page})

        def chunk(self, obj):
            data = (json.dumps(obj) + "\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def watch(self, resource, match, q):
            try:
                since = int(q.get("resourceVersion") or 0)
            except ValueError:
                since = 0
            timeout = float(q.get("timeoutSeconds") or 1800)
            bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
            w = Watcher(resource, match)
            with store.lock:
                paused = store.paused
                gone = since and since < store.compacted
                http_410 = store.http_410
                if not paused and not gone:
                    backlog = [e for e in store.history if e[0] > since and e[1] == resource]
                    store.watchers.append(w)
                    version = max(since, store.rv)
            if paused:
                self.send_json(503, status_body(503, "ServiceUnavailable", "watches are paused"))
                return
            store.count("watches", resource)
            if gone and http_410:
                self.send_json(410, status_body(410, "Gone", f"too old resource version: {since}"))
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                if gone:
                    self.chunk({"type": "ERROR", "object": status_body(
                        410, "Expired", f"too old resource version: {since} ({store.compacted})")})
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.stream(w, backlog, version, timeout, bookmarks)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                self.close_connection = True
            finally:
                with store.lock:
                    if w in store.watchers:
                        store.watchers.remove(w)

        def stream(self, w, backlog, version, timeout, bookmarks):
            for rv, _, type_, obj, previous in backlog:
                seen = watch_events(type_, obj, previous, w.match)
                if seen:
                    self.chunk({"type": seen, "object": obj})
            deadline = time.monotonic() + timeout
            next_bookmark = time.monotonic() + args.bookmark_interval
            while True:
                now = time.monotonic()
                if now >= deadline:
                    self.wfile.write(b"0\r\n\r\n")  # a clean end, as at timeoutSeconds
                    self.wfile.flush()
                    return
                try:
                    item = w.events.get(timeout=min(deadline, next_bookmark) - now)
                except queue.Empty:
                    if bookmarks and time.monotonic() >= next_bookmark:
                        kind, api = RESOURCES[w.resource]
                        with store.lock:
                            version = store.rv
                        self.chunk({"type": "BOOKMARK", "object": {
                            "kind": kind, "apiVersion": api,
                            "metadata": {"resourceVersion": str(version)}}})
                        next_bookmark = time.monotonic() + args.bookmark_interval
                    continue
                if item[0] == "drop":
                    # Cut mid-stream, without the last chunk: what a dying API server or a load
                    # balancer that drops the connection looks like to the client.
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                _, rv, type_, obj, previous = item
                seen = watch_events(type_, obj, previous, w.match)
                if seen:
                    self.chunk({"type": seen, "object": obj})

    return Api


def make_control_handler(store):
    class Control(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def reply(self, code, body):
            send_json(self, code, body)

        def do_GET(self):
            if self.path != "/counters":
                self.reply(404, {"error": f"no {self.path}"})
                return
            with store.lock:
                body = json.loads(json.dumps(store.counters))
                body["open_watches"] = len(store.watchers)
                body["resource_version"] = store.rv
            self.reply(200, body)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError as e:
                self.reply(400, {"error": f"not JSON: {e}"})
                return
            try:
                if self.path == "/upsert":
                    rv = 0
                    for obj in body.get("objects") or [body["object"]]:
                        rv = store.upsert(obj)
                    self.reply(200, {"resourceVersion": str(rv)})
                elif self.path == "/delete":
                    rv = store.delete(body["kind"], body.get("namespace", ""), body["name"])
                    if rv is None:
                        self.reply(404, {"error": "no such object"})
                    else:
                        self.reply(200, {"resourceVersion": str(rv)})
                elif self.path == "/compact":
                    store.compact(body.get("http_410", False))
                    self.reply(200, {"compacted": store.compacted})
                elif self.path == "/drop_watches":
                    self.reply(200, {"dropped": store.drop_watches()})
                elif self.path == "/pause_watches":
                    with store.lock:
                        store.paused = bool(body.get("paused", True))
                    self.reply(200, {"paused": store.paused})
                elif self.path == "/tokens":
                    with store.lock:
                        store.tokens = set(body.get("tokens", []))
                    self.reply(200, {"tokens": sorted(store.tokens)})
                else:
                    self.reply(404, {"error": f"no {self.path}"})
            except (KeyError, ValueError, TypeError) as e:
                self.reply(400, {"error": str(e)})

    return Control


class TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    verbose = False

    def handle_error(self, request, client_address):
        # A client that refuses our certificate (the wrong-CA test) or hangs up mid-handshake
        # is expected; its traceback is noise unless asked for.
        if self.verbose:
            super().handle_error(request, client_address)

    def __init__(self, address, handler, context, family):
        self.address_family = family
        self.context = context
        super().__init__(address, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # The handshake runs on the connection's thread (at its first read), so one slow client
        # does not hold up the accept loop.
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), addr


class PlainServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="where the certificates go")
    parser.add_argument("--ready", required=True, help="the ready file to write")
    parser.add_argument("--listen", default="127.0.0.1", help="127.0.0.1 or ::1")
    parser.add_argument("--token", action="append", default=[], help="an accepted bearer token")
    parser.add_argument("--bookmark-interval", type=float, default=2.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    certs = make_certs(args.dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs["server.crt"], certs["server.key"])
    context.load_verify_locations(certs["ca.crt"])
    context.verify_mode = ssl.CERT_OPTIONAL  # a client certificate authenticates like a token

    store = Store(args.token)
    family = socket.AF_INET6 if ":" in args.listen else socket.AF_INET
    api = TlsServer((args.listen, 0), make_api_handler(store, args), context, family)
    api.verbose = args.verbose
    control = PlainServer(("127.0.0.1", 0), make_control_handler(store))
    for server in (api, control):
        threading.Thread(target=server.serve_forever, daemon=True).start()

    ready = {"https_port": api.server_address[1], "control_port": control.server_address[1],
             "ca": certs["ca.crt"], "other_ca": certs["other-ca.crt"],
             "client_cert": certs["client.crt"], "client_key": certs["client.key"],
             "pid": os.getpid()}
    tmp = args.ready + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ready, f)
    os.rename(tmp, args.ready)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    parent = os.getppid()
    # Also ends when the test that started it is gone (killed, crashed): no orphan server.
    while not stop.wait(0.5) and os.getppid() == parent:
        pass
    api.server_close()
    control.server_close()
    # Open watch threads are daemons blocked on their queues: leave without joining them.
    os._exit(0)


if __name__ == "__main__":
    main()
