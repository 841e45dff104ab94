/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The full path of a `struct path`, for hooks where bpf_d_path is not allowed (lsm/sb_mount,
 * lsm/move_mount, ...): a bounded walk up the dentries to the root of their mount, across to the
 * parent mount at the mount point (struct mount: mnt_mountpoint, mnt_parent), and on, until the
 * caller's root (task->fs->root: a container's root or a chroot) or the root of the mount tree.
 * The path is built right to left in a per-CPU scratch buffer, so a path too long for the event
 * keeps its end (the part that names what was touched) and starts with "...".
 *
 * What it cannot see: a dentry renamed or unlinked while the walk runs (the walk reads without
 * the kernel's locks: it may then name the old place), and a path deeper than GR_PATH_MAX_STEPS
 * components and mount crossings (it keeps the deepest ones and starts with "...").
 */
#ifndef GUARDRAIL_PATH_BPF_H
#define GUARDRAIL_PATH_BPF_H

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "guardrail.h"

#define GR_PATH_SCRATCH_LEN 512 /* the longest path assembled; a power of two */
#define GR_PATH_MAX_STEPS 64	/* dentries and mount crossings walked, at most */

_Static_assert((GR_HOST_PATH_LEN & (GR_HOST_PATH_LEN - 1)) == 0,
	       "GR_HOST_PATH_LEN must be a power of two (path.bpf.h masks with it)");

/* v & mask, computed after the compiler forgot what it knew of v: it would drop a mask it can
 * prove changes nothing, and the verifier, which tracks less, needs it for the bounds. */
#define MASKED(v, mask)                \
	({                             \
		__u32 __masked = (v);  \
		barrier_var(__masked); \
		(__masked & (mask));   \
	})

/* Twice the assembled length: every write is at an offset below GR_PATH_SCRATCH_LEN of at most
 * GR_PATH_SCRATCH_LEN - 1 bytes, which the verifier can see from the masks alone. */
struct path_scratch {
	char buf[2 * GR_PATH_SCRATCH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_scratch);
} path_scratch SEC(".maps");

/* The walk's state between bpf_loop steps. The path assembled so far is
 * buf[pos, GR_PATH_SCRATCH_LEN). */
struct path_walk {
	const struct dentry *dentry;
	const struct vfsmount *vfsmnt;
	const struct dentry *root_dentry;
	const struct vfsmount *root_mnt;
	__u32 pos;
	bool done;	/* reached the caller's root or the root of the mount tree */
	bool truncated; /* a component did not fit: buf[0, ...) holds the end of it */
};

static __always_inline struct mount *mount_of(const struct vfsmount *vfsmnt)
{
	return (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

/* One step: the caller's root or the tree's root ends the walk; the root of a mount goes on at
 * its mount point in the parent mount; any other dentry prepends "/name". */
static long path_step(__u32 index, void *ctx)
{
	struct path_walk *w = ctx;
	__u32 zero = 0;
	struct path_scratch *sc = bpf_map_lookup_elem(&path_scratch, &zero);

	if (!sc)
		return 1;
	/* Kernel pointers in locals: BPF_CORE_READ relocates every access in its first argument, and
	 * struct path_walk is no kernel type. */
	const struct dentry *d = w->dentry;
	const struct vfsmount *vfsmnt = w->vfsmnt;
	if (!d || (d == w->root_dentry && vfsmnt == w->root_mnt)) {
		w->done = true;
		return 1;
	}
	const struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == BPF_CORE_READ(vfsmnt, mnt_root) || d == parent) {
		struct mount *m = mount_of(vfsmnt);
		struct mount *up = BPF_CORE_READ(m, mnt_parent);
		if (!up || up == m) { /* the root of the mount tree, or a detached mount */
			w->done = true;
			return 1;
		}
		w->dentry = BPF_CORE_READ(m, mnt_mountpoint);
		w->vfsmnt = (const struct vfsmount *)((void *)up +
						      bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	__u32 len = BPF_CORE_READ(d, d_name.len);
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	__u32 pos = w->pos;
	if (len + 1 > pos) {
		/* It does not fit: keep what fits of its end, and stop. */
		if (pos && len >= pos)
			bpf_probe_read_kernel(&sc->buf[0], MASKED(pos, GR_PATH_SCRATCH_LEN - 1),
					      name + len - pos);
		w->pos = 0;
		w->truncated = true;
		return 1;
	}
	pos -= len;
	bpf_probe_read_kernel(&sc->buf[MASKED(pos, GR_PATH_SCRATCH_LEN - 1)],
			      MASKED(len, GR_PATH_SCRATCH_LEN - 1), name);
	pos -= 1;
	sc->buf[MASKED(pos, GR_PATH_SCRATCH_LEN - 1)] = '/';
	w->pos = pos;
	w->dentry = parent;
	return 0;
}

/* Writes the full path of `path`, as the calling task names it, into `out` (GR_HOST_PATH_LEN
 * bytes, zeroed by the caller): "/mnt/target" for a mount point, "/" for the caller's root. A
 * path that does not fit, or is deeper than the walk goes, is "..." and its end. */
static __always_inline void read_full_path(const struct path *path, char *out)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct path_walk w = {
		.dentry = BPF_CORE_READ(path, dentry),
		.vfsmnt = BPF_CORE_READ(path, mnt),
		.root_dentry = BPF_CORE_READ(task, fs, root.dentry),
		.root_mnt = BPF_CORE_READ(task, fs, root.mnt),
		.pos = GR_PATH_SCRATCH_LEN,
	};
	__u32 zero = 0;

	bpf_loop(GR_PATH_MAX_STEPS, path_step, &w, 0);
	struct path_scratch *sc = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!sc)
		return;
	__u32 pos = w.pos;
	if (pos > GR_PATH_SCRATCH_LEN)
		return;
	__u32 len = GR_PATH_SCRATCH_LEN - pos;
	if (w.done && !w.truncated && len <= GR_HOST_PATH_LEN - 1) {
		if (len == 0)
			out[0] = '/';
		else
			bpf_probe_read_kernel(out, MASKED(len, GR_HOST_PATH_LEN - 1),
					      &sc->buf[MASKED(pos, GR_PATH_SCRATCH_LEN - 1)]);
		return;
	}
	/* Too long, or the walk stopped short: "..." and as much of the end as fits. */
	__u32 keep = len;
	if (keep > GR_HOST_PATH_LEN - 4)
		keep = GR_HOST_PATH_LEN - 4;
	out[0] = out[1] = out[2] = '.';
	bpf_probe_read_kernel(
		out + 3, MASKED(keep, GR_HOST_PATH_LEN - 1),
		&sc->buf[MASKED(GR_PATH_SCRATCH_LEN - keep, 2 * GR_PATH_SCRATCH_LEN - 1)]);
}

#endif /* GUARDRAIL_PATH_BPF_H */
