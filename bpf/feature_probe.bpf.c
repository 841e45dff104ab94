// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Feature probe: one tiny program per kernel feature a guard backend needs. `guardrail probe`
 * opens this skeleton once per feature, turns autoload off for every program but the ones
 * under test, and loads (and where it can, attaches) them: the only reliable answer to "does
 * this kernel allow X" is to ask the kernel. Every program is a no-op that allows everything,
 * so a probe that attaches for a moment changes nothing on the host.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "guardrail.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Used only by probe_send_signal, which also proves the ring buffer helpers pass the verifier.
 * One page: the probe never writes to it, and it is created only for that feature. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_events SEC(".maps");

/* Written by nobody: a plain global (not const volatile) so the verifier cannot prove the
 * bpf_send_signal branch dead and skip checking that the helper is allowed. */
__u32 probe_kill_tgid;

/* network guard: cgroup_skb */
SEC("cgroup_skb/egress")
int probe_cgroup_skb(struct __sk_buff *skb)
{
	return 1;
}

/* network guard: cgroup_sock_addr (all four hooks the guard uses) */
SEC("cgroup/connect4")
int probe_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/connect6")
int probe_connect6(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/sendmsg4")
int probe_sendmsg4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/sendmsg6")
int probe_sendmsg6(struct bpf_sock_addr *ctx)
{
	return 1;
}

/* runtime-sockets fallback (kernel >= 6.7, libbpf >= 1.3) */
SEC("cgroup/connect_unix")
int probe_connect_unix(struct bpf_sock_addr *ctx)
{
	return 1;
}

/* raw-sockets fallback */
SEC("cgroup/sock_create")
int probe_sock_create(struct bpf_sock *sk)
{
	return 1;
}

/* BPF-LSM: one program per guard's preferred hook. LSM programs return 0 to allow. */
SEC("lsm/socket_create")
int BPF_PROG(probe_lsm_socket_create, int family, int type, int protocol, int kern, int ret)
{
	return ret;
}

SEC("lsm/socket_connect")
int BPF_PROG(probe_lsm_socket_connect, struct socket *sock, struct sockaddr *address, int addrlen,
	     int ret)
{
	return ret;
}

SEC("lsm/capable")
int BPF_PROG(probe_lsm_capable, const struct cred *cred, struct user_namespace *ns, int cap,
	     unsigned int opts, int ret)
{
	return ret;
}

SEC("lsm/sb_mount")
int BPF_PROG(probe_lsm_sb_mount, const char *dev_name, const struct path *path, const char *type,
	     unsigned long flags, void *data, int ret)
{
	return ret;
}

/* BPF-LSM attached per cgroup. lsm_cgroup programs return 1 to allow, 0 to deny. */
SEC("lsm_cgroup/socket_create")
int BPF_PROG(probe_lsm_cgroup_socket_create, int family, int type, int protocol, int kern)
{
	return 1;
}

/* capabilities fallback: observe every capability check */
SEC("tp_btf/cap_capable")
int BPF_PROG(probe_tp_btf_cap_capable, const struct cred *cred, struct user_namespace *targ_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	return 0;
}

/* coverage from birth under a shared container parent: every cgroup made */
SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(probe_tp_btf_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	return 0;
}

/* the syscall fallbacks (mounts, bpf, host writes...): the raw syscall exit tracepoint */
SEC("tp_btf/sys_exit")
int probe_raw_syscall_tracepoint(void *ctx)
{
	return 0;
}

/* kill-on-detect: proves bpf_send_signal (and the ring buffer helpers) are allowed from the
 * raw syscall exit tracepoint. Loaded only, never attached. */
SEC("tp_btf/sys_exit")
int probe_send_signal(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *rec;

	if (!probe_kill_tgid || tgid != probe_kill_tgid)
		return 0;
	rec = bpf_ringbuf_reserve(&probe_events, sizeof(*rec), 0);
	if (rec) {
		*rec = tgid;
		bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
	}
	bpf_send_signal(9 /* SIGKILL */);
	return 0;
}
