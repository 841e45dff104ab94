/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The full path of a struct path as the caller sees it, for hooks where bpf_d_path is not
 * allowed: the dentry names up to the mount's root, across each mount to its mount point, until
 * the caller's root directory (or the root of the mount tree). Bounded: a path deeper than
 * DENTRY_PATH_DEPTH components, or longer than the event field, keeps its end and starts with
 * "...".
 */
#ifndef GUARDRAIL_DENTRY_PATH_BPF_H
#define GUARDRAIL_DENTRY_PATH_BPF_H

#include "common.bpf.h"

#define DENTRY_PATH_DEPTH 32
#define DENTRY_PATH_BUF 512 /* built right to left; offsets are masked to half of it */
#define DENTRY_NAME_MAX 255

struct dentry_path_scratch {
	char buf[DENTRY_PATH_BUF];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dentry_path_scratch);
} dentry_path_scratch SEC(".maps");

/* The walk's state, one step per bpf_loop() iteration: the verifier checks the step once
 * instead of every path through an unrolled loop. */
struct dentry_walk {
	const struct dentry *d;
	const struct vfsmount *vfsmnt;
	struct mount *mnt;
	const struct dentry *root_dentry;
	const struct vfsmount *root_mnt;
	__u32 pos; /* the path so far is buf[pos, DENTRY_PATH_BUF / 2) */
	bool truncated;
};

static long dentry_walk_step(__u32 index, void *arg)
{
	struct dentry_walk *w = arg;
	__u32 zero = 0;
	struct dentry_path_scratch *sc = bpf_map_lookup_elem(&dentry_path_scratch, &zero);

	if (!sc)
		return 1;
	/* Locals, never w->x inside BPF_CORE_READ: the walk's own struct has no kernel BTF. */
	const struct dentry *d = w->d;
	const struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;

	if (d == w->root_dentry && vfsmnt == w->root_mnt) {
		w->truncated = false;
		return 1;
	}
	if (d == BPF_CORE_READ(vfsmnt, mnt_root) || d == BPF_CORE_READ(d, d_parent)) {
		struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);
		if (!parent || parent == mnt) {
			w->truncated = false; /* the root of the mount tree */
			return 1;
		}
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = parent;
		w->vfsmnt = (void *)parent + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}
	__u32 len = BPF_CORE_READ(d, d_name.len);
	__u32 pos = w->pos;
	if (len > DENTRY_NAME_MAX || len + 1 >= pos)
		return 1; /* no room left: keep what was built, marked truncated */
	pos -= len + 1;
	sc->buf[pos & (DENTRY_PATH_BUF / 2 - 1)] = '/';
	bpf_probe_read_kernel(&sc->buf[(pos + 1) & (DENTRY_PATH_BUF / 2 - 1)], len & DENTRY_NAME_MAX,
			      BPF_CORE_READ(d, d_name.name));
	w->pos = pos;
	w->d = BPF_CORE_READ(d, d_parent);
	return 0;
}

/* Writes the path into `out` (GR_HOST_PATH_LEN bytes). */
static __always_inline void read_dentry_path(const struct path *path, char *out)
{
	__u32 zero = 0;
	struct dentry_path_scratch *sc = bpf_map_lookup_elem(&dentry_path_scratch, &zero);

	if (!sc)
		return;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct dentry_walk w = {
		.d = BPF_CORE_READ(path, dentry),
		.vfsmnt = BPF_CORE_READ(path, mnt),
		.root_dentry = BPF_CORE_READ(task, fs, root.dentry),
		.root_mnt = BPF_CORE_READ(task, fs, root.mnt),
		.pos = DENTRY_PATH_BUF / 2,
		.truncated = true,
	};
	/* struct mount around the vfsmount, by the CO-RE offset (it moved between kernels). */
	w.mnt = (void *)w.vfsmnt - bpf_core_field_offset(struct mount, mnt);
	sc->buf[DENTRY_PATH_BUF / 2] = 0;
	bpf_loop(DENTRY_PATH_DEPTH, dentry_walk_step, &w, 0);

	__u32 len = (DENTRY_PATH_BUF / 2 - w.pos) & (DENTRY_PATH_BUF / 2 - 1);
	if (len == 0) {
		out[0] = '/';
		out[1] = 0;
		return;
	}
	if (w.truncated || len > GR_HOST_PATH_LEN - 2) {
		/* Keep the end: "..." and the last bytes that fit, with the NUL. */
		__u32 keep = len;
		if (keep > GR_HOST_PATH_LEN - 4)
			keep = GR_HOST_PATH_LEN - 4;
		out[0] = out[1] = out[2] = '.';
		bpf_probe_read_kernel(&out[3], keep + 1,
				      &sc->buf[(DENTRY_PATH_BUF / 2 - keep) & (DENTRY_PATH_BUF / 2 - 1)]);
		return;
	}
	bpf_probe_read_kernel(out, len + 1, &sc->buf[w.pos & (DENTRY_PATH_BUF / 2 - 1)]);
}

#endif /* GUARDRAIL_DENTRY_PATH_BPF_H */
