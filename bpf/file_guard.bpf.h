/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Writes that reach out of a workload, judged by the opened file (never by the spelling of its
 * path), on either backend:
 *   the host-write guard  host sysctls (/proc/sys), /proc/sysrq-trigger, sysfs, the other kernel
 *                         filesystems (securityfs, debugfs, tracefs, configfs, efivarfs, pstore,
 *                         binfmt_misc) and the host paths a zone lists (by inode, any name);
 *   the cgroup guard      cgroupfs outside the caller's workload: moving a task out (the target
 *                         cgroup's cgroup.procs or cgroup.threads), another cgroup's limits,
 *                         freeze or kill, the workload's own limits; every cgroup v1 file; and
 *                         the /proc/<pid> files of processes outside the workload (e.g. the
 *                         agent's oom_score_adj). On for every workload, whatever its zone
 *                         guards.
 * lsm/file_open refuses; the fallback judges the same file at the open syscalls' exit (detection).
 */
#ifndef GUARDRAIL_FILE_GUARD_BPF_H
#define GUARDRAIL_FILE_GUARD_BPF_H

#include "host_guard.bpf.h"

#define FMODE_WRITE 0x2
#define O_TRUNC 01000

#define PROC_SUPER_MAGIC 0x9fa0
#define SYSFS_MAGIC 0x62656572
#define CGROUP_SUPER_MAGIC 0x27e0eb
#define CGROUP2_SUPER_MAGIC 0x63677270
#define SECURITYFS_MAGIC 0x73636673
#define DEBUGFS_MAGIC 0x64626720
#define TRACEFS_MAGIC 0x74726163
#define CONFIGFS_MAGIC 0x62656570
#define EFIVARFS_MAGIC 0xde5e81e4
#define PSTOREFS_MAGIC 0x6165676c
#define BINFMTFS_MAGIC 0x42494e4d

/* What judge_write_open() found: the event's kind and fields. */
struct write_verdict {
	__u16 type; /* GR_EV_HOST_WRITE or GR_EV_CGROUP_ESCAPE; 0 to allow */
	__u32 op;   /* enum gr_host_write_target or enum gr_cgroup_escape */
	__u32 peer_workload_id;
	__u32 target_pid; /* GR_ESCAPE_OTHER_PROCESS */
};

/* A write open: the file is written, or truncated (O_TRUNC truncates a file opened read-only). */
static __always_inline bool opens_for_write(const struct file *file)
{
	return (BPF_CORE_READ(file, f_mode) & FMODE_WRITE) || (BPF_CORE_READ(file, f_flags) & O_TRUNC);
}

/* The caller as a workload for a guard that may be on for every workload (`always`): the zone's
 * action, else deny (NONE in an always-on slot means deny); audit mode reports only. */
static __always_inline bool subject_for_guard(enum gr_host_guard guard, bool always,
					      struct subject *s, __u8 *hp_flags)
{
	struct gr_policy_state state;
	struct gr_workload *w = workload_of_caller_in_force(&state);

	if (!w)
		return false;
	void *policies = active(&host_policy, state.active_set);
	__u32 zone = w->zone_id;
	struct gr_host_policy *p = policies ? bpf_map_lookup_elem(policies, &zone) : NULL;
	__u8 action = p && guard < GR_HOST_GUARD_SLOTS ? p->action[guard] : GR_ACTION_NONE;
	if (action == GR_ACTION_NONE) {
		if (!always)
			return false;
		action = GR_ACTION_DENY;
	}
	if ((w->flags & GR_WL_AUDIT) && action != GR_ACTION_NONE)
		action = GR_ACTION_AUDIT;
	s->workload = *w;
	s->action = action;
	s->unix_mode = 0;
	s->denied_caps = 0;
	s->active_set = state.active_set;
	s->cgroup_levels = state.cgroup_levels;
	*hp_flags = p ? p->flags : 0;
	return true;
}

/* ---- The cgroup guard ----------------------------------------------------------------------- */

/* The cgroup whose subtree is the caller's workload: the cgroup where its workload entry sits,
 * or, for a child judged by a placeholder, the placeholder's child it lives in (each child nobody
 * identified yet is a workload of its own, never one with its siblings). */
struct workload_root {
	__u64 id;
	int level;
};

static __always_inline struct cgroup *cgroup_ancestor(struct cgroup *cg, int level)
{
	struct cgroup *anc = NULL;

	bpf_core_read(&anc, sizeof(anc), &cg->ancestors[level]);
	return anc;
}

static __always_inline __u64 cgroup_id_of(struct cgroup *cg)
{
	return cg ? BPF_CORE_READ(cg, kn, id) : 0;
}

static __always_inline bool caller_workload_root(const struct subject *s, struct workload_root *root)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct cgroup *cg = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	void *workloads_map = active(&workloads, s->active_set);

	if (!cg || !workloads_map)
		return false;
	int own_level = BPF_CORE_READ(cg, level);
	root->id = cgroup_id_of(cg);
	root->level = own_level;
	struct gr_workload *w = bpf_map_lookup_elem(workloads_map, &root->id);
	if (w && !(w->flags & GR_WL_PLACEHOLDER))
		return true;
	for (int level = GR_MAX_CGROUP_DEPTH; level >= 1; level--) {
		if (!(s->cgroup_levels & (1u << level)) || level >= own_level)
			continue;
		__u64 id = cgroup_id_of(cgroup_ancestor(cg, level));
		w = bpf_map_lookup_elem(workloads_map, &id);
		if (!w)
			continue;
		if (w->flags & GR_WL_PLACEHOLDER) {
			root->level = level + 1;
			root->id = cgroup_id_of(cgroup_ancestor(cg, (level + 1) & 31));
		} else {
			root->level = level;
			root->id = id;
		}
		return true;
	}
	return false;
}

/* Whether `cg` is the workload cgroup or below it. */
static __always_inline bool in_workload_subtree(struct cgroup *cg, const struct workload_root *root)
{
	return cg && BPF_CORE_READ(cg, level) >= root->level &&
	       cgroup_id_of(cgroup_ancestor(cg, root->level & 31)) == root->id;
}

/* The cgroup of a cgroup2 directory's dentry; NULL for any other dentry. */
static __always_inline struct cgroup *cgroup_of_dir(const struct dentry *dir)
{
	if (!dir || BPF_CORE_READ(dir, d_sb, s_magic) != CGROUP2_SUPER_MAGIC)
		return NULL;
	/* kernfs keeps a dentry's node in its inode's i_private (kernfs_dentry_node()). */
	struct kernfs_node *kn = BPF_CORE_READ(dir, d_inode, i_private);
	return kn ? BPF_CORE_READ(kn, priv) : NULL;
}

/* Whether a NUL-terminated name read into a buffer equals `want` (len counts its NUL). */
static __always_inline bool name_is(const char *name, const char *want, int len)
{
	for (int i = 0; i < len; i++)
		if (name[i] != want[i])
			return false;
	return true;
}

/* The core files a workload may write in its own workload cgroup: moving its tasks within its
 * subtree, handing controllers to its children, freezing or killing itself. Everything else
 * there (memory.max, pids.max, cgroup.max.descendants, ...) are the limits set on it. */
static __always_inline bool own_cgroup_file_allowed(const struct dentry *dentry)
{
	char name[24] = {};

	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(dentry, d_name.name));
	return name_is(name, "cgroup.procs", 13) || name_is(name, "cgroup.threads", 15) ||
	       name_is(name, "cgroup.subtree_control", 23) || name_is(name, "cgroup.freeze", 14) ||
	       name_is(name, "cgroup.kill", 12);
}

/* A cgroup2 file opened for write: allowed in the caller's workload subtree (any file of a
 * cgroup strictly below its workload cgroup, the core files of the workload cgroup itself),
 * refused anywhere else. */
static __always_inline bool judge_cgroup2_write(const struct subject *s, const struct dentry *dentry,
						struct write_verdict *v)
{
	struct workload_root root;
	struct cgroup *target = cgroup_of_dir(BPF_CORE_READ(dentry, d_parent));

	if (!target || !caller_workload_root(s, &root))
		return false; /* no cgroup behind it, or a caller no workload claims after all */
	if (in_workload_subtree(target, &root) &&
	    (BPF_CORE_READ(target, level) > root.level || own_cgroup_file_allowed(dentry)))
		return false;
	void *workloads_map = active(&workloads, s->active_set);
	if (workloads_map) {
		struct gr_workload *peer =
			workload_of_cgroup_struct(workloads_map, s->cgroup_levels, target);
		if (peer)
			v->peer_workload_id = peer->workload_id;
	}
	v->type = GR_EV_CGROUP_ESCAPE;
	v->op = GR_ESCAPE_OPEN;
	return true;
}

/* The process a procfs file belongs to (/proc/<pid>/..., /proc/<pid>/task/<tid>/...), or NULL
 * for procfs files of no process (sysctls, /proc/meminfo): every procfs inode sits in a
 * struct proc_inode, whose pid is set for per-process files only. */
static __always_inline struct task_struct *procfs_task(const struct dentry *dentry)
{
	struct inode *inode = BPF_CORE_READ(dentry, d_inode);
	struct proc_inode *pi = (void *)inode - bpf_core_field_offset(struct proc_inode, vfs_inode);
	struct pid *pid = BPF_CORE_READ(pi, pid);
	if (!pid)
		return NULL;
	struct hlist_node *first = BPF_CORE_READ(pid, tasks[0].first); /* PIDTYPE_PID */
	if (!first)
		return NULL;
	return (void *)first - bpf_core_field_offset(struct task_struct, pid_links);
}

/* A write open of another process's /proc files: refused unless that process lives in the
 * caller's workload (its own oom_score_adj, its children's uid_map are its own business). */
static __always_inline bool judge_procfs_process_write(const struct subject *s,
						       struct task_struct *task,
						       struct write_verdict *v)
{
	struct workload_root root;
	struct cgroup *cg = BPF_CORE_READ(task, cgroups, dfl_cgrp);

	if (!caller_workload_root(s, &root) || in_workload_subtree(cg, &root))
		return false;
	void *workloads_map = active(&workloads, s->active_set);
	if (workloads_map) {
		struct gr_workload *peer = workload_of_cgroup_struct(workloads_map, s->cgroup_levels, cg);
		if (peer)
			v->peer_workload_id = peer->workload_id;
	}
	v->type = GR_EV_CGROUP_ESCAPE;
	v->op = GR_ESCAPE_OTHER_PROCESS;
	v->target_pid = BPF_CORE_READ(task, tgid);
	return true;
}

/* ---- The host-write guard ------------------------------------------------------------------- */

/* A procfs file: a sysctl (anything under the filesystem's top-level "sys") or sysrq-trigger. */
static __always_inline __u32 procfs_target(const struct dentry *dentry)
{
	const struct dentry *d = dentry;

	for (int i = 0; i < GR_HOST_WRITE_DEPTH; i++) {
		const struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (!parent || parent == d)
			return 0; /* the procfs root itself */
		if (BPF_CORE_READ(parent, d_parent) == parent) {
			char name[16] = {};
			bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(d, d_name.name));
			if (name_is(name, "sys", 4))
				return GR_WRITE_SYSCTL;
			if (name_is(name, "sysrq-trigger", 14))
				return GR_WRITE_SYSRQ;
			return 0;
		}
		d = parent;
	}
	return 0;
}

/* The file itself or a directory above it (within its filesystem) is a host path the zone
 * lists: matched by inode, so every name of it counts (a symlink, a bind mount). */
static __always_inline bool under_listed_path(const struct subject *s, const struct dentry *dentry)
{
	void *listed = active(&host_write_inodes, s->active_set);
	const struct dentry *d = dentry;

	if (!listed)
		return false;
	struct gr_zone_inode_key key = { .zone_id = s->workload.zone_id };
	key.dev = BPF_CORE_READ(dentry, d_sb, s_dev);
	for (int i = 0; i < GR_HOST_WRITE_DEPTH; i++) {
		key.ino = BPF_CORE_READ(d, d_inode, i_ino);
		if (bpf_map_lookup_elem(listed, &key))
			return true;
		const struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (!parent || parent == d)
			return false;
		d = parent;
	}
	return false;
}

static __always_inline __u32 host_write_target(const struct subject *s, __u8 hp_flags,
					       const struct dentry *dentry, unsigned long magic)
{
	switch (magic) {
	case PROC_SUPER_MAGIC: {
		__u32 target = procfs_target(dentry);
		if (target)
			return target;
		break;
	}
	case SYSFS_MAGIC:
		return GR_WRITE_SYSFS;
	case SECURITYFS_MAGIC:
	case DEBUGFS_MAGIC:
	case TRACEFS_MAGIC:
	case CONFIGFS_MAGIC:
	case EFIVARFS_MAGIC:
	case PSTOREFS_MAGIC:
	case BINFMTFS_MAGIC:
		return GR_WRITE_KERNEL_FS;
	}
	if ((hp_flags & GR_HP_WRITE_PATHS) && under_listed_path(s, dentry))
		return GR_WRITE_HOST_PATH;
	return 0;
}

/* ---- Both ------------------------------------------------------------------------------------ */

/* Whether a write open of `file` by the caller is refused (or, on the fallback, reported): fills
 * `s` with the caller and the guard's action, `v` with what was reached. Costs one workload
 * lookup for a caller that is no workload. */
static __always_inline bool judge_write_open(const struct file *file, struct subject *s,
					     struct write_verdict *v)
{
	const struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
	unsigned long magic = BPF_CORE_READ(dentry, d_sb, s_magic);
	__u8 hp_flags = 0;

	if (magic == CGROUP2_SUPER_MAGIC || magic == CGROUP_SUPER_MAGIC) {
		if (!subject_for_guard(GR_GUARD_CGROUPS, true, s, &hp_flags))
			return false;
		if (magic == CGROUP2_SUPER_MAGIC)
			return judge_cgroup2_write(s, dentry, v);
		v->type = GR_EV_CGROUP_ESCAPE;
		v->op = GR_ESCAPE_CGROUP_V1;
		return true;
	}
	if (magic == PROC_SUPER_MAGIC) {
		struct task_struct *task = procfs_task(dentry);
		if (task) {
			if (!subject_for_guard(GR_GUARD_CGROUPS, true, s, &hp_flags))
				return false;
			return judge_procfs_process_write(s, task, v);
		}
	}
	if (!subject_for_guard(GR_GUARD_HOST_WRITES, false, s, &hp_flags))
		return false;
	v->op = host_write_target(s, hp_flags, dentry, magic);
	if (!v->op)
		return false;
	v->type = GR_EV_HOST_WRITE;
	return true;
}

/* The event of a refused (or reported) write open, with everything but the path. */
static __always_inline struct gr_host_event *new_write_event(const struct file *file,
							     const struct subject *s,
							     const struct write_verdict *v,
							     __u8 backend, __u8 verdict)
{
	struct gr_host_event *ev = new_host_event(v->type, backend, s);

	if (!ev)
		return NULL;
	const struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
	ev->op = v->op;
	ev->flags = BPF_CORE_READ(file, f_flags);
	ev->ino = BPF_CORE_READ(dentry, d_inode, i_ino);
	ev->dev = BPF_CORE_READ(dentry, d_sb, s_dev);
	ev->peer_workload_id = v->peer_workload_id;
	ev->type = v->target_pid;
	const char *fs_name = BPF_CORE_READ(dentry, d_sb, s_type, name);
	if (fs_name)
		bpf_probe_read_kernel_str(ev->fstype, sizeof(ev->fstype), fs_name);
	ev->verdict = verdict;
	return ev;
}

#endif /* GUARDRAIL_FILE_GUARD_BPF_H */
