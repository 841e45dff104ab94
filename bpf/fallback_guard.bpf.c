// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Host guards where the kernel refuses BPF-LSM programs. What each can promise:
 *   cgroup/sock_create      raw inet/inet6 sockets: prevention (EPERM), per workload cgroup;
 *                           the kernel runs it for inet sockets only, so packet (AF_PACKET)
 *                           sockets are detected at socket()'s exit (tp_btf/sys_exit)
 *   cgroup/connect_unix,    unix sockets: prevention by the address the client passes. In
 *   cgroup/sendmsg_unix     allowlist mode only the zone's listed addresses pass (fail closed);
 *                           in denylist mode the runtime sockets and every non-canonical path
 *                           are refused, but a symlink or hard link under another canonical
 *                           name is not seen. Neither sees the peer socket's workload.
 *   tp_btf/cap_capable      capabilities: detection after the check passed; kill sends SIGKILL
 *   tp_btf/sys_exit         the mount family and bpf(): detection as the syscall returns; kill
 *                           sends SIGKILL, which lands before the caller runs again, but the
 *                           operation has happened when it succeeded. bpf() commands that
 *                           detach or replace the agent's programs are reported as tampering
 *                           from every workload (the agent re-attaches what they took away).
 *   tp_btf/sys_exit         host writes and cgroupfs writes outside the workload: detection of
 *                           the file that open, openat, openat2 or creat opened; kill sends
 *                           SIGKILL, which lands before the caller can write through the fd (a
 *                           truncating open has truncated already; another thread may hold it)
 *   tp_btf/cgroup_attach_task  a task moved out of its workload: detection of the move itself
 *   tp_btf/sys_exit (clone3)  clone3(CLONE_INTO_CGROUP) outside the workload
 *   tp_btf/signal_generate  a signal from any workload to the agent: detection (+kill of the
 *                           sender); SIGKILL and SIGSTOP land. SIGINT, SIGTERM and SIGHUP go to
 *                           map agent_signals instead of the ring buffer: the agent catches
 *                           them, asks the map who sent them, ignores a workload's and alerts.
 *   tp_btf/sys_exit         ptrace(ATTACH, SEIZE) and process_vm_readv/writev naming the agent's
 *                           pid, from any workload: detection (+kill) as the syscall returns.
 * The syscall families are judged at the raw syscall exit tracepoint, one program for every
 * syscall of every ABI (native, ia32 through int $0x80, x32): the per-syscall tracepoints skip
 * 32-bit syscalls on x86 (syscall_call.bpf.h).
 * Verdicts say which: blocked, detected, killed (or audited).
 */
#include "path.bpf.h"
#include "file_guard.bpf.h"
#include "host_guard.bpf.h"
#include "syscall_call.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The syscall families this load judges, written by the loader from the probe and the policy's
 * guards before load: the verifier drops the code of the others. */
const volatile bool judge_packet_sockets = false;
const volatile bool judge_mounts = false;
const volatile bool judge_bpf = false;
const volatile bool judge_opens = false;
const volatile bool judge_clone3 = false;
const volatile bool judge_agent_access = false;

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

#define OPEN_TREE_CLONE 1
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004

/* Every hook fills and submits its event in one `if (ev)` block and only then answers: older
 * verifiers lose track of a ring buffer reservation checked for NULL in two places. */

/* A cgroup hook prevents: the verdict is blocked (or audited). */
static __always_inline __u8 prevented(const struct subject *s)
{
	return s->action == GR_ACTION_AUDIT ? GR_VERDICT_AUDITED : GR_VERDICT_BLOCKED;
}

/* For a cgroup hook: 1 lets the operation through, 0 refuses it with EPERM. */
static __always_inline int prevent(const struct subject *s)
{
	return s->action == GR_ACTION_AUDIT ? 1 : 0;
}

/* A tracing hook cannot refuse: detected, or killed when the action says so. */
static __always_inline __u8 detected(const struct subject *s)
{
	if (s->action == GR_ACTION_AUDIT)
		return GR_VERDICT_AUDITED;
	return s->action == GR_ACTION_KILL ? GR_VERDICT_KILLED : GR_VERDICT_DETECTED;
}

static __always_inline void kill_if_asked(const struct subject *s)
{
	if (s->action == GR_ACTION_KILL)
		bpf_send_signal(SIGKILL);
}

SEC("cgroup/sock_create")
int guard_sock_create(struct bpf_sock *sk)
{
	struct subject s;
	bool raw = sk->type == SOCK_RAW && (sk->family == AF_INET || sk->family == AF_INET6);

	if (!(raw || sk->family == AF_PACKET) || !subject_of_task(GR_GUARD_RAW_SOCKETS, &s))
		return 1;
	struct gr_host_event *ev = new_host_event(GR_EV_RAW_SOCKET, GR_BACKEND_CGROUP_SOCK, &s);
	if (ev) {
		ev->family = sk->family;
		ev->type = sk->type;
		ev->protocol = sk->protocol;
		ev->verdict = prevented(&s);
		submit_event(ev);
	}
	return prevent(&s);
}

/* cgroup/sock_create never sees AF_PACKET: detect the socket() call that asked for one. */
static __always_inline void packet_socket(const struct syscall_call *c)
{
	struct subject s;

	if (c->args[0] != AF_PACKET || !subject_of_task(GR_GUARD_RAW_SOCKETS, &s))
		return;
	struct gr_host_event *ev = new_host_event(GR_EV_RAW_SOCKET, GR_BACKEND_TRACEPOINT, &s);
	if (ev) {
		ev->family = AF_PACKET;
		ev->type = c->args[1];
		ev->protocol = c->args[2];
		ev->verdict = detected(&s);
		submit_event(ev);
	}
	kill_if_asked(&s);
}

/* The address a unix connect or send names, keyed the way the maps hold it. */
struct unix_scratch {
	char raw[GR_UNIX_PATH_LEN];	  /* sun_path, exactly the bytes the caller passed */
	struct gr_zone_unix_path_key key; /* zone and address: a path up to its NUL, or '@name' */
	char pad[4];			  /* zero: canonical_path() reads past the path's end */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unix_scratch);
} unix_scratch SEC(".maps");

enum unix_address_kind {
	UNIX_ADDR_NONE = -1,	/* no name: the kernel refuses or autobinds, nothing to judge */
	UNIX_ADDR_PATH = 0,	/* key.path holds the path up to its first NUL */
	UNIX_ADDR_ABSTRACT = 1, /* key.path holds '@' and the name's bytes */
	UNIX_ADDR_LONG = 2,	/* a 108-byte path without NUL: no key can hold it */
};

/* Reads the caller's sun_path by the address length the kernel will use (bytes past it are
 * whatever the kernel's copy of the address held before, so a NUL-terminated read would see
 * other bytes than the kernel does). */
static __always_inline int read_unix_address(struct bpf_sock_addr *ctx, struct unix_scratch *sc)
{
	struct bpf_sock_addr_kern *sa = bpf_cast_to_kern_ctx(ctx);
	const struct sockaddr_un *addr = (const struct sockaddr_un *)sa->uaddr;
	__u32 len = sa->uaddrlen;

	if (len <= 2 || len > 2 + GR_UNIX_PATH_LEN)
		return UNIX_ADDR_NONE; /* the kernel answers EINVAL, or autobinds */
	len -= 2;
	__builtin_memset(sc, 0, sizeof(*sc));
	if (bpf_probe_read_kernel(sc->raw, len, addr->sun_path))
		return UNIX_ADDR_NONE;
	if (sc->raw[0] == 0) {
		sc->key.path[0] = '@';
		if (len > 1 && len - 1 <= GR_UNIX_PATH_LEN - 1)
			bpf_probe_read_kernel(&sc->key.path[1], len - 1, &sc->raw[1]);
		return UNIX_ADDR_ABSTRACT;
	}
	long n = bpf_probe_read_kernel_str(sc->key.path, sizeof(sc->key.path), sc->raw);
	if (n == GR_UNIX_PATH_LEN && sc->raw[GR_UNIX_PATH_LEN - 1] != 0)
		return UNIX_ADDR_LONG;
	return UNIX_ADDR_PATH;
}

/* True for an absolute path with no empty, '.' or '..' component and not under /proc: the
 * one spelling the runtime socket map can match. `p` is a key's path followed by the zeroed
 * padding of unix_scratch, so p[i + 3] is readable for every i of the path. Each position is
 * judged by itself and the three after it (no state carried from one to the next keeps the
 * verifier's work linear in the path length). */
static __always_inline bool canonical_path(const char *p)
{
	if (p[0] != '/')
		return false;
	if (p[1] == 'p' && p[2] == 'r' && p[3] == 'o' && p[4] == 'c' && (p[5] == '/' || p[5] == 0))
		return false;
	for (int i = 0; i < GR_UNIX_PATH_LEN; i++) {
		char c = p[i];
		if (c == 0)
			return true;
		if (c != '/')
			continue;
		char a = p[i + 1], b = p[i + 2], d = p[i + 3];
		if (a == '/' || a == 0)
			return false; /* "//" or a trailing '/' */
		if (a == '.' && (b == '/' || b == 0))
			return false; /* "/./" or a trailing "/." */
		if (a == '.' && b == '.' && (d == '/' || d == 0))
			return false; /* "/../" or a trailing "/.." */
	}
	return false; /* no NUL: longer than any key */
}

/* connect() or sendto() of a unix socket by a guarded workload: in allowlist mode only the
 * zone's allowed addresses pass; in denylist mode the runtime sockets, and every path not
 * spelled canonically, are refused. */
static __always_inline int judge_unix_address(struct bpf_sock_addr *ctx)
{
	struct subject s;
	__u32 zero = 0;
	__u32 reason;

	if (!subject_of_task(GR_GUARD_RUNTIME_SOCKETS, &s))
		return 1;
	struct unix_scratch *sc = bpf_map_lookup_elem(&unix_scratch, &zero);
	if (!sc)
		return 1;
	int kind = read_unix_address(ctx, sc);
	if (kind == UNIX_ADDR_NONE)
		return 1;
	if (s.unix_mode == GR_UNIX_ALLOWLIST) {
		sc->key.zone_id = s.workload.zone_id;
		void *allowed = active(&unix_allow_paths, s.active_set);
		if (kind != UNIX_ADDR_LONG && allowed && bpf_map_lookup_elem(allowed, &sc->key))
			return 1;
		reason = GR_UNIX_REASON_NOT_ALLOWED;
	} else if (kind == UNIX_ADDR_ABSTRACT) {
		return 1; /* the denylist names paths; abstract sockets need allowlist mode */
	} else if (kind == UNIX_ADDR_LONG || !canonical_path(sc->key.path)) {
		reason = GR_UNIX_REASON_NONCANONICAL;
	} else {
		void *sockets = active(&runtime_socket_paths, s.active_set);
		if (!sockets || !bpf_map_lookup_elem(sockets, sc->key.path))
			return 1;
		reason = GR_UNIX_REASON_RUNTIME;
	}
	struct gr_host_event *ev =
		new_host_event(GR_EV_RUNTIME_SOCKET, GR_BACKEND_CGROUP_CONNECT_UNIX, &s);
	if (ev) {
		ev->family = AF_UNIX;
		ev->op = reason;
		bpf_probe_read_kernel(ev->path, sizeof(sc->key.path), sc->key.path);
		ev->verdict = prevented(&s);
		submit_event(ev);
	}
	return prevent(&s);
}

SEC("cgroup/connect_unix")
int guard_connect_unix(struct bpf_sock_addr *ctx)
{
	return judge_unix_address(ctx);
}

/* A datagram sent with an address (sendto, sendmsg with msg_name); a connected datagram
 * socket's peer was judged at connect(). */
SEC("cgroup/sendmsg_unix")
int guard_sendmsg_unix(struct bpf_sock_addr *ctx)
{
	return judge_unix_address(ctx);
}

/* Fires on every capability check of every task: the workload lookup comes first. Only checks
 * that passed matter (a refused one did no harm). The tracepoint cannot tell the kernel's silent
 * probes (e.g. CAP_SYS_ADMIN in memory accounting) from real use: a workload holding a denied
 * capability is reported whenever the kernel asks, which is why agents should hold none. */
SEC("tp_btf/cap_capable")
int BPF_PROG(guard_cap_capable, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	struct subject s;

	if (ret != 0 || cap < 0 || cap > 63 || !subject_of_task(GR_GUARD_CAPABILITIES, &s))
		return 0;
	if (!(s.denied_caps & (1ull << cap)))
		return 0;
	struct gr_host_event *ev = new_host_event(GR_EV_CAPABILITY, GR_BACKEND_TP_BTF, &s);
	if (ev) {
		ev->capability = cap;
		ev->verdict = detected(&s);
		submit_event(ev);
	}
	kill_if_asked(&s);
	return 0;
}

static __always_inline void mount_syscall(__u32 op, const char *source, const char *target,
					  const char *fstype, __u64 flags)
{
	struct subject s;

	if (!subject_of_task(GR_GUARD_MOUNTS, &s))
		return;
	struct gr_host_event *ev = new_host_event(GR_EV_MOUNT, GR_BACKEND_TRACEPOINT, &s);
	if (ev) {
		ev->op = op;
		ev->flags = flags;
		if (source)
			bpf_probe_read_user_str(ev->source, sizeof(ev->source), source);
		if (target)
			bpf_probe_read_user_str(ev->path, sizeof(ev->path), target);
		if (fstype)
			bpf_probe_read_user_str(ev->fstype, sizeof(ev->fstype), fstype);
		ev->verdict = detected(&s);
		submit_event(ev);
	}
	kill_if_asked(&s);
}

/* The mount family: mount, fsmount, move_mount and open_tree, each as the caller named it. */
static __always_inline void mount_family(const struct syscall_call *c)
{
	switch (c->nr) {
	case GR_SYS_MOUNT:
		mount_syscall(GR_MOUNT_OP_MOUNT, (const char *)c->args[0], (const char *)c->args[1],
			      (const char *)c->args[2], c->args[3]);
		break;
	case GR_SYS_FSMOUNT:
		mount_syscall(GR_MOUNT_OP_FSMOUNT, NULL, NULL, NULL, c->args[1]);
		break;
	case GR_SYS_MOVE_MOUNT:
		/* move_mount of a detached mount (MOVE_MOUNT_F_EMPTY_PATH: the fd of fsmount or
		 * open_tree's clone) was reported when that mount was made: report only moves of
		 * existing paths, so each new mount is one event. fsopen and fsconfig make no mount
		 * and are not reported. */
		if (!(c->args[4] & MOVE_MOUNT_F_EMPTY_PATH))
			mount_syscall(GR_MOUNT_OP_MOVE_MOUNT, (const char *)c->args[1],
				      (const char *)c->args[3], NULL, c->args[4]);
		break;
	case GR_SYS_OPEN_TREE:
		/* Only a clone makes a new mount; open_tree without OPEN_TREE_CLONE opens a path. */
		if (c->args[2] & OPEN_TREE_CLONE)
			mount_syscall(GR_MOUNT_OP_OPEN_TREE, (const char *)c->args[1], NULL, NULL,
				      c->args[2]);
		break;
	}
}

/* ---- bpf(): the guard, and tampering with the agent's own programs ------------------------ */

static __always_inline void bpf_syscall(const struct syscall_call *c)
{
	struct subject s;
	__u32 cmd = c->args[0];
	__u32 attr[GR_TAMPER_ATTR_WORDS] = {};

	if (reads_tamper_attr(cmd))
		bpf_probe_read_user(attr, sizeof(attr), (const void *)c->args[1]);
	if (is_tamper_command(cmd, attr[3])) {
		if (!workload_of_caller(&s))
			return;
		report_tamper(cmd, attr, &s, GR_BACKEND_TRACEPOINT, detected(&s));
		kill_if_asked(&s);
		return;
	}
	if (!subject_of_task(GR_GUARD_BPF, &s))
		return;
	struct gr_host_event *ev = new_host_event(GR_EV_BPF, GR_BACKEND_TRACEPOINT, &s);
	if (ev) {
		ev->op = cmd;
		ev->verdict = detected(&s);
		submit_event(ev);
	}
	kill_if_asked(&s);
}

/* ---- Host writes and the cgroup guard: the opened file, at the open syscalls' exit --------- */

static __always_inline void judge_opened_fd(long ret)
{
	struct subject s;
	struct write_verdict v = {};

	if (ret < 0)
		return;
	struct file *file = file_of_fd(ret);
	if (!file || !opens_for_write(file) || !judge_write_open(file, &s, &v))
		return;
	struct gr_host_event *ev =
		new_write_event(file, &s, &v, GR_BACKEND_TRACEPOINT, detected(&s));
	if (ev) {
		read_full_path(&file->f_path, ev->path);
		submit_event(ev);
	}
	kill_if_asked(&s);
}

/* A move out of the workload through cgroupfs, seen when the kernel makes it (whatever fd or
 * spelling the writer used): the writer is a workload and the destination lies outside its
 * workload cgroup. The moved task may be another process than the writer; kill ends the writer. */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(guard_cgroup_attach_task, struct cgroup *dst_cgrp, const char *path,
	     struct task_struct *task, bool threadgroup)
{
	struct subject s;
	struct workload_root root;
	__u8 hp_flags = 0;

	if (!subject_for_guard(GR_GUARD_CGROUPS, true, &s, &hp_flags) ||
	    !caller_workload_root(&s, &root))
		return 0;
	if (in_workload_subtree(dst_cgrp, &root))
		return 0; /* within its own subtree */
	struct gr_host_event *ev = new_host_event(GR_EV_CGROUP_ESCAPE, GR_BACKEND_TP_BTF, &s);
	if (ev) {
		ev->op = GR_ESCAPE_MOVE;
		ev->type = BPF_CORE_READ(task, tgid);
		ev->flags = threadgroup;
		void *workloads_map = active(&workloads, s.active_set);
		struct gr_workload *peer =
			workloads_map ?
				workload_of_cgroup_struct(workloads_map, s.cgroup_levels, dst_cgrp) :
				NULL;
		if (peer)
			ev->peer_workload_id = peer->workload_id;
		bpf_probe_read_kernel_str(ev->path, sizeof(ev->path), path);
		ev->verdict = detected(&s);
		submit_event(ev);
	}
	kill_if_asked(&s);
	return 0;
}

#define CLONE_INTO_CGROUP 0x200000000ULL

/* clone3(CLONE_INTO_CGROUP): the child would start in the cgroup of the directory fd in
 * clone_args.cgroup; reported (and the caller killed, where asked) when that lies outside the
 * caller's workload. */
static __always_inline void clone3_syscall(const struct syscall_call *c)
{
	struct subject s;
	struct workload_root root;
	__u64 args[11] = {}; /* struct clone_args up to .cgroup (offset 80) */
	__u8 hp_flags = 0;

	if (bpf_probe_read_user(args, sizeof(args), (const void *)c->args[0]) ||
	    !(args[0] & CLONE_INTO_CGROUP))
		return;
	if (!subject_for_guard(GR_GUARD_CGROUPS, true, &s, &hp_flags) ||
	    !caller_workload_root(&s, &root))
		return;
	struct file *dir = file_of_fd(args[10]);
	if (in_workload_subtree(cgroup_of_dir(dir ? BPF_CORE_READ(dir, f_path.dentry) : NULL), &root))
		return;
	struct gr_host_event *ev = new_host_event(GR_EV_CGROUP_ESCAPE, GR_BACKEND_TRACEPOINT, &s);
	if (ev) {
		ev->op = GR_ESCAPE_CLONE_INTO;
		ev->flags = args[0];
		if (dir)
			read_full_path(&dir->f_path, ev->path);
		ev->verdict = detected(&s);
		submit_event(ev);
	}
	kill_if_asked(&s);
}

/* ---- The agent's own process: signals and ptrace from every workload ---------------------- */

#define SIGHUP 1
#define SIGINT 2
#define SIGTERM 15
#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206

/* The catchable stop and reload signals a workload sent to the agent, by sender: the agent's
 * signal handler sees the sender's pid, and looks it up here (struct gr_signal_sender). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GR_MAX_AGENT_SIGNALS);
	__type(key, struct gr_signal_key);
	__type(value, struct gr_signal_sender);
} agent_signals SEC(".maps");

/* A signal that a process sent (kill, tkill, tgkill, sigqueue, pidfd_send_signal), not one the
 * kernel raised (a fault, SIGCHLD, SIGPIPE, a timer): SEND_SIG_NOINFO (0), or a siginfo whose
 * si_code says a user sent it, as the kernel's SI_FROMUSER() does. */
static __always_inline bool sent_by_a_process(struct kernel_siginfo *info)
{
	if ((unsigned long)info <= 1)
		return info == 0; /* SEND_SIG_NOINFO; SEND_SIG_PRIV (1) is the kernel's */
	return BPF_CORE_READ(info, si_code) <= 0;
}

/* Fires for every signal the kernel generates (rare next to syscalls): the first check is
 * whether the target is the agent (one array lookup). */
SEC("tp_btf/signal_generate")
int BPF_PROG(guard_signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *task,
	     int group, int result)
{
	struct subject s;

	if (!is_agent_task(task) || !sent_by_a_process(info) || !workload_of_caller(&s))
		return 0;
	__u32 tgid = BPF_CORE_READ(task, tgid), tid = BPF_CORE_READ(task, pid);
	if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
		struct gr_signal_key key = { .signal = sig };
		struct gr_signal_sender sender = {
			.ts_ns = bpf_ktime_get_boot_ns(),
			.cgroup_id = bpf_get_current_cgroup_id(),
			.workload_id = s.workload.workload_id,
			.zone_id = s.workload.zone_id,
			.workload_flags = s.workload.flags,
			.killed = s.action == GR_ACTION_KILL,
		};
		read_caller(&key.sender_tgid, &sender.tid, sender.comm);
		bpf_map_update_elem(&agent_signals, &key, &sender, BPF_ANY);
	} else {
		report_agent_tamper(GR_TAMPER_SIGNAL, sig, 0, tgid, tid, &s, GR_BACKEND_TP_BTF,
				    detected(&s));
	}
	kill_if_asked(&s);
	return 0;
}

/* A syscall that names the agent by pid. Only a caller in the initial PID namespace names pids as
 * the agent's tgid is written; only the tgid matches (a thread of the agent named by its own tid
 * is not seen here; the LSM backend sees every thread). */
static __always_inline void agent_access_syscall(__u32 access, __u32 op, __u32 pid)
{
	struct subject s;
	__u32 agent = agent_tgid();

	if (!agent || pid != agent)
		return;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, thread_pid, level) != 0 || !workload_of_caller(&s))
		return;
	report_agent_tamper(GR_TAMPER_PTRACE, op, access, agent, pid, &s, GR_BACKEND_TRACEPOINT,
			    detected(&s));
	kill_if_asked(&s);
}

/* ptrace(ATTACH, SEIZE) and process_vm_readv/writev naming the agent. */
static __always_inline void agent_access(const struct syscall_call *c)
{
	switch (c->nr) {
	case GR_SYS_PTRACE:
		if (c->args[0] == PTRACE_ATTACH || c->args[0] == PTRACE_SEIZE)
			agent_access_syscall(GR_PTRACE_SYSCALL, c->args[0], c->args[1]);
		break;
	case GR_SYS_PROCESS_VM_READV:
		agent_access_syscall(GR_PTRACE_VM_READV, 0, c->args[0]);
		break;
	case GR_SYS_PROCESS_VM_WRITEV:
		agent_access_syscall(GR_PTRACE_VM_WRITEV, 0, c->args[0]);
		break;
	}
}

/* Every syscall's exit: one raw tracepoint for all syscalls of every ABI, and one program, so the
 * host pays one program run per syscall (the entry has none). Each judged family is told by its
 * x86-64 number. The arguments are still in the caller's saved registers here, and the other
 * families lose nothing by being judged at the exit: a tracing hook cannot refuse, and SIGKILL
 * lands before the syscall returns to the caller either way. The open family needs the exit, for
 * the file the fd names. */
SEC("tp_btf/sys_exit")
int BPF_PROG(guard_sys_exit, struct pt_regs *regs, long ret)
{
	struct syscall_call c;

	if (!decode_syscall(regs, regs->orig_ax, &c))
		return 0;
	switch (c.nr) {
	case GR_SYS_OPEN:
	case GR_SYS_OPENAT:
	case GR_SYS_OPENAT2:
	case GR_SYS_CREAT:
		if (judge_opens)
			judge_opened_fd(ret);
		break;
	case GR_SYS_SOCKET:
		if (judge_packet_sockets)
			packet_socket(&c);
		break;
	case GR_SYS_MOUNT:
	case GR_SYS_FSMOUNT:
	case GR_SYS_MOVE_MOUNT:
	case GR_SYS_OPEN_TREE:
		if (judge_mounts)
			mount_family(&c);
		break;
	case GR_SYS_BPF:
		if (judge_bpf)
			bpf_syscall(&c);
		break;
	case GR_SYS_CLONE3:
		/* The child returns from clone3 too (0): the parent's return judges the call. */
		if (judge_clone3 && ret != 0)
			clone3_syscall(&c);
		break;
	case GR_SYS_PTRACE:
	case GR_SYS_PROCESS_VM_READV:
	case GR_SYS_PROCESS_VM_WRITEV:
		if (judge_agent_access)
			agent_access(&c);
		break;
	}
	return 0;
}
