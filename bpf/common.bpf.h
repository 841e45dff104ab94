/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every Guardrail BPF object shares: the maps the agent fills (created by the maps-only
 * object policy_maps.bpf.c and reused by fd in the guard objects), the policy state and the
 * workload lookup.
 * Events are in events.bpf.h.
 * Include after defining GR_MAPS_OWNER in exactly one object: policy_maps.bpf.c.
 */
#ifndef GUARDRAIL_COMMON_BPF_H
#define GUARDRAIL_COMMON_BPF_H

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "guardrail.h"
#include "events.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define AF_UNIX 1
#define AF_PACKET 17
#define SOCK_RAW 3
#define EPERM 1
#define SIGKILL 9

/* Every shared key and value type in full in BTF: libbpf sizes a map's key and value from BTF,
 * and clang emits a type that an object only names through a pointer as a bare forward
 * declaration. Never read. */
const volatile struct {
	struct gr_workload workload;
	struct gr_host_policy host_policy;
	struct gr_inode_key inode_key;
	struct gr_unix_path_key unix_path_key;
	struct gr_zone_unix_path_key zone_unix_path_key;
	struct gr_zone_inode_key zone_inode_key;
	struct gr_policy_state policy_state;
	struct gr_agent_state agent_state;
} gr_btf_types = {};

/*
 * The policy lives in two sets of maps behind ARRAY_OF_MAPS. The agent fills the set the
 * programs are not reading, then flips policy_state.active_set: a policy change takes effect
 * whole, never half applied. The owner object creates both sets; the others only declare the
 * outer map, whose fd the loader hands them.
 */
#define POLICY_MAP_SET(name, map_type, max, key_type, value_type, flags) \
	struct name##_set {                                              \
		__uint(type, map_type);                                  \
		__uint(max_entries, max);                                \
		__uint(map_flags, flags);                                \
		__type(key, key_type);                                   \
		__type(value, value_type);                               \
	}
#define POLICY_MAP_OUTER(name)                            \
	struct {                                          \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); \
		__uint(max_entries, 2);                   \
		__type(key, __u32);                       \
		__array(values, struct name##_set);       \
	} name SEC(".maps")
/* Both sets and the outer map that holds them (the owner's form). */
#define POLICY_MAP_WITH_SETS(name, map_type, max, key_type, value_type, flags) \
	POLICY_MAP_SET(name, map_type, max, key_type, value_type, flags);      \
	struct name##_set name##_0 SEC(".maps");                               \
	struct name##_set name##_1 SEC(".maps");                               \
	POLICY_MAP_OUTER(name) = { .values = { &name##_0, &name##_1 } }
#ifdef GR_MAPS_OWNER
#define POLICY_MAP(name, map_type, max, key_type, value_type, flags) \
	POLICY_MAP_WITH_SETS(name, map_type, max, key_type, value_type, flags)
#else
#define POLICY_MAP(name, map_type, max, key_type, value_type, flags)      \
	POLICY_MAP_SET(name, map_type, max, key_type, value_type, flags); \
	POLICY_MAP_OUTER(name)
#endif

/* cgroup id -> workload */
POLICY_MAP(workloads, BPF_MAP_TYPE_HASH, GR_MAX_WORKLOAD_CGROUPS, __u64, struct gr_workload, 0);
/* zone id -> host guard policy */
POLICY_MAP(host_policy, BPF_MAP_TYPE_ARRAY, GR_ZONE_ID_MAX + 1, __u32, struct gr_host_policy, 0);
/* runtime sockets by inode (LSM) and by path (cgroup/connect_unix) -> index in the policy */
POLICY_MAP(runtime_socket_inodes, BPF_MAP_TYPE_HASH, GR_MAX_RUNTIME_SOCKETS, struct gr_inode_key, __u32, 0);
POLICY_MAP(runtime_socket_paths, BPF_MAP_TYPE_HASH, GR_MAX_RUNTIME_SOCKETS, struct gr_unix_path_key, __u32, 0);
/* allowlist zones: (zone, unix address as allowed) and (zone, inode of an allowed path) */
POLICY_MAP(unix_allow_paths, BPF_MAP_TYPE_HASH, GR_MAX_UNIX_ALLOW, struct gr_zone_unix_path_key, __u32, 0);
POLICY_MAP(unix_allow_inodes, BPF_MAP_TYPE_HASH, GR_MAX_UNIX_ALLOW, struct gr_zone_inode_key, __u32, 0);
/* host-write guard: (zone, inode of a listed host path) */
POLICY_MAP(host_write_inodes, BPF_MAP_TYPE_HASH, GR_MAX_HOST_WRITE_PATHS, struct gr_zone_inode_key, __u32, 0);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gr_policy_state);
} policy_state SEC(".maps");

/* Who the agent is (its tgid and start time, see gr_agent_state): the agent writes it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gr_agent_state);
} agent_state SEC(".maps");

/* The policy state, read once per invocation so one invocation judges by one policy. */
static __always_inline bool read_policy_state(struct gr_policy_state *out)
{
	__u32 zero = 0;
	struct gr_policy_state *s = bpf_map_lookup_elem(&policy_state, &zero);

	if (!s)
		return false;
	*out = *s;
	return true;
}

static __always_inline void *active(void *outer, __u32 set)
{
	return bpf_map_lookup_elem(outer, &set);
}

/*
 * The calling task's cgroup (v2) id, as bpf_get_current_cgroup_id() gives it, read through the
 * task's BTF: the helper takes and drops an RCU read lock of its own (two more calls, which on a
 * kernel with return-thunk mitigations cost about 30 ns), while a BPF program already runs
 * inside one. The hot connect/sendmsg paths read it once per call. 0 only if a read faulted:
 * then the helper answers.
 */
static __always_inline __u64 current_cgroup_id(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id = task->cgroups->dfl_cgrp->kn->id;

	return id ? id : bpf_get_current_cgroup_id();
}

/* Where a workload lookup starts: the calling task's cgroup, the cgroup of the socket that owns a
 * packet (cgroup_skb also runs in softirq context, where the current task is anybody's), or the
 * cgroup of a socket found by bpf_sk_lookup_*(). Callers pass a constant, so each program keeps
 * only the helpers its type may call. */
enum cgroup_origin {
	CGROUP_OF_TASK,
	CGROUP_OF_SKB,
	CGROUP_OF_SOCK,
};

static __always_inline __u64 origin_cgroup_id(enum cgroup_origin origin, void *obj)
{
	if (origin == CGROUP_OF_SKB)
		return bpf_skb_cgroup_id(obj);
	if (origin == CGROUP_OF_SOCK)
		return bpf_sk_cgroup_id(obj);
	return bpf_get_current_cgroup_id();
}

/* The id of the origin's ancestor at `level` (the root is level 0); 0 above the cgroup itself. */
static __always_inline __u64 origin_ancestor_id(enum cgroup_origin origin, void *obj, int level)
{
	if (origin == CGROUP_OF_SKB)
		return bpf_skb_ancestor_cgroup_id(obj, level);
	if (origin == CGROUP_OF_SOCK)
		return bpf_sk_ancestor_cgroup_id(obj, level);
	return bpf_get_current_ancestor_cgroup_id(level);
}

/* The workload that owns the origin's cgroup: the cgroup itself, else its ancestor at each level
 * where workload cgroups sit, deepest first. A placeholder entry counts for descendants only: a
 * cgroup made after the last scan under a selector's parent is judged as the placeholder's
 * workload from its first instruction, the parent itself is no workload. A cgroup that is no
 * workload's costs one lookup per such level (usually one or two). */
static __always_inline struct gr_workload *workload_of_cgroup_id(void *workloads_map, __u32 levels,
								 enum cgroup_origin origin, void *obj,
								 __u64 self)
{
	struct gr_workload *w = bpf_map_lookup_elem(workloads_map, &self);

	if (w && !(w->flags & GR_WL_PLACEHOLDER))
		return w;
	if (!levels)
		return NULL;
	for (int level = GR_MAX_CGROUP_DEPTH; level >= 1; level--) {
		if (!(levels & (1u << level)))
			continue;
		__u64 id = origin_ancestor_id(origin, obj, level);
		if (!id || id == self)
			continue;
		w = bpf_map_lookup_elem(workloads_map, &id);
		if (w)
			return w;
	}
	return NULL;
}

static __always_inline struct gr_workload *workload_of_cgroup(void *workloads_map, __u32 levels,
							      enum cgroup_origin origin, void *obj)
{
	return workload_of_cgroup_id(workloads_map, levels, origin, obj,
				     origin_cgroup_id(origin, obj));
}

/* The workload of the calling task (hooks that run in the task's context). */
static __always_inline struct gr_workload *workload_of_task(void *workloads_map, __u32 levels)
{
	return workload_of_cgroup(workloads_map, levels, CGROUP_OF_TASK, NULL);
}

/* The same, when the caller read its cgroup id already. */
static __always_inline struct gr_workload *workload_of_task_cgroup(void *workloads_map,
								   __u32 levels, __u64 cgroup_id)
{
	return workload_of_cgroup_id(workloads_map, levels, CGROUP_OF_TASK, NULL, cgroup_id);
}

/* The workload of the socket that owns the packet (cgroup_skb). */
static __always_inline struct gr_workload *workload_of_skb(void *workloads_map, __u32 levels,
							   struct __sk_buff *skb)
{
	return workload_of_cgroup(workloads_map, levels, CGROUP_OF_SKB, skb);
}

/* The workload that owns a cgroup given by its kernel struct (for hooks without a cgroup-id
 * helper for the object at hand), by the rules of workload_of_cgroup. */
static __always_inline struct gr_workload *
workload_of_cgroup_struct(void *workloads_map, __u32 levels, struct cgroup *cg)
{
	if (!cg)
		return NULL;
	__u64 id = BPF_CORE_READ(cg, kn, id);
	struct gr_workload *w = bpf_map_lookup_elem(workloads_map, &id);
	if (w && !(w->flags & GR_WL_PLACEHOLDER))
		return w;
	if (!levels)
		return NULL;
	int own_level = BPF_CORE_READ(cg, level);
	for (int level = GR_MAX_CGROUP_DEPTH; level >= 1; level--) {
		if (!(levels & (1u << level)) || level >= own_level)
			continue;
		struct cgroup *ancestor = NULL;
		bpf_core_read(&ancestor, sizeof(ancestor), &cg->ancestors[level]);
		if (!ancestor)
			continue;
		id = BPF_CORE_READ(ancestor, kn, id);
		w = bpf_map_lookup_elem(workloads_map, &id);
		if (w)
			return w;
	}
	return NULL;
}

/* The workload that owns a kernel socket: the cgroup the socket was made in (sk_cgrp_data). */
static __always_inline struct gr_workload *workload_of_kernel_sock(void *workloads_map,
								   __u32 levels, struct sock *sk)
{
	return workload_of_cgroup_struct(workloads_map, levels,
					 BPF_CORE_READ(sk, sk_cgrp_data.cgroup));
}

/* The workload of a socket that bpf_sk_lookup_*() found (cgroup_skb). */
static __always_inline struct gr_workload *workload_of_sock(void *workloads_map, __u32 levels,
							    struct bpf_sock *sk)
{
	return workload_of_cgroup(workloads_map, levels, CGROUP_OF_SOCK, sk);
}

#endif /* GUARDRAIL_COMMON_BPF_H */
