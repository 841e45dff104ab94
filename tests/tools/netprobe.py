#!/usr/bin/python3
"""Tiny network client/server run by the integration tests inside a workload.

    netprobe.py [--netns PATH] [--cgroup DIR] COMMAND ...

The process first joins the cgroup (writes its pid to DIR/cgroup.procs), then enters the network
namespace (setns on PATH, e.g. /run/netns/NAME), and only then creates sockets, so every socket
belongs to that cgroup and namespace from its first instruction. Then it renames itself
"netprobe" (the alert's comm field) and runs COMMAND:

    connect HOST PORT [--echo TEXT] [--timeout S] [--count N] [--interval S] [--linger S]
            [--sport P]                             TCP client, one JSON line per attempt (N
                                                    attempts, one socket each, S seconds apart;
                                                    then stays alive --linger seconds); --sport
                                                    binds that source port first
    sendto HOST PORT [--count N] [--sport P] [--payload TEXT] [--wait-reply S]
                                                    unconnected UDP sendto(), one JSON line per
                                                    send (with --wait-reply: and the answer that
                                                    came back within S seconds, or null)
    ping HOST [--timeout S]                         one ICMP echo through a ping socket; the
                                                    netns must allow it (ping_group_range)
    flood HOST PORT [--count N] [--seconds S]       unconnected UDP sendto() as fast as one process
                                                    can, at most N sends and S seconds; one JSON
                                                    line: attempts, ok, errors by errno name
    session                                         sockets that outlive one attempt, driven by
                                                    commands on stdin, one JSON line per command:
                                                    `udp` (a new unconnected UDP socket),
                                                    `sendto HOST PORT`, `udp-connect HOST PORT`,
                                                    `send` (on the connected UDP socket),
                                                    `tcp HOST PORT` (connect, keep the socket),
                                                    `tcp-echo TEXT` (send it, read the echoed line
                                                    within 2 s), `join DIR` (move this process to
                                                    cgroup DIR: its sockets stay in theirs)
    serve-tcp PORT [--keep]                         TCP echo server (one line per connection;
                                                    --keep: every line until the client closes)
    listen-udp PORT [--echo]                        prints one JSON line per datagram received
                                                    (--echo: and sends it back)

HOST may be an IPv6 address (then the socket is AF_INET6); servers listen on both families.
    exec ARGV...                                    exec ARGV (e.g. a `sleep` that pins a workload)

Host-guard probes (one JSON line each: {"result": "ok"|"error", "errno": NAME, "pid": PID, ...}):

    raw-socket [--family inet|inet6] [--protocol N] socket(family, SOCK_RAW, N) (default ICMP)
    packet-socket [--type raw|dgram] [--protocol N] socket(AF_PACKET, type, N) (N as passed to
                                                    socket(), default htons(ETH_P_ALL))
    mount-tmpfs DIR [--keep]                        mount(2) a tmpfs on DIR, then unmount it
                                                    (--keep: leave it mounted)
    connect-unix PATH [--timeout S] [--chdir DIR] [--dgram]
                                                    AF_UNIX stream connect() ('@name': abstract;
                                                    --chdir first, for relative paths; --dgram:
                                                    one sendto() instead), reads the server's
                                                    greeting line
    serve-unix PATH [--dgram]                       AF_UNIX stream server: greets every client
                                                    with "hello", one JSON line per connection
    bpf-map-create                                  bpf(BPF_MAP_CREATE) of a 1-entry array map
    detach-and-connect CGROUP HOST PORT [--seconds S] [--bpftool PATH]
                                                    tampering: find the link of CGROUP's connect4
                                                    program (bpftool cgroup show + link show),
                                                    detach it (bpftool link detach), then UDP
                                                    connect() to HOST:PORT every ~1 ms for S
                                                    seconds; one JSON line: link and program ids,
                                                    detach time (CLOCK_BOOTTIME ns), and the
                                                    attempts that passed and were refused
    drop-caps-except CAPS -- COMMAND ...            keep only CAPS (comma-separated, e.g.
                                                    net_raw or CAP_NET_RAW,CAP_SYS_ADMIN, or
                                                    "none") in every capability set (bounding,
                                                    permitted, effective, inheritable, ambient),
                                                    then run COMMAND

With drop-caps-except the order changes: the network namespace is entered first (setns needs
CAP_SYS_ADMIN), then the capabilities are dropped, and only then is the cgroup joined (a root
process may write cgroup.procs without capabilities), so the dropping itself is never a
capability use of the workload: inside the cgroup the process can only ever pass a check for
CAPS.

Servers print "READY" once bound. Errors are reported by errno name (e.g. "EPERM"), never raised,
so the caller can assert on exactly what the kernel answered. Standard library only.
"""
import argparse
import errno
import json
import os
import socket
import sys
import threading
import time


def _errno_name(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else type(exc).__name__


def _emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _read_line(sock):
    """Bytes from sock up to and including a newline, or all it sent before closing."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def cmd_connect(args):
    for i in range(args.count):
        if i:
            time.sleep(args.interval)
        connect_once(args)
    time.sleep(args.linger)
    return 0


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bind_port(sock, family, port):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))


def connect_once(args):
    family = _family(args.host)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(args.timeout)
    if args.sport:
        _bind_port(sock, family, args.sport)
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
            data = _read_line(sock)
            out["echo"] = data.decode(errors="replace").rstrip("\n")
        except OSError as exc:
            out["result"] = "echo-error"
            out["errno"] = _errno_name(exc) if not isinstance(exc, socket.timeout) else "ETIMEDOUT"
    sock.close()
    _emit(out)
    return 0


def cmd_sendto(args):
    family = _family(args.host)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if args.sport:
        _bind_port(sock, family, args.sport)
    for i in range(args.count):
        payload = "%s-%d" % (args.payload, i)
        try:
            sent = sock.sendto(payload.encode(), (args.host, args.port))
            out = {"result": "ok", "sent": sent, "payload": payload, "pid": os.getpid()}
            if args.wait_reply:
                sock.settimeout(args.wait_reply)
                try:
                    out["reply"] = sock.recvfrom(65535)[0].decode(errors="replace")
                except OSError:  # includes socket.timeout
                    out["reply"] = None
            _emit(out)
        except OSError as exc:
            _emit({"result": "error", "errno": _errno_name(exc), "payload": payload,
                   "pid": os.getpid()})
        time.sleep(args.interval)
    sock.close()
    return 0


def cmd_session(args):
    """Commands on stdin against sockets kept between them (see the module docstring)."""
    udp = tcp = None
    _emit({"result": "ready", "pid": os.getpid()})
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd, rest = words[0], words[1:]
        try:
            if cmd == "udp":
                if udp:
                    udp.close()
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                out = {"result": "ok"}
            elif cmd == "sendto":
                out = {"result": "ok", "sent": udp.sendto(b"session", (rest[0], int(rest[1])))}
            elif cmd == "udp-connect":
                udp.connect((rest[0], int(rest[1])))
                out = {"result": "ok"}
            elif cmd == "send":
                out = {"result": "ok", "sent": udp.send(b"session")}
            elif cmd == "tcp":
                if tcp:
                    tcp.close()
                tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                tcp.settimeout(2.0)
                tcp.connect((rest[0], int(rest[1])))
                out = {"result": "ok"}
            elif cmd == "tcp-echo":
                tcp.sendall(rest[0].encode() + b"\n")
                out = {"result": "ok", "echo": _read_line(tcp).decode(errors="replace").rstrip()}
            elif cmd == "join":
                with open(os.path.join(rest[0], "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))
                out = {"result": "ok"}
            else:
                out = {"result": "error", "errno": "EINVAL", "error": "unknown command " + cmd}
        except OSError as exc:  # includes socket.timeout
            name = "ETIMEDOUT" if isinstance(exc, socket.timeout) else _errno_name(exc)
            out = {"result": "error", "errno": name}
        out["command"] = line.strip()
        _emit(out)
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


def cmd_connect_loop(args):
    """A forbidden connect() every --interval seconds for --seconds: the prober of the restart
    and upgrade tests. UDP connect() sends nothing, so only cgroup/connect4,6 decides. Reports
    every attempt that succeeded with its time (CLOCK_MONOTONIC ns, as the test reads it)."""
    family = _family(args.host)
    ok_at, errors, attempts = [], {}, 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        attempts += 1
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.connect((args.host, args.port))
            ok_at.append(time.monotonic_ns())
        except OSError as exc:
            name = _errno_name(exc)
            errors[name] = errors.get(name, 0) + 1
        finally:
            sock.close()
        time.sleep(args.interval)
    _emit({"attempts": attempts, "ok": len(ok_at), "ok_at": ok_at[:100], "errors": errors,
           "pid": os.getpid()})
    return 0


def _dual_stack(type_):
    """A socket on :: that also takes IPv4; an IPv4 one where the netns has no IPv6."""
    try:
        sock = socket.socket(socket.AF_INET6, type_)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        return sock, socket.AF_INET6
    except OSError:
        return socket.socket(socket.AF_INET, type_), socket.AF_INET


def _peer(addr):
    host = addr[0]
    return [host[7:] if host.startswith("::ffff:") else host, addr[1]]


def _echo_lines(conn, peer):
    """--keep: every line back until the client closes (one JSON line per line echoed)."""
    with conn:
        try:
            while True:
                data = _read_line(conn)
                if not data:
                    return
                conn.sendall(data)
                _emit({"accepted": list(peer), "data": data.decode(errors="replace").rstrip()})
        except OSError as exc:
            _emit({"accepted": list(peer), "errno": _errno_name(exc)})


def cmd_serve_tcp(args):
    srv, family = _dual_stack(socket.SOCK_STREAM)
    _bind_port(srv, family, args.port)
    srv.listen(16)
    print("READY", flush=True)
    while True:
        conn, peer = srv.accept()
        peer = _peer(peer)
        if args.keep:
            threading.Thread(target=_echo_lines, args=(conn, peer), daemon=True).start()
            continue
        conn.settimeout(5)
        try:
            data = _read_line(conn)
            if data:
                conn.sendall(data)
            _emit({"accepted": list(peer), "data": data.decode(errors="replace").rstrip("\n")})
        except OSError as exc:
            _emit({"accepted": list(peer), "errno": _errno_name(exc)})
        finally:
            conn.close()


def cmd_listen_udp(args):
    sock, family = _dual_stack(socket.SOCK_DGRAM)
    _bind_port(sock, family, args.port)
    print("READY", flush=True)
    while True:
        data, addr = sock.recvfrom(65535)
        src, sport = _peer(addr)
        out = {"src": src, "sport": sport, "payload": data.decode(errors="replace")}
        if args.echo:
            try:
                sock.sendto(data, addr)
                out["echoed"] = "ok"
            except OSError as exc:
                out["echoed"] = _errno_name(exc)
        _emit(out)


def cmd_ping(args):
    """One echo request through an unprivileged ICMP socket: the kernel fills in the id."""
    family = _family(args.host)
    proto = socket.IPPROTO_ICMPV6 if family == socket.AF_INET6 else socket.IPPROTO_ICMP
    request = bytes([128 if family == socket.AF_INET6 else 8, 0, 0, 0, 0, 0, 0, 1]) + b"probe"
    start = time.monotonic()
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM, proto)
        sock.settimeout(args.timeout)
        sock.sendto(request, (args.host, 0))
        reply = sock.recv(65535)
        _emit({"result": "ok", "type": reply[0], "elapsed": time.monotonic() - start,
               "pid": os.getpid()})
    except OSError as exc:
        name = "ETIMEDOUT" if isinstance(exc, socket.timeout) else _errno_name(exc)
        _emit({"result": "error", "errno": name, "pid": os.getpid()})
    return 0


# ---- host-guard probes ---------------------------------------------------------------------------

def _socket_result(family, type_, proto):
    try:
        sock = socket.socket(family, type_, proto)
    except OSError as exc:
        _emit({"result": "error", "errno": _errno_name(exc), "pid": os.getpid()})
        return 0
    sock.close()
    _emit({"result": "ok", "pid": os.getpid()})
    return 0


def cmd_raw_socket(args):
    family = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}[args.family]
    return _socket_result(family, socket.SOCK_RAW, args.protocol)


ETH_P_ALL = 0x0003


def cmd_packet_socket(args):
    proto = socket.htons(ETH_P_ALL) if args.protocol is None else args.protocol
    type_ = {"raw": socket.SOCK_RAW, "dgram": socket.SOCK_DGRAM}[args.type]
    return _socket_result(socket.AF_PACKET, type_, proto)


def _libc():
    import ctypes
    return ctypes.CDLL(None, use_errno=True)


def _oserror(name):
    import ctypes
    err = ctypes.get_errno()
    return OSError(err, "%s: %s" % (name, os.strerror(err)))


MNT_DETACH = 2


def cmd_mount_tmpfs(args):
    import ctypes
    libc = _libc()
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_char_p]
    out = {"pid": os.getpid()}
    if libc.mount(b"tmpfs", os.fsencode(args.dir), b"tmpfs", 0, b"size=1m") != 0:
        out.update(result="error", errno=_errno_name(_oserror("mount")))
        _emit(out)
        return 0
    out["result"] = "ok"
    if not args.keep:
        out["unmounted"] = libc.umount2(os.fsencode(args.dir), MNT_DETACH) == 0
    _emit(out)
    return 0


def _unix_address(path):
    """'@name' names an abstract socket (sun_path[0] == 0); anything else is a path as given."""
    return "\0" + path[1:] if path.startswith("@") else path


def cmd_connect_unix(args):
    if args.chdir:
        os.chdir(args.chdir)
    if args.dgram:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.sendto(b"ping\n", _unix_address(args.path))
        except OSError as exc:
            _emit({"result": "error", "errno": _errno_name(exc), "pid": os.getpid()})
            return 0
        finally:
            sock.close()
        _emit({"result": "ok", "greeting": "sent", "pid": os.getpid()})
        return 0
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(args.timeout)
    try:
        sock.connect(_unix_address(args.path))
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        name = "ETIMEDOUT" if isinstance(exc, socket.timeout) else _errno_name(exc)
        _emit({"result": "error", "errno": name, "pid": os.getpid()})
        return 0
    finally:
        sock.close()
    _emit({"result": "ok", "greeting": data.decode(errors="replace").rstrip("\n"),
           "pid": os.getpid()})
    return 0


def cmd_serve_unix(args):
    if args.dgram:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        srv.bind(_unix_address(args.path))
        print("READY", flush=True)
        while True:
            srv.recv(4096)
            _emit({"received": True})
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(_unix_address(args.path))
    srv.listen(16)
    print("READY", flush=True)
    while True:
        conn, _ = srv.accept()
        try:
            conn.sendall(b"hello\n")
            _emit({"accepted": True})
        except OSError as exc:
            _emit({"accepted": True, "errno": _errno_name(exc)})
        finally:
            conn.close()


NR_BPF = {"x86_64": 321, "aarch64": 280}
BPF_MAP_CREATE = 0
BPF_MAP_TYPE_ARRAY = 2


def cmd_bpf_map_create(args):
    import ctypes
    libc = _libc()
    attr = (ctypes.c_uint32 * 32)()  # union bpf_attr, zero-padded (128 bytes)
    attr[0], attr[1], attr[2], attr[3] = BPF_MAP_TYPE_ARRAY, 4, 4, 1  # type, key, value, entries
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(NR_BPF[os.uname().machine]), ctypes.c_long(BPF_MAP_CREATE),
                      ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
    if fd < 0:
        _emit({"result": "error", "errno": _errno_name(_oserror("bpf")), "pid": os.getpid()})
        return 0
    os.close(fd)
    _emit({"result": "ok", "pid": os.getpid()})
    return 0


# ---- capabilities ------------------------------------------------------------------------------

CAP_NAMES = [
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
    "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
    "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
    "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
    "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
    "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
]
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522


def parse_caps(text):
    """'net_raw,CAP_SYS_ADMIN' -> {13, 21}; 'none' or '' -> set()."""
    keep = set()
    for name in text.split(","):
        name = name.strip().lower()
        if not name or name == "none":
            continue
        if name.startswith("cap_"):
            name = name[4:]
        if name not in CAP_NAMES:
            raise SystemExit("netprobe: unknown capability %r" % name)
        keep.add(CAP_NAMES.index(name))
    return keep


def drop_caps_except(keep):
    """Leave exactly `keep` in the bounding, permitted, effective, inheritable and ambient sets
    of this process (and so of what it execs)."""
    import ctypes
    libc = _libc()
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except OSError:
        last = len(CAP_NAMES) - 1
    for cap in range(last + 1):
        if cap not in keep and libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise _oserror("prctl(PR_CAPBSET_DROP, %d)" % cap)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    mask = sum(1 << c for c in keep)
    data = (Data * 2)()
    for i in range(2):
        word = (mask >> (32 * i)) & 0xffffffff
        data[i].effective = data[i].permitted = data[i].inheritable = word
    header = Header(LINUX_CAPABILITY_VERSION_3, 0)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise _oserror("capset")
    if libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0:
        raise _oserror("prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    for cap in sorted(keep):
        if libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0:
            raise _oserror("prctl(PR_CAP_AMBIENT_RAISE, %d)" % cap)


def effective_caps():
    """CapEff of this process as a set of capability numbers."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                value = int(line.split()[1], 16)
                return {c for c in range(64) if value >> c & 1}
    return set()


def _bpftool_json(bpftool, *args):
    import subprocess
    out = subprocess.run([bpftool, "-j"] + list(args), check=True, stdout=subprocess.PIPE,
                         text=True, timeout=20).stdout.strip()
    return json.loads(out) if out else []


def cmd_detach_and_connect(args):
    """Everything runs from inside the workload (bpftool inherits the cgroup), as an attacker
    would: the kernel sees every bpf() call of it come from the workload."""
    import subprocess
    progs = [p for p in _bpftool_json(args.bpftool, "cgroup", "show", args.attach_cgroup)
             if p.get("attach_type") in ("cgroup_inet4_connect", "connect4")]
    if not progs:
        _emit({"result": "error", "errno": "no connect4 program on " + args.attach_cgroup})
        return 0
    prog_id = progs[0]["id"]
    cgroup_id = os.stat(args.attach_cgroup).st_ino
    links = [l for l in _bpftool_json(args.bpftool, "link", "show")
             if l.get("prog_id") == prog_id and l.get("cgroup_id", cgroup_id) == cgroup_id]
    if not links:
        _emit({"result": "error", "errno": "no link holds program %d" % prog_id})
        return 0
    link_id = links[0]["id"]
    res = subprocess.run([args.bpftool, "link", "detach", "id", str(link_id)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
    detached_ns = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    if res.returncode != 0:
        _emit({"result": "error", "errno": "bpftool link detach: " + res.stderr.strip(),
               "link_id": link_id, "prog_id": prog_id})
        return 0
    passed, refused = [], []  # CLOCK_BOOTTIME ns of each attempt
    other = {}
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.connect((args.host, args.port))
            passed.append(time.clock_gettime_ns(time.CLOCK_BOOTTIME))
        except OSError as exc:
            name = _errno_name(exc)
            if name == "EPERM":
                refused.append(time.clock_gettime_ns(time.CLOCK_BOOTTIME))
            else:
                other[name] = other.get(name, 0) + 1
        finally:
            sock.close()
        time.sleep(0.001)
    last_pass = passed[-1] if passed else 0
    _emit({"result": "ok", "pid": os.getpid(), "link_id": link_id, "prog_id": prog_id,
           "detached_ns": detached_ns, "passed": passed, "refused_count": len(refused),
           "first_refused_ns": refused[0] if refused else 0,
           "refused_again_ns": next((t for t in refused if t > last_pass), 0),
           "refused_after_pass": sum(1 for t in refused if t > last_pass), "other": other})
    return 0


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


def _arg(*names, **options):
    """One add_argument() call, as data."""
    return names, options


_HOST = _arg("host")
_PORT = _arg("port", type=int)
_REST = _arg("argv", nargs=argparse.REMAINDER)

# Every subcommand: its handler (None: main() handles it before the probe starts) and its
# arguments.
SUBCOMMANDS = {
    "connect": (cmd_connect, [
        _HOST, _PORT, _arg("--echo"), _arg("--timeout", type=float, default=3.0),
        _arg("--count", type=int, default=1), _arg("--interval", type=float, default=0.0),
        _arg("--linger", type=float, default=0.0,
             help="seconds to stay alive after the last attempt (for /proc enrichment)"),
        _arg("--sport", type=int, default=0)]),
    "connect-loop": (cmd_connect_loop, [_HOST, _PORT,
                                        _arg("--interval", type=float, default=0.01),
                                        _arg("--seconds", type=float, default=5.0)]),
    "flood": (cmd_flood, [_HOST, _PORT, _arg("--count", type=int, default=200000),
                          _arg("--seconds", type=float, default=10.0)]),
    "sendto": (cmd_sendto, [
        _HOST, _PORT, _arg("--count", type=int, default=1), _arg("--sport", type=int, default=0),
        _arg("--payload", default="probe"), _arg("--interval", type=float, default=0.05),
        _arg("--wait-reply", type=float, default=0.0)]),
    "ping": (cmd_ping, [_HOST, _arg("--timeout", type=float, default=2.0)]),
    "session": (cmd_session, []),
    "serve-tcp": (cmd_serve_tcp, [_PORT, _arg("--keep", action="store_true")]),
    "listen-udp": (cmd_listen_udp, [_PORT, _arg("--echo", action="store_true")]),
    "exec": (None, [_REST]),
    "raw-socket": (cmd_raw_socket, [
        _arg("--family", choices=["inet", "inet6"], default="inet"),
        _arg("--protocol", type=int, default=socket.IPPROTO_ICMP)]),
    "packet-socket": (cmd_packet_socket, [_arg("--type", choices=["raw", "dgram"], default="raw"),
                                          _arg("--protocol", type=int, default=None)]),
    "mount-tmpfs": (cmd_mount_tmpfs, [
        _arg("dir"), _arg("--keep", action="store_true", help="leave the tmpfs mounted")]),
    "connect-unix": (cmd_connect_unix, [_arg("path"), _arg("--timeout", type=float, default=3.0),
                                        _arg("--chdir", default=None),
                                        _arg("--dgram", action="store_true")]),
    "serve-unix": (cmd_serve_unix, [_arg("path"), _arg("--dgram", action="store_true")]),
    "bpf-map-create": (cmd_bpf_map_create, []),
    "detach-and-connect": (cmd_detach_and_connect, [
        # its own dest: --cgroup (where the probe runs) may differ from where the program is
        _arg("attach_cgroup", metavar="CGROUP"), _HOST, _PORT,
        _arg("--seconds", type=float, default=2.0),
        _arg("--bpftool", default="/usr/sbin/bpftool")]),
    "drop-caps-except": (None, [_arg("caps"), _REST]),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--netns")
    p.add_argument("--cgroup")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, (func, arguments) in SUBCOMMANDS.items():
        command = sub.add_parser(name)
        for names, options in arguments:
            command.add_argument(*names, **options)
        command.set_defaults(func=func)

    args = p.parse_args(argv)
    if args.cmd == "drop-caps-except":
        rest = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not rest:
            p.error("drop-caps-except needs a COMMAND")
        keep = parse_caps(args.caps)
        enter(args.netns, None)
        drop_caps_except(keep)
        if effective_caps() != keep:
            raise SystemExit("netprobe: capabilities are %r after dropping, want %r"
                             % (sorted(effective_caps()), sorted(keep)))
        enter(None, args.cgroup)
        return main(rest)
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
