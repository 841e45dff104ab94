// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Coverage from birth under a parent that containers share with host services (the systemd
 * cgroup driver's /system.slice/docker-<id>.scope): no placeholder can be bound there, since every
 * host service would fall to the default zone. The agent binds such a parent as exempt with
 * GR_WL_BIRTH_PARENT instead, and this program, at the mkdir of each of its children, binds a
 * child named as a runtime names its container scopes (GR_RUNTIME_SCOPE_PREFIXES) as a
 * GR_WL_BORN workload of the parent entry's zone. The tracepoint fires before the new cgroup is
 * visible in cgroupfs (kernfs_activate comes after it), so no process can be in the cgroup
 * before its entry is: the container is judged from its first instruction, with no agent.
 * Host services and any other child stay the host's.
 */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Whether `name` (n bytes read, its NUL included) is prefix (plen bytes), the container id and
 * GR_RUNTIME_SCOPE_SUFFIX. Called with constants for prefix and plen, so every offset is fixed. */
static __always_inline bool runtime_scope(const char *name, int n, const char *prefix, int plen)
{
	const char suffix[] = GR_RUNTIME_SCOPE_SUFFIX;
	const int slen = sizeof(suffix) - 1;

	if (n != plen + GR_RUNTIME_SCOPE_ID_LEN + slen + 1)
		return false;
	for (int i = 0; i < plen; i++)
		if (name[i] != prefix[i])
			return false;
	for (int i = 0; i < GR_RUNTIME_SCOPE_ID_LEN; i++)
		if (!is_lower_hex(name[plen + i]))
			return false;
	for (int i = 0; i < slen; i++)
		if (name[plen + GR_RUNTIME_SCOPE_ID_LEN + i] != suffix[i])
			return false;
	return true;
}

static __always_inline bool named_as_container(const char *name, int n)
{
#define GR_MATCH_PREFIX(p)                                      \
	if (runtime_scope(name, n, p, (int)sizeof(p) - 1)) \
		return true;
	GR_RUNTIME_SCOPE_PREFIXES(GR_MATCH_PREFIX)
#undef GR_MATCH_PREFIX
	return false;
}

/* Binds `id` in one policy set when that set names its parent as a birth parent for this level.
 * BPF_NOEXIST: an entry there already (the agent's) is never overwritten. */
static __always_inline void bind_born(__u32 set, __u64 parent_id, __u64 id, int level)
{
	void *map = active(&workloads, set);
	if (!map)
		return;
	struct gr_workload *parent = bpf_map_lookup_elem(map, &parent_id);
	if (!parent || (parent->flags & (GR_WL_EXEMPT | GR_WL_BIRTH_PARENT)) !=
			       (GR_WL_EXEMPT | GR_WL_BIRTH_PARENT))
		return;
	const __u32 reserved = parent->reserved;
	if (GR_BIRTH_LEVEL(reserved) != (__u32)level)
		return;
	struct gr_workload born = {
		.workload_id = parent->workload_id,
		.zone_id = parent->zone_id,
		.flags = GR_BIRTH_FLAGS(reserved) | GR_WL_BORN,
	};
	bpf_map_update_elem(map, &id, &born, BPF_NOEXIST);
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(birth_mkdir, struct cgroup *cgrp, const char *path)
{
	/* cgroup v2 only (its hierarchy id is 0): the workloads map holds v2 ids, and a v1
	 * hierarchy (systemd's name=systemd on a hybrid host) makes the same names. */
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	const int level = BPF_CORE_READ(cgrp, level);
	if (level < 2 || level > GR_MAX_CGROUP_DEPTH)
		return 0;
	char name[GR_RUNTIME_SCOPE_NAME_MAX + 8];
	const int n = bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(cgrp, kn, name));
	if (n <= 0 || !named_as_container(name, n))
		return 0;
	struct gr_policy_state state;
	if (!read_policy_state(&state))
		return 0;
	const __u64 id = BPF_CORE_READ(cgrp, kn, id);
	const __u64 parent_id = BPF_CORE_READ(cgrp, self.parent, cgroup, kn, id);
	/* Both sets: the agent may be filling the inactive one for its next swap. The active one
	 * first: the agent fills a set's parent entries before it copies the active set's born
	 * entries into it, so a mkdir it races with lands in one of the two ways. */
	bind_born(state.active_set, parent_id, id, level);
	bind_born(state.active_set ^ 1, parent_id, id, level);
	return 0;
}
