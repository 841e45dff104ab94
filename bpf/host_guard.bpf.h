/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the host guards (capabilities, raw sockets, mounts, runtime sockets, bpf()) share, on
 * either backend: finding the caller's workload and its zone's policy, and reporting.
 */
#ifndef GUARDRAIL_HOST_GUARD_BPF_H
#define GUARDRAIL_HOST_GUARD_BPF_H

#include "common.bpf.h"

/* The caller, when it is a workload whose zone guards `guard`. */
struct subject {
	struct gr_workload workload;
	__u8 action;	/* enum gr_action, never GR_ACTION_NONE */
	__u8 unix_mode; /* enum gr_unix_mode */
	__u64 denied_caps;
	__u32 active_set;
	__u32 cgroup_levels; /* of the same policy state as active_set */
};

/* The calling task's workload under the policy in force (read into `state`), or NULL (also for
 * an exempt cgroup: the host's). */
static __always_inline struct gr_workload *
workload_of_caller_in_force(struct gr_policy_state *state)
{
	if (!read_policy_state(state))
		return NULL;
	void *workloads_map = active(&workloads, state->active_set);
	struct gr_workload *w =
		workloads_map ? workload_of_task(workloads_map, state->cgroup_levels) : NULL;
	return (w && (w->flags & GR_WL_EXEMPT)) ? NULL : w;
}

/* Fills `s` and returns true when the calling task is a workload and its zone guards `guard`.
 * Anything else (the rest of the host) costs one or two hash lookups and returns false. */
static __always_inline bool subject_of_task(enum gr_host_guard guard, struct subject *s)
{
	struct gr_policy_state state;
	struct gr_workload *w = workload_of_caller_in_force(&state);

	if (!w)
		return false;
	void *policies = active(&host_policy, state.active_set);
	if (!policies)
		return false;
	__u32 zone = w->zone_id;
	struct gr_host_policy *p = bpf_map_lookup_elem(policies, &zone);
	if (!p || guard >= GR_HOST_GUARDS || p->action[guard] == GR_ACTION_NONE)
		return false;
	s->workload = *w;
	s->action = p->action[guard];
	s->unix_mode = p->unix_mode;
	s->denied_caps = p->denied_caps;
	s->active_set = state.active_set;
	s->cgroup_levels = state.cgroup_levels;
	return true;
}

/* A zeroed event for the caller; NULL (and counted) when the ring buffer is full. */
static __always_inline struct gr_host_event *new_host_event(__u16 type, __u8 backend,
							    const struct subject *s)
{
	struct gr_host_event *ev = reserve_event(type, sizeof(*ev));

	if (!ev)
		return NULL;
	ev->cgroup_id = bpf_get_current_cgroup_id();
	read_caller(&ev->pid, &ev->tid, ev->comm);
	ev->workload_id = s->workload.workload_id;
	ev->zone_id = s->workload.zone_id;
	ev->backend = backend;
	return ev;
}

/* ---- Tampering: bpf() commands that take the agent's programs away (both backends) -------- */

#define BPF_F_REPLACE (1U << 2)

/* The bpf() commands that take the agent's enforcement away, or are the first step to it
 * (fetching a link or program by id, as `bpftool cgroup show` + `bpftool link detach` do).
 * BPF_PROG_ATTACH is tampering only with BPF_F_REPLACE: the agent attaches with
 * BPF_F_ALLOW_MULTI, so another program on the same cgroup can only refuse more, never less. */
static __always_inline bool is_tamper_command(__u32 cmd, __u32 attach_flags)
{
	switch (cmd) {
	case BPF_LINK_DETACH:
	case BPF_LINK_UPDATE:
	case BPF_PROG_DETACH:
	case BPF_LINK_GET_FD_BY_ID:
	case BPF_PROG_GET_FD_BY_ID:
		return true;
	case BPF_PROG_ATTACH:
		return attach_flags & BPF_F_REPLACE;
	default:
		return false;
	}
}

/* The caller's open file at `fd`; NULL for an fd that is not open. */
static __always_inline struct file *file_of_fd(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = NULL;
	struct file *file = NULL;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (!fds || bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]))
		return NULL;
	return file;
}

/* What the caller's fd refers to (file->private_data: a struct bpf_link or bpf_prog for fds
 * the bpf() call is about to use); NULL for an fd that is not open. */
static __always_inline void *fd_private_data(__u32 fd)
{
	struct file *file = file_of_fd(fd);

	return file ? BPF_CORE_READ(file, private_data) : NULL;
}

static __always_inline __u32 link_id_of_fd(__u32 fd)
{
	struct bpf_link *link = fd_private_data(fd);

	return link ? BPF_CORE_READ(link, id) : 0;
}

static __always_inline __u32 link_prog_id_of_fd(__u32 fd)
{
	struct bpf_link *link = fd_private_data(fd);

	return link ? BPF_CORE_READ(link, prog, aux, id) : 0;
}

static __always_inline __u32 prog_id_of_fd(__u32 fd)
{
	struct bpf_prog *prog = fd_private_data(fd);

	return prog ? BPF_CORE_READ(prog, aux, id) : 0;
}

/* The caller, when it is any workload: tampering is reported for every workload, whether or not
 * its zone guards bpf(); the zone's bpf action (kill, audit) applies where it has one, else deny
 * (audit for a workload in audit mode). */
static __always_inline bool workload_of_caller(struct subject *s)
{
	if (subject_of_task(GR_GUARD_BPF, s))
		return true;
	struct gr_policy_state state;
	struct gr_workload *w = workload_of_caller_in_force(&state);
	if (!w)
		return false;
	s->workload = *w;
	/* An audit-mode workload is reported, never refused (lsm/bpf). */
	s->action = (w->flags & GR_WL_AUDIT) ? GR_ACTION_AUDIT : GR_ACTION_DENY;
	s->denied_caps = 0;
	s->active_set = state.active_set;
	return true;
}

/* The first words of union bpf_attr, where the tamper commands keep their fds and ids. */
#define GR_TAMPER_ATTR_WORDS 5

/* A tamper attempt: which link and program it names. The first words of union bpf_attr hold
 * the fds or ids of these commands (BPF_PROG_ATTACH/DETACH: target_fd, attach_bpf_fd,
 * attach_type, attach_flags, replace_bpf_fd; BPF_LINK_UPDATE: link_fd, new_prog_fd, flags,
 * old_prog_fd; BPF_LINK_DETACH: link_fd; *_GET_FD_BY_ID: the id). */
static __always_inline void report_tamper(__u32 cmd, const __u32 *attr, const struct subject *s,
					  __u8 backend, __u8 verdict)
{
	struct gr_host_event *ev = new_host_event(GR_EV_TAMPER, backend, s);

	if (ev) {
		ev->op = cmd;
		switch (cmd) {
		case BPF_LINK_DETACH:
			ev->type = link_id_of_fd(attr[0]);
			ev->protocol = link_prog_id_of_fd(attr[0]);
			break;
		case BPF_LINK_UPDATE:
			ev->type = link_id_of_fd(attr[0]);
			ev->protocol = link_prog_id_of_fd(attr[0]);
			ev->flags = attr[2];
			break;
		case BPF_PROG_DETACH:
		case BPF_PROG_ATTACH:
			ev->protocol = cmd == BPF_PROG_ATTACH && attr[4] ? prog_id_of_fd(attr[4]) :
									   prog_id_of_fd(attr[1]);
			ev->family = attr[2];
			ev->flags = attr[3];
			break;
		case BPF_LINK_GET_FD_BY_ID:
			ev->type = attr[0];
			break;
		case BPF_PROG_GET_FD_BY_ID:
			ev->protocol = attr[0];
			break;
		}
		ev->verdict = verdict;
		submit_event(ev);
	}
}

/* Whether the command's first attr words are worth reading (is_tamper_command needs them). */
static __always_inline bool reads_tamper_attr(__u32 cmd)
{
	return cmd == BPF_PROG_ATTACH || cmd == BPF_LINK_DETACH || cmd == BPF_LINK_UPDATE ||
	       cmd == BPF_PROG_DETACH || cmd == BPF_LINK_GET_FD_BY_ID ||
	       cmd == BPF_PROG_GET_FD_BY_ID;
}

/* ---- Tampering with the agent's process: signals, ptrace (both backends) ------------------ */

/* The agent's tgid, or 0 when no agent registered itself (one array lookup: the first check of
 * every hook below, so the rest of the host pays only this). */
static __always_inline __u32 agent_tgid(void)
{
	__u32 zero = 0;
	struct gr_agent_state *a = bpf_map_lookup_elem(&agent_state, &zero);

	return a ? a->tgid : 0;
}

/* Whether `task` is a thread of the agent: its tgid is the agent's, and its group leader started
 * when the agent did (a process that reuses a dead agent's pid is not protected). */
static __always_inline bool is_agent_task(struct task_struct *task)
{
	__u32 zero = 0;
	struct gr_agent_state *a = bpf_map_lookup_elem(&agent_state, &zero);

	if (!a || !a->tgid || !task || BPF_CORE_READ(task, tgid) != a->tgid)
		return false;
	if (!a->ns_per_tick)
		return true;
	__u64 start = BPF_CORE_READ(task, group_leader, start_boottime);
	return start / a->ns_per_tick == a->start_ticks;
}

/* A tamper event about the agent's process (gr_tamper SIGNAL or PTRACE; see gr_host_event). */
static __always_inline void report_agent_tamper(__u8 tamper, __u32 op, __u32 access,
						__u32 target_tgid, __u32 target_tid,
						const struct subject *s, __u8 backend, __u8 verdict)
{
	struct gr_host_event *ev = new_host_event(GR_EV_TAMPER, backend, s);

	if (ev) {
		ev->tamper = tamper;
		ev->op = op;
		ev->family = access;
		ev->type = target_tgid;
		ev->protocol = target_tid;
		ev->verdict = verdict;
		submit_event(ev);
	}
}

#endif /* GUARDRAIL_HOST_GUARD_BPF_H */
