/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Events: the ring buffer every guard reports into, the per-CPU counters that account for what
 * it could not take, and the one place a record is reserved, given its header and submitted.
 */
#ifndef GUARDRAIL_EVENTS_BPF_H
#define GUARDRAIL_EVENTS_BPF_H

#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "guardrail.h"

/* Set by the loader before load: wake the consumer only when this much data is unread; below
 * it the consumer's short poll timeout picks records up (each wakeup costs microseconds). */
const volatile __u64 wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GR_DEFAULT_RINGBUF_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GR_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count_stat(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&stats, &index);
	if (value)
		*value += 1;
}

/* A zeroed record of `size` bytes (a constant) with its header filled in: no field a guard
 * leaves unset carries kernel memory to the consumer. NULL, counted as lost, when the ring
 * buffer is full. */
static __always_inline void *reserve_event(__u16 type, __u32 size)
{
	struct gr_event_header *hdr = bpf_ringbuf_reserve(&events, size, 0);

	if (!hdr) {
		count_stat(GR_STAT_EVENTS_LOST);
		return NULL;
	}
	__builtin_memset(hdr, 0, size);
	hdr->type = type;
	hdr->version = GR_EVENT_VERSION;
	hdr->size = size;
	hdr->ts_ns = bpf_ktime_get_boot_ns();
	return hdr;
}

/* The calling task as records name it: its tgid, thread id and command name, read from the task
 * itself (one helper; bpf_get_current_pid_tgid() and bpf_get_current_comm() are two, and cost
 * about 35 ns more a record on a kernel with return-thunk mitigations). The kernel keeps comm
 * NUL-terminated and padded. */
static __always_inline void read_caller(__u32 *pid, __u32 *tid, char comm[GR_COMM_LEN])
{
	struct task_struct *task = bpf_get_current_task_btf();

	*pid = task->tgid;
	*tid = task->pid;
	__builtin_memcpy(comm, task->comm, GR_COMM_LEN);
}

/* Submits without waking the consumer until enough is unread (see wakeup_bytes), and then once:
 * only the record whose reservation carried the unread data across the threshold wakes it. A
 * consumer that is behind is awake and reading already; waking it again on every record, as
 * long as the unread data stays above the threshold, cost each record an irq_work (about
 * 600 ns here, most of a refusal's price) and bought nothing. If two producers race over the
 * crossing, both may wake it (harmless) or, rarely, neither: then the consumer's poll timeout
 * reads the batch, with three quarters of the ring still free. */
static __always_inline void submit_event(void *event)
{
	const struct gr_event_header *hdr = event;
	/* this record's share of the ring: its size and the ring's 8-byte header, rounded up */
	__u64 footprint = ((__u64)hdr->size + 8 + 7) & ~7ull;
	__u64 unread = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	bool crossed = unread >= wakeup_bytes && unread - footprint < wakeup_bytes;

	count_stat(GR_STAT_EVENTS_SUBMITTED);
	bpf_ringbuf_submit(event, crossed ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

#endif /* GUARDRAIL_EVENTS_BPF_H */
