#!/usr/bin/python3
"""Tiny network client/server run by the integration tests inside a workload.

    netprobe.py [--netns PATH] [--cgroup DIR] COMMAND ...

The process first joins the cgroup (writes its pid to DIR/cgroup.procs), then enters the network
namespace (setns on PATH, e.g. /run/netns/NAME), and only then creates sockets, so every socket
belongs to that cgroup and namespace from its first instruction. Then it renames itself
"netprobe" (the alert's comm field) and runs COMMAND:

    connect HOST PORT [--echo TEXT] [--timeout S] [--count N] [--interval S] [--linger S]
                                                    TCP client, one JSON line per attempt (N
                                                    attempts, one socket each, S seconds apart;
                                                    then stays alive --linger seconds)
    sendto HOST PORT [--count N] [--sport P] [--payload TEXT]
                                                    unconnected UDP sendto(), one JSON line per send
    flood HOST PORT [--count N] [--seconds S]       unconnected UDP sendto() as fast as one process
                                                    can, at most N sends and S seconds; one JSON
                                                    line: attempts, ok, errors by errno name
    serve-tcp PORT                                  TCP echo server (one line per connection)
    listen-udp PORT                                 prints one JSON line per datagram received
    exec ARGV...                                    exec ARGV (e.g. a `sleep` that pins a workload)

Servers print "READY" once bound. Errors are reported by errno name (e.g. "EPERM"), never raised,
so the caller can assert on exactly what the kernel answered. Standard library only.
"""
import argparse
import errno
import json
import os
import socket
import sys
import time


def _errno_name(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else type(exc).__name__


def _emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def cmd_connect(args):
    for i in range(args.count):
        if i:
            time.sleep(args.interval)
        connect_once(args)
    time.sleep(args.linger)
    return 0


def connect_once(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(args.timeout)
    start = time.monotonic()
    try:
        sock.connect((args.host, args.port))
    except OSError as exc:  # includes socket.timeout
        name = "ETIMEDOUT" if isinstance(exc, socket.timeout) else _errno_name(exc)
        _emit({"result": "error", "errno": name, "elapsed": time.monotonic() - start,
               "pid": os.getpid()})
        return 0
    out = {"result": "ok", "elapsed": time.monotonic() - start,
           "local": list(sock.getsockname()), "pid": os.getpid()}
    if args.echo is not None:
        try:
            sock.sendall(args.echo.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            out["echo"] = data.decode(errors="replace").rstrip("\n")
        except OSError as exc:
            out["result"] = "echo-error"
            out["errno"] = _errno_name(exc) if not isinstance(exc, socket.timeout) else "ETIMEDOUT"
    sock.close()
    _emit(out)
    return 0


def cmd_sendto(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if args.sport:
        sock.bind(("0.0.0.0", args.sport))
    for i in range(args.count):
        payload = "%s-%d" % (args.payload, i)
        try:
            sent = sock.sendto(payload.encode(), (args.host, args.port))
            _emit({"result": "ok", "sent": sent, "payload": payload, "pid": os.getpid()})
        except OSError as exc:
            _emit({"result": "error", "errno": _errno_name(exc), "payload": payload,
                   "pid": os.getpid()})
        time.sleep(args.interval)
    sock.close()
    return 0


def cmd_flood(args):
    """The flood of refused sends for the ring buffer overflow test: bounded in count and time
    (the clock is read every 1024 sends to keep the loop tight)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload, dest, sendto = b"f", (args.host, args.port), sock.sendto
    errors = {}
    ok = attempts = 0
    start = time.monotonic()
    deadline = start + args.seconds
    while attempts < args.count:
        attempts += 1
        try:
            sendto(payload, dest)
            ok += 1
        except OSError as exc:
            name = _errno_name(exc)
            errors[name] = errors.get(name, 0) + 1
        if not attempts & 1023 and time.monotonic() >= deadline:
            break
    sock.close()
    _emit({"attempts": attempts, "ok": ok, "errors": errors,
           "elapsed": time.monotonic() - start, "pid": os.getpid()})
    return 0


def cmd_serve_tcp(args):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", args.port))
    srv.listen(16)
    print("READY", flush=True)
    while True:
        conn, peer = srv.accept()
        conn.settimeout(5)
        try:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            if data:
                conn.sendall(data)
            _emit({"accepted": list(peer), "data": data.decode(errors="replace").rstrip("\n")})
        except OSError as exc:
            _emit({"accepted": list(peer), "errno": _errno_name(exc)})
        finally:
            conn.close()


def cmd_listen_udp(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", args.port))
    print("READY", flush=True)
    while True:
        data, peer = sock.recvfrom(65535)
        _emit({"src": peer[0], "sport": peer[1], "payload": data.decode(errors="replace")})


CLONE_NEWNET = 0x40000000


def setns(fd, nstype):
    """os.setns exists from Python 3.12; Debian 12's 3.11 goes through libc."""
    if hasattr(os, "setns"):
        return os.setns(fd, nstype)
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns: " + os.strerror(err))
    return None


def enter(netns, cgroup):
    if cgroup:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    if netns:
        fd = os.open(netns, os.O_RDONLY)
        try:
            setns(fd, CLONE_NEWNET)
        finally:
            os.close(fd)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--netns")
    p.add_argument("--cgroup")
    sub = p.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("connect")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--echo")
    c.add_argument("--timeout", type=float, default=3.0)
    c.add_argument("--count", type=int, default=1)
    c.add_argument("--interval", type=float, default=0.0)
    c.add_argument("--linger", type=float, default=0.0,
                   help="seconds to stay alive after the last attempt (for /proc enrichment)")
    c.set_defaults(func=cmd_connect)

    fl = sub.add_parser("flood")
    fl.add_argument("host")
    fl.add_argument("port", type=int)
    fl.add_argument("--count", type=int, default=200000)
    fl.add_argument("--seconds", type=float, default=10.0)
    fl.set_defaults(func=cmd_flood)

    s = sub.add_parser("sendto")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--sport", type=int, default=0)
    s.add_argument("--payload", default="probe")
    s.add_argument("--interval", type=float, default=0.05)
    s.set_defaults(func=cmd_sendto)

    t = sub.add_parser("serve-tcp")
    t.add_argument("port", type=int)
    t.set_defaults(func=cmd_serve_tcp)

    u = sub.add_parser("listen-udp")
    u.add_argument("port", type=int)
    u.set_defaults(func=cmd_listen_udp)

    e = sub.add_parser("exec")
    e.add_argument("argv", nargs=argparse.REMAINDER)

    args = p.parse_args(argv)
    enter(args.netns, args.cgroup)
    if args.cmd == "exec":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        os.execvp(argv[0], argv)
    with open("/proc/self/comm", "w") as f:
        f.write("netprobe")
    return args.func(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
