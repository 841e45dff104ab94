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
 *   lsm/unix_stream_connect a runtime socket, matched by inode              -> -EPERM
 *   lsm/bpf                 the bpf() syscall                               -> -EPERM
 *                           (detaching or fetching the agent's programs: from every workload)
 * Audit mode reports and allows; kill also sends SIGKILL.
 */
#include "host_guard.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The last component of a path (bpf_d_path is not allowed in these hooks). */
static __always_inline void read_dentry_name(const struct path *path, char *out)
{
	const unsigned char *name = BPF_CORE_READ(path, dentry, d_name.name);

	if (name)
		bpf_probe_read_kernel_str(out, GR_HOST_PATH_LEN, name);
}

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
		read_dentry_name(path, ev->path);
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
		read_dentry_name(to_path, ev->path);
		ev->verdict = verdict_of(&s);
		submit_event(ev);
	}
	return answer(&s);
}

SEC("lsm/unix_stream_connect")
int BPF_PROG(guard_unix_stream_connect, struct sock *sock, struct sock *other, struct sock *newsk)
{
	struct subject s;

	if (!subject_of_task(GR_GUARD_RUNTIME_SOCKETS, &s))
		return 0;
	/* The listening socket's inode: the same whatever path, symlink or hard link reached it. */
	struct inode *inode = BPF_CORE_READ((struct unix_sock *)other, path.dentry, d_inode);
	if (!inode)
		return 0;
	struct gr_inode_key key = {
		.ino = BPF_CORE_READ(inode, i_ino),
		.dev = BPF_CORE_READ(inode, i_sb, s_dev),
	};
	void *sockets = active(&runtime_socket_inodes, s.active_set);
	if (!sockets || !bpf_map_lookup_elem(sockets, &key))
		return 0;
	struct gr_host_event *ev = new_host_event(GR_EV_RUNTIME_SOCKET, GR_BACKEND_LSM, &s);
	if (ev) {
		ev->family = AF_UNIX;
		ev->ino = key.ino;
		ev->dev = key.dev;
		struct unix_address *addr = BPF_CORE_READ((struct unix_sock *)other, addr);
		if (addr)
			bpf_probe_read_kernel_str(ev->path, sizeof(ev->path),
						  &addr->name[0].sun_path[0]);
		ev->verdict = verdict_of(&s);
		submit_event(ev);
	}
	return answer(&s);
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
