/* The floor arm of bench/: empty programs (allow, nothing else) on exactly the cgroup hooks the
 * agent attaches to a workload cgroup (net_guard: connect4/6, sendmsg4/6, cgroup_skb egress and
 * ingress; fallback_guard: sock_create). What Guardrail costs over this is what its lookups and
 * judgements cost; what this costs over no program is the hooks' own entry. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("cgroup/connect4")
int floor_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/connect6")
int floor_connect6(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/sendmsg4")
int floor_sendmsg4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/sendmsg6")
int floor_sendmsg6(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup_skb/egress")
int floor_egress(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/ingress")
int floor_ingress(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup/sock_create")
int floor_sock_create(struct bpf_sock *sk)
{
	return 1;
}
