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

/* Fills `s` and returns true when the calling task is a workload and its zone guards `guard`.
 * Anything else (the rest of the host) costs one or two hash lookups and returns false. */
static __always_inline bool subject_of_task(enum gr_host_guard guard, struct subject *s)
{
	struct gr_policy_state state;

	if (!read_policy_state(&state))
		return false;
	void *workloads_map = active(&workloads, state.active_set);
	if (!workloads_map)
		return false;
	struct gr_workload *w = workload_of_task(workloads_map, state.cgroup_levels);
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

#endif /* GUARDRAIL_HOST_GUARD_BPF_H */
