// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Host guards on the BPF-LSM backend: prevention. Each hook runs for every task on the host,
 * finds the caller's workload in one or two hash lookups and returns at once when there is none,
 * so the rest of the host pays almost nothing. For a workload whose zone guards the action:
 *   lsm/capable             a denied capability, in any user namespace      -> -EPERM
 *   lsm/socket_create       raw (SOCK_RAW) and packet (AF_PACKET) sockets   -> -EPERM
 *   lsm/sb_mount            mount(2): new, bind, remount, move              -> -EPERM
 *   lsm/sb_kern_mount       a new superblock (fsopen/fsconfig/fsmount)      -> -EPERM
 *   lsm/move_mount          move_mount(2), e.g. after open_tree(CLONE)      -> -EPERM
 *   lsm/unix_stream_connect a runtime socket (by inode, or bound to its     -> -EPERM
 *                           path); in allowlist mode
 *   lsm/unix_may_send       any unix socket not allowed (inode or '@name');
 *                           another workload's socket without a flow
 *   lsm/bpf                 the bpf() syscall                               -> -EPERM
 *                           (detaching or fetching the agent's programs: from every workload)
 *   lsm/file_open           a write open of a host sysctl, sysfs, a kernel  -> -EPERM
 *                           filesystem or a listed host path (host writes);
 *                           of cgroupfs outside the workload (every workload)
 *   lsm/task_alloc          clone3(CLONE_INTO_CGROUP) (every workload)      -> -EPERM
 *   lsm/task_kill           a signal to any thread of the agent             -> -EPERM
 *   lsm/ptrace_access_check ptrace, /proc/<agent>/mem, process_vm_*, ...    -> -EPERM
 *                           (the agent's process: from every workload, like bpf() tampering)
 * Audit mode reports and allows; kill also sends SIGKILL.
 */
#include "file_guard.bpf.h"
#include "host_guard.bpf.h"
#include "net_policy.bpf.h"
#include "path.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The verdict an event reports for the zone's action. */
static __always_inline __u8 verdict_of(const struct subject *s)
{
	if (s->action == GR_ACTION_AUDIT)
		return GR_VERDICT_AUDITED;
	return s->action == GR_ACTION_KILL ? GR_VERDICT_KILLED : GR_VERDICT_BLOCKED;
}

/* The hook's answer for the zone's action (kill also sends SIGKILL). Every hook fills and
 * submits its event in one `if (ev)` block before asking: older verifiers (6.1) lose track of a
 * ring buffer reservation checked for NULL in two places. */
static __always_inline int answer(const struct subject *s)
{
	if (s->action == GR_ACTION_AUDIT)
		return 0;
	if (s->action == GR_ACTION_KILL)
		bpf_send_signal(SIGKILL);
	return -EPERM;
}

SEC("lsm/capable")
int BPF_PROG(guard_capable, const struct cred *cred, struct user_namespace *ns, int cap,
	     unsigned int opts)
{
	struct subject s;

	if (cap < 0 || cap > 63 || !subject_of_task(GR_GUARD_CAPABILITIES, &s))
		return 0;
	if (!(s.denied_caps & (1ull << cap)))
		return 0;
	struct gr_host_event *ev = new_host_event(GR_EV_CAPABILITY, GR_BACKEND_LSM, &s);
	if (ev) {
		ev->capability = cap;
		ev->verdict = verdict_of(&s);
		submit_event(ev);
	}
	return answer(&s);
}

SEC("lsm/socket_create")
int BPF_PROG(guard_socket_create, int family, int type, int protocol, int kern)
{
	struct subject s;

	if (kern)
		return 0;
	bool raw = (type & 0xf) == SOCK_RAW && (family == AF_INET || family == AF_INET6);
	if (!(raw || family == AF_PACKET) || !subject_of_task(GR_GUARD_RAW_SOCKETS, &s))
		return 0;
	struct gr_host_event *ev = new_host_event(GR_EV_RAW_SOCKET, GR_BACKEND_LSM, &s);
	if (ev) {
		ev->family = family;
		ev->type = type;
		ev->protocol = protocol;
		ev->verdict = verdict_of(&s);
		submit_event(ev);
	}
	return answer(&s);
}

SEC("lsm/sb_mount")
int BPF_PROG(guard_sb_mount, const char *dev_name, const struct path *path, const char *type,
	     unsigned long flags, void *data)
{
	struct subject s;

	if (!subject_of_task(GR_GUARD_MOUNTS, &s))
		return 0;
	struct gr_host_event *ev = new_host_event(GR_EV_MOUNT, GR_BACKEND_LSM, &s);
	if (ev) {
		ev->op = GR_MOUNT_OP_MOUNT;
		ev->flags = flags;
		if (dev_name)
			bpf_probe_read_kernel_str(ev->source, sizeof(ev->source), dev_name);
		if (type)
			bpf_probe_read_kernel_str(ev->fstype, sizeof(ev->fstype), type);
		read_full_path(path, ev->path); /* the mount point, not the root mounted there */
		ev->verdict = verdict_of(&s);
		submit_event(ev);
	}
	return answer(&s);
}

SEC("lsm/sb_kern_mount")
int BPF_PROG(guard_sb_kern_mount, const struct super_block *sb)
{
	struct subject s;

	if (!subject_of_task(GR_GUARD_MOUNTS, &s))
		return 0;
	struct gr_host_event *ev = new_host_event(GR_EV_MOUNT, GR_BACKEND_LSM, &s);
	if (ev) {
		ev->op = GR_MOUNT_OP_NEW_SUPER;
		const char *fs_name = BPF_CORE_READ(sb, s_type, name);
		if (fs_name)
			bpf_probe_read_kernel_str(ev->fstype, sizeof(ev->fstype), fs_name);
		ev->verdict = verdict_of(&s);
		submit_event(ev);
	}
	return answer(&s);
}

SEC("lsm/move_mount")
int BPF_PROG(guard_move_mount, const struct path *from_path, const struct path *to_path)
{
	struct subject s;

	if (!subject_of_task(GR_GUARD_MOUNTS, &s))
		return 0;
	struct gr_host_event *ev = new_host_event(GR_EV_MOUNT, GR_BACKEND_LSM, &s);
	if (ev) {
		ev->op = GR_MOUNT_OP_MOVE_MOUNT;
		read_full_path(to_path, ev->path);
		ev->verdict = verdict_of(&s);
		submit_event(ev);
	}
	return answer(&s);
}

/* Some flow between the two workloads (by workload or by zone, on either side): a unix socket
 * between them is then allowed, whatever its ports say (a unix socket has none). */
static __always_inline bool flow_allows(__u32 set, const struct gr_workload *from,
					const struct gr_workload *to)
{
	void *f = active(&flows, set);

	if (!f)
		return false;
	struct gr_flow_key k = { .src_id = from->workload_id, .dst_id = to->workload_id };
	if (bpf_map_lookup_elem(f, &k))
		return true;
	k.dst_id = to->zone_id;
	if (bpf_map_lookup_elem(f, &k))
		return true;
	k.src_id = from->zone_id;
	if (bpf_map_lookup_elem(f, &k))
		return true;
	k.dst_id = to->workload_id;
	return bpf_map_lookup_elem(f, &k) != NULL;
}

/* What judge_unix_peer() found: the event's kind, reason and key fields. */
struct unix_verdict {
	struct gr_inode_key inode;
	__u32 peer_workload_id;
	__u32 reason;
	__u16 type;
};

static __always_inline bool allowed_abstract(const struct subject *s, struct unix_sock *u)
{
	struct gr_zone_unix_path_key key = { .zone_id = s->workload.zone_id };
	struct unix_address *addr = BPF_CORE_READ(u, addr);

	if (!addr)
		return false;
	int len = BPF_CORE_READ(addr, len) - 2; /* sun_path bytes, the leading NUL included */
	if (len < 2 || len > GR_UNIX_PATH_LEN)
		return false;
	key.path[0] = '@';
	bpf_probe_read_kernel(&key.path[1], (len - 1) & 0x7f, &addr->name[0].sun_path[1]);
	void *allowed = active(&unix_allow_paths, s->active_set);
	return allowed && bpf_map_lookup_elem(allowed, &key);
}

/* Denylist mode: the socket is bound to a runtime socket's path, spelled exactly as the policy
 * has it (unix_sock->addr: the path its server passed to bind()). A daemon that re-made its
 * socket at its configured path (a restart: a new inode the agent has not resolved yet) is
 * refused from its first connect. Only ever adds a refusal: the bound name never allows anything
 * (allowlist mode matches by inode), since whoever binds a socket chooses its name. */
static __always_inline bool bound_to_runtime_path(const struct subject *s, struct unix_sock *u)
{
	struct gr_unix_path_key key = {};
	struct unix_address *addr = BPF_CORE_READ(u, addr);

	if (!addr)
		return false;
	/* An abstract name starts with a NUL: 1 byte read, never a path. */
	if (bpf_probe_read_kernel_str(key.path, sizeof(key.path), &addr->name[0].sun_path[0]) <= 1)
		return false;
	void *paths = active(&runtime_socket_paths, s->active_set);
	return paths && bpf_map_lookup_elem(paths, &key);
}

/* What unix_stream_connect and unix_may_send decide about the socket `other` (the listener, or
 * the datagram receiver), in this order:
 *   another workload's socket, no flow between the two and not on an allowlist: refused
 *   allowlist mode: refused unless its inode (a path socket) or '@name' (abstract) is allowed
 *   denylist mode: refused when its inode is a runtime socket's, or when it is bound to a
 *                  runtime socket's path (a re-made socket, before the agent resolved it)
 * v->reason is the reason (enum gr_unix_reason), or 0 to allow. */
static __always_inline void judge_unix_peer(const struct subject *s, struct sock *other,
					    struct unix_verdict *v)
{
	struct unix_sock *u = (struct unix_sock *)other;
	struct inode *inode = BPF_CORE_READ(u, path.dentry, d_inode);
	bool allowlisted = false;

	if (inode) {
		v->inode.ino = BPF_CORE_READ(inode, i_ino);
		v->inode.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	}
	if (s->unix_mode == GR_UNIX_ALLOWLIST) {
		if (inode) {
			struct gr_zone_inode_key key = { .ino = v->inode.ino,
							 .dev = v->inode.dev,
							 .zone_id = s->workload.zone_id };
			void *allowed = active(&unix_allow_inodes, s->active_set);
			allowlisted = allowed && bpf_map_lookup_elem(allowed, &key);
		} else {
			allowlisted = allowed_abstract(s, u);
		}
	}

	void *workloads_map = active(&workloads, s->active_set);
	if (workloads_map) {
		struct gr_workload *peer =
			workload_of_kernel_sock(workloads_map, s->cgroup_levels, other);
		if (peer && peer->workload_id && peer->workload_id != s->workload.workload_id) {
			v->peer_workload_id = peer->workload_id;
			struct gr_workload self = s->workload;
			struct gr_workload them = *peer;
			if (!allowlisted && !flow_allows(s->active_set, &self, &them)) {
				v->type = GR_EV_UNIX_SOCKET;
				v->reason = GR_UNIX_REASON_OTHER_WORKLOAD;
				return;
			}
		}
	}
	v->type = GR_EV_RUNTIME_SOCKET;
	if (s->unix_mode == GR_UNIX_ALLOWLIST) {
		if (!allowlisted)
			v->reason = GR_UNIX_REASON_NOT_ALLOWED;
		return;
	}
	if (!inode)
		return;
	void *sockets = active(&runtime_socket_inodes, s->active_set);
	if ((sockets && bpf_map_lookup_elem(sockets, &v->inode)) || bound_to_runtime_path(s, u))
		v->reason = GR_UNIX_REASON_RUNTIME;
}

/* The event and the answer for a refused peer socket. */
static __always_inline int refuse_unix_peer(const struct subject *s, struct sock *other,
					    const struct unix_verdict *v)
{
	struct gr_host_event *ev = new_host_event(v->type, GR_BACKEND_LSM, s);

	if (ev) {
		ev->family = AF_UNIX;
		ev->op = v->reason;
		ev->ino = v->inode.ino;
		ev->dev = v->inode.dev;
		ev->peer_workload_id = v->peer_workload_id;
		struct unix_address *addr = BPF_CORE_READ((struct unix_sock *)other, addr);
		if (addr) {
			int len = BPF_CORE_READ(addr, len) - 2;
			const char *sun_path = &addr->name[0].sun_path[0];
			char first = 0;
			bpf_probe_read_kernel(&first, 1, sun_path);
			if (first == 0 && len > 1 && len <= GR_UNIX_PATH_LEN) {
				ev->path[0] = '@';
				bpf_probe_read_kernel(&ev->path[1], (len - 1) & 0x7f, sun_path + 1);
			} else {
				bpf_probe_read_kernel_str(ev->path, sizeof(ev->path), sun_path);
			}
		}
		ev->verdict = verdict_of(s);
		submit_event(ev);
	}
	return answer(s);
}

SEC("lsm/unix_stream_connect")
int BPF_PROG(guard_unix_stream_connect, struct sock *sock, struct sock *other, struct sock *newsk)
{
	struct subject s;
	struct unix_verdict v = {};

	if (!subject_of_task(GR_GUARD_RUNTIME_SOCKETS, &s))
		return 0;
	/* The listening socket's inode: the same whatever path, symlink or hard link reached it. */
	judge_unix_peer(&s, other, &v);
	if (!v.reason)
		return 0;
	return refuse_unix_peer(&s, other, &v);
}

/* A datagram to `other` (sendto, or connect() of a datagram socket). */
SEC("lsm/unix_may_send")
int BPF_PROG(guard_unix_may_send, struct socket *sock, struct socket *other)
{
	struct subject s;
	struct unix_verdict v = {};

	if (!subject_of_task(GR_GUARD_RUNTIME_SOCKETS, &s))
		return 0;
	struct sock *sk = BPF_CORE_READ(other, sk);
	if (!sk)
		return 0;
	judge_unix_peer(&s, sk, &v);
	if (!v.reason)
		return 0;
	return refuse_unix_peer(&s, sk, &v);
}

/* Tampering (detaching, replacing or fetching the agent's links and programs) is refused to
 * every workload, whether or not its zone guards bpf(): it would switch every other guard off. */
SEC("lsm/bpf")
int BPF_PROG(guard_bpf, int cmd, union bpf_attr *attr, unsigned int size)
{
	struct subject s;
	__u32 words[GR_TAMPER_ATTR_WORDS] = {};

	if (reads_tamper_attr(cmd))
		bpf_probe_read_kernel(words, sizeof(words), attr);
	if (is_tamper_command(cmd, words[3])) {
		if (!workload_of_caller(&s))
			return 0;
		report_tamper(cmd, words, &s, GR_BACKEND_LSM, verdict_of(&s));
		return answer(&s);
	}
	if (!subject_of_task(GR_GUARD_BPF, &s))
		return 0;
	struct gr_host_event *ev = new_host_event(GR_EV_BPF, GR_BACKEND_LSM, &s);
	if (ev) {
		ev->op = cmd;
		ev->verdict = verdict_of(&s);
		submit_event(ev);
	}
	return answer(&s);
}

/* Host writes and cgroupfs writes outside the workload, judged by the opened file. Every open on
 * the host passes here: a read-only open returns after two field reads, a write open by a
 * caller that is no workload after the workload lookup. */
SEC("lsm/file_open")
int BPF_PROG(guard_file_open, struct file *file)
{
	struct subject s;
	struct write_verdict v = {};

	if (!opens_for_write(file) || !judge_write_open(file, &s, &v))
		return 0;
	struct gr_host_event *ev = new_write_event(file, &s, &v, GR_BACKEND_LSM, verdict_of(&s));
	if (ev) {
		bpf_d_path((struct path *)&file->f_path, ev->path, sizeof(ev->path));
		submit_event(ev);
	}
	return answer(&s);
}

#define CLONE_INTO_CGROUP 0x200000000ULL

/* clone3(CLONE_INTO_CGROUP) starts a child in the cgroup of a directory fd, passing no file
 * open for write: refused to every workload (the hook cannot see which cgroup it names). */
SEC("lsm/task_alloc")
int BPF_PROG(guard_task_alloc, struct task_struct *task, unsigned long clone_flags)
{
	struct subject s;
	__u8 hp_flags = 0;

	if (!(clone_flags & CLONE_INTO_CGROUP) ||
	    !subject_for_guard(GR_GUARD_CGROUPS, true, &s, &hp_flags))
		return 0;
	struct gr_host_event *ev = new_host_event(GR_EV_CGROUP_ESCAPE, GR_BACKEND_LSM, &s);
	if (ev) {
		ev->op = GR_ESCAPE_CLONE_INTO;
		ev->flags = clone_flags;
		ev->verdict = verdict_of(&s);
		submit_event(ev);
	}
	return answer(&s);
}

/* ---- The agent's own process: refused to every workload, whatever its zone guards ---------- */

#define PTRACE_MODE_NOAUDIT 0x04

/* A signal from a workload to any thread of the agent (kill, tkill, tgkill, sigqueue,
 * pidfd_send_signal; SIGKILL and SIGSTOP too). Signal 0 only asks whether the pid exists, which
 * /proc tells anyone in the PID namespace anyway: allowed, not reported. `cred` (meant for the
 * kernel's USB async-io signals) is not consulted: on 6.12 the program sees it non-NULL for a
 * plain kill() (tests/vm), and the agent uses no USB async io. */
SEC("lsm/task_kill")
int BPF_PROG(guard_task_kill, struct task_struct *p, struct kernel_siginfo *info, int sig,
	     const struct cred *cred)
{
	struct subject s;

	if (sig == 0 || !is_agent_task(p) || !workload_of_caller(&s))
		return 0;
	report_agent_tamper(GR_TAMPER_SIGNAL, sig, 0, BPF_CORE_READ(p, tgid), BPF_CORE_READ(p, pid),
			    &s, GR_BACKEND_LSM, verdict_of(&s));
	return answer(&s);
}

/* Every ptrace_may_access() of a workload on the agent: ptrace attach and seize, /proc/<agent>/
 * mem, environ, fd, maps, ns, ..., process_vm_readv/writev, pidfd_getfd, kcmp. The kernel's quiet
 * probes (PTRACE_MODE_NOAUDIT: e.g. /proc/<agent>/stat deciding whether to show the stack
 * pointer to `ps`) are refused without a report and without kill. */
SEC("lsm/ptrace_access_check")
int BPF_PROG(guard_ptrace_access_check, struct task_struct *child, unsigned int mode)
{
	struct subject s;

	if (!is_agent_task(child) || !workload_of_caller(&s))
		return 0;
	if (mode & PTRACE_MODE_NOAUDIT)
		return s.action == GR_ACTION_AUDIT ? 0 : -EPERM;
	report_agent_tamper(GR_TAMPER_PTRACE, mode, GR_PTRACE_MAY_ACCESS,
			    BPF_CORE_READ(child, tgid), BPF_CORE_READ(child, pid), &s,
			    GR_BACKEND_LSM, verdict_of(&s));
	return answer(&s);
}
