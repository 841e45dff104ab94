// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The bare producer the pipeline suite compares the agent with: on the agent's connect4 hook,
 * every connect() to an address other than `allowed_ip4` is refused with one record of the
 * agent's own size (struct gr_net_event) reserved, filled and submitted through the agent's own
 * events.bpf.h: the same ring buffer map (size set by the loader), the same zeroing, header and
 * caller fields, and the same threshold wakeup (wakeup_bytes, a quarter of the buffer).
 * The consumer is bench/tools/pipeline_bare.c.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "../../bpf/events.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Network byte order, as bpf_sock_addr.user_ip4 holds it. */
const volatile __u32 allowed_ip4 = 0;

SEC("cgroup/connect4")
int bare_connect4(struct bpf_sock_addr *ctx)
{
	__u32 ip = ctx->user_ip4;
	__u32 port = ctx->user_port;

	if (ip == allowed_ip4)
		return 1;
	struct gr_net_event *e = reserve_event(GR_EV_NET_CONNECT, sizeof(*e));
	if (e) {
		read_caller(&e->pid, &e->tid, e->comm);
		e->cgroup_id = bpf_get_current_cgroup_id();
		e->family = 2; /* AF_INET */
		e->dport = (__u16)(((port & 0xff) << 8) | ((port >> 8) & 0xff));
		__builtin_memcpy(&e->daddr[12], &ip, 4);
		submit_event(e);
	}
	return 0;
}
