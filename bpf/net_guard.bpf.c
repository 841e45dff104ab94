// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The network guard: default-deny traffic between workloads and zones.
 *
 * Attached to each workload cgroup (descendants inherit), so it only ever runs for sockets that
 * belong to workloads under policy:
 *   cgroup/connect4,6   refuse connect() to a peer the policy does not allow (EPERM)
 *   cgroup/sendmsg4,6   refuse unconnected UDP sends the same way
 *   cgroup_skb/egress   backstop for packets that never passed connect/sendmsg
 *   cgroup_skb/ingress  drop packets from peers the receiver may not hear from; traffic between
 *                       two workloads of one zone that arrives anyway is an east-west bypass
 *
 * Allowed traffic never produces an event; every refusal produces exactly one.
 */
#include "common.bpf.h"
#include "net_policy.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

#define VERDICT_ALLOW 1
#define VERDICT_DENY 0

/* The active policy maps, looked up once per invocation. */
struct policy {
	void *workloads;
	void *identities;
	void *flows;
	void *egress_allow;
	__u32 levels;
};

static __always_inline bool load_policy(struct policy *p)
{
	struct gr_policy_state state;

	if (!read_policy_state(&state))
		return false;
	p->workloads = active(&workloads, state.active_set);
	p->identities = active(&identities, state.active_set);
	p->flows = active(&flows, state.active_set);
	p->egress_allow = active(&egress_allow, state.active_set);
	p->levels = state.cgroup_levels;
	return p->workloads && p->identities && p->flows && p->egress_allow;
}

/* Sockets whose attempt was already reported as audited by connect/sendmsg: their packets pass
 * the cgroup_skb hooks silently, so audit mode reports each attempt once, not each packet. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u8);
} audited_sockets SEC(".maps");

/* One side of a flow: who it is, as far as the maps know. */
struct party {
	__u32 workload_id;
	__u32 zone_id;
	__u32 flags;
};

/* What a hook saw, in the family-neutral form the maps use. */
struct tuple {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 protocol;
	bool tcp_syn_only; /* a TCP connection's opening packet (SYN without ACK) */
};

static __always_inline void map_ipv4(__u8 out[16], __u32 addr_be)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(&out[12], &addr_be, 4);
}

static __always_inline bool is_loopback(const __u8 addr[16])
{
	bool mapped = addr[10] == 0xff && addr[11] == 0xff;
	if (mapped)
		return addr[12] == 127;
	for (int i = 0; i < 15; i++)
		if (addr[i])
			return false;
	return addr[15] == 1;
}

/* The address's identity, or the world when no workload or zone claims it. */
static __always_inline struct party identify(const struct policy *pol, const __u8 addr[16])
{
	struct gr_ip_key key = { .prefixlen = 128 };
	struct party p = { .zone_id = GR_IDENTITY_WORLD };

	__builtin_memcpy(key.addr, addr, 16);
	struct gr_identity *id = bpf_map_lookup_elem(pol->identities, &key);
	if (id) {
		p.workload_id = id->workload_id;
		p.zone_id = id->zone_id;
		p.flags = id->flags;
	}
	return p;
}

static __always_inline bool portset_allows(const struct gr_portset *set, __u8 proto, __u16 port)
{
	for (int i = 0; i < GR_MAX_PORT_RANGES; i++) {
		if (i >= set->count)
			break;
		const struct gr_port_range *r = &set->ranges[i];
		if ((r->proto == GR_PROTO_ANY || r->proto == proto) && port >= r->lo &&
		    port <= r->hi)
			return true;
	}
	return false;
}

static __always_inline bool flow_pair_allows(const struct policy *pol, __u32 src_id, __u32 dst_id,
					     __u8 proto, __u16 port)
{
	struct gr_flow_key key = { .src_id = src_id, .dst_id = dst_id };
	struct gr_portset *set;

	if (!src_id || !dst_id)
		return false;
	set = bpf_map_lookup_elem(pol->flows, &key);
	return set && portset_allows(set, proto, port);
}

/* Does a flow rule let `src` send to `dst` on this port? Rules may name either side by workload
 * or by zone; an exclusive workload only honours rules that name it. */
static __always_inline bool flow_allows(const struct policy *pol, const struct party *src,
					const struct party *dst, __u8 proto, __u16 port)
{
	__u32 src_zone = (src->flags & GR_WL_EXCLUSIVE) ? 0 : src->zone_id;
	__u32 dst_zone = (dst->flags & GR_WL_EXCLUSIVE) ? 0 : dst->zone_id;

	return flow_pair_allows(pol, src->workload_id, dst->workload_id, proto, port) ||
	       flow_pair_allows(pol, src->workload_id, dst_zone, proto, port) ||
	       flow_pair_allows(pol, src_zone, dst->workload_id, proto, port) ||
	       flow_pair_allows(pol, src_zone, dst_zone, proto, port);
}

static __always_inline bool egress_allows(const struct policy *pol, __u32 zone_id,
					  const __u8 addr[16], __u8 proto, __u16 port)
{
	struct gr_zone_ip_key key = { .prefixlen = 32 + 128, .zone_id = zone_id };
	struct gr_portset *set;

	__builtin_memcpy(key.addr, addr, 16);
	set = bpf_map_lookup_elem(pol->egress_allow, &key);
	return set && portset_allows(set, proto, port);
}

/* ICMPv6 shares the policy's `icmp` protocol. */
static __always_inline __u8 policy_proto(__u8 proto)
{
	return proto == GR_PROTO_ICMPV6 ? GR_PROTO_ICMP : proto;
}

static __always_inline bool same_workload(const struct party *a, const struct party *b)
{
	return a->workload_id && a->workload_id == b->workload_id;
}

/* May `self` send this? As a new flow, to an allowlisted destination, or as the reply to a
 * flow that the peer was allowed to open towards `self` (then t->sport is the served port). */
static __always_inline bool egress_permitted(const struct policy *pol, const struct party *self,
					     const struct party *peer, const struct tuple *t,
					     bool may_be_reply)
{
	__u8 proto = policy_proto(t->protocol);

	if (is_loopback(t->daddr))
		return true;
	if (self->flags & GR_WL_QUARANTINE)
		return false;
	if (same_workload(self, peer))
		return true;
	if (flow_allows(pol, self, peer, proto, t->dport))
		return true;
	if (egress_allows(pol, self->zone_id, t->daddr, proto, t->dport))
		return true;
	return may_be_reply && flow_allows(pol, peer, self, proto, t->sport);
}

/* May `self` receive this from `peer`? As a flow the peer may open, or as the reply to a flow
 * `self` may open (to a workload or an allowlisted destination). */
static __always_inline bool ingress_permitted(const struct policy *pol, const struct party *self,
					      const struct party *peer, const struct tuple *t)
{
	__u8 proto = policy_proto(t->protocol);

	if (is_loopback(t->saddr))
		return true;
	if (self->flags & GR_WL_QUARANTINE)
		return false;
	if (same_workload(self, peer))
		return true;
	if (flow_allows(pol, peer, self, proto, t->dport))
		return true;
	if (flow_allows(pol, self, peer, proto, t->sport))
		return true;
	return egress_allows(pol, self->zone_id, t->saddr, proto, t->sport);
}

/* A miss means a socket under an attached cgroup that the maps do not (yet) name: fail closed,
 * enforcing, with no rule able to allow it. */
static __always_inline struct party party_of(const struct gr_workload *w)
{
	struct party p = {};

	if (w) {
		p.workload_id = w->workload_id;
		p.zone_id = w->zone_id;
		p.flags = w->flags;
	}
	return p;
}

static __always_inline void report(__u16 type, __u8 backend, __u8 direction, __u64 cgroup_id,
				   const struct party *self, const struct party *peer,
				   const struct tuple *t, bool with_task)
{
	struct gr_net_event *ev = reserve_event(type, sizeof(*ev));

	if (!ev)
		return;
	ev->cgroup_id = cgroup_id;
	if (with_task) /* else no caller: pid, tid and comm stay zero */
		read_caller(&ev->pid, &ev->tid, ev->comm);
	ev->workload_id = self->workload_id;
	ev->zone_id = self->zone_id;
	ev->peer_workload_id = peer->workload_id;
	ev->peer_zone_id = peer->zone_id;
	ev->rule = (self->flags & GR_WL_QUARANTINE)		   ? GR_RULE_QUARANTINE :
		   ((self->flags | peer->flags) & GR_WL_EXCLUSIVE) ? GR_RULE_ISOLATION :
								     GR_RULE_DEFAULT_DENY;
	ev->verdict = (self->flags & GR_WL_AUDIT) ? GR_VERDICT_AUDITED : GR_VERDICT_BLOCKED;
	ev->backend = backend;
	ev->direction = direction;
	ev->family = t->family;
	ev->protocol = t->protocol;
	ev->sport = t->sport;
	ev->dport = t->dport;
	__builtin_memcpy(ev->saddr, t->saddr, 16);
	__builtin_memcpy(ev->daddr, t->daddr, 16);

	submit_event(ev);
}

/* The hook's answer once a refusal was reported: audit mode lets it through. */
static __always_inline int refuse(const struct party *self)
{
	return (self->flags & GR_WL_AUDIT) ? VERDICT_ALLOW : VERDICT_DENY;
}

/* ---- cgroup/connect and cgroup/sendmsg ---------------------------------------------------- */

static __always_inline void sock_addr_tuple(struct bpf_sock_addr *ctx, struct tuple *t, bool v6)
{
	struct bpf_sock *sk = ctx->sk;

	__builtin_memset(t, 0, sizeof(*t));
	t->protocol = ctx->protocol;
	t->dport = bpf_ntohs(ctx->user_port);
	if (v6) {
		t->family = AF_INET6;
		__u32 *d = (__u32 *)t->daddr;
		d[0] = ctx->user_ip6[0];
		d[1] = ctx->user_ip6[1];
		d[2] = ctx->user_ip6[2];
		d[3] = ctx->user_ip6[3];
		if (sk) {
			__u32 *s = (__u32 *)t->saddr;
			s[0] = sk->src_ip6[0];
			s[1] = sk->src_ip6[1];
			s[2] = sk->src_ip6[2];
			s[3] = sk->src_ip6[3];
		}
	} else {
		t->family = AF_INET;
		map_ipv4(t->daddr, ctx->user_ip4);
		map_ipv4(t->saddr, sk ? sk->src_ip4 : 0);
	}
	if (sk)
		t->sport = sk->src_port;
}

static __always_inline int guard_sock_addr(struct bpf_sock_addr *ctx, bool v6, __u16 type)
{
	struct policy pol;
	struct tuple t;

	if (!load_policy(&pol))
		return VERDICT_DENY;
	struct party self = party_of(workload_of_task(pol.workloads, pol.levels));
	sock_addr_tuple(ctx, &t, v6);
	struct party peer = identify(&pol, t.daddr);
	/* A UDP server answers with sendmsg: from its served port back to a client. */
	bool may_be_reply = type == GR_EV_NET_SEND && t.sport != 0;
	if (egress_permitted(&pol, &self, &peer, &t, may_be_reply))
		return VERDICT_ALLOW;

	report(type, GR_BACKEND_CGROUP_SOCK_ADDR, GR_DIR_EGRESS, bpf_get_current_cgroup_id(), &self,
	       &peer, &t, true);
	if ((self.flags & GR_WL_AUDIT) && ctx->sk) {
		__u8 *mark = bpf_sk_storage_get(&audited_sockets, ctx->sk, 0,
						BPF_SK_STORAGE_GET_F_CREATE);
		if (mark)
			*mark = 1;
	}
	return refuse(&self);
}

SEC("cgroup/connect4")
int guard_connect4(struct bpf_sock_addr *ctx)
{
	return guard_sock_addr(ctx, false, GR_EV_NET_CONNECT);
}

SEC("cgroup/connect6")
int guard_connect6(struct bpf_sock_addr *ctx)
{
	return guard_sock_addr(ctx, true, GR_EV_NET_CONNECT);
}

SEC("cgroup/sendmsg4")
int guard_sendmsg4(struct bpf_sock_addr *ctx)
{
	return guard_sock_addr(ctx, false, GR_EV_NET_SEND);
}

SEC("cgroup/sendmsg6")
int guard_sendmsg6(struct bpf_sock_addr *ctx)
{
	return guard_sock_addr(ctx, true, GR_EV_NET_SEND);
}

/* ---- cgroup_skb --------------------------------------------------------------------------- */

/* Reads addresses, protocol and ports from the IP header at the start of the skb. Returns false
 * for what the guard does not judge: non-IP, and IPv4 fragments after the first (they carry no
 * ports, and cannot be reassembled without the first, which is judged). */
static __always_inline bool skb_tuple(struct __sk_buff *skb, struct tuple *t)
{
	__u32 l4_offset;

	__builtin_memset(t, 0, sizeof(*t));
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr iph;
		if (bpf_skb_load_bytes(skb, 0, &iph, sizeof(iph)))
			return false;
		if (bpf_ntohs(iph.frag_off) & 0x1fff)
			return false;
		t->family = AF_INET;
		t->protocol = iph.protocol;
		map_ipv4(t->saddr, iph.saddr);
		map_ipv4(t->daddr, iph.daddr);
		l4_offset = iph.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6h;
		if (bpf_skb_load_bytes(skb, 0, &ip6h, sizeof(ip6h)))
			return false;
		t->family = AF_INET6;
		t->protocol = ip6h.nexthdr;
		__builtin_memcpy(t->saddr, &ip6h.saddr, 16);
		__builtin_memcpy(t->daddr, &ip6h.daddr, 16);
		l4_offset = sizeof(ip6h);
	} else {
		return false;
	}
	if (t->protocol == GR_PROTO_TCP) {
		struct tcphdr tcph;
		if (bpf_skb_load_bytes(skb, l4_offset, &tcph, sizeof(tcph)) == 0) {
			t->sport = bpf_ntohs(tcph.source);
			t->dport = bpf_ntohs(tcph.dest);
			t->tcp_syn_only = tcph.syn && !tcph.ack;
		}
	} else if (t->protocol == GR_PROTO_UDP) {
		__be16 ports[2];
		if (bpf_skb_load_bytes(skb, l4_offset, ports, sizeof(ports)) == 0) {
			t->sport = bpf_ntohs(ports[0]);
			t->dport = bpf_ntohs(ports[1]);
		}
	}
	return true;
}

/* In audit mode a packet is reported only where enforce mode would have stopped the attempt: a
 * connection's opening packet (TCP SYN) or a datagram, not on a socket whose connect/sendmsg was
 * already reported, and not at a receiver whose audited sender already reported it. */
static __always_inline bool audit_already_reported(struct __sk_buff *skb, const struct tuple *t,
						   const struct party *self,
						   const struct party *peer, bool ingress)
{
	if (!(self->flags & GR_WL_AUDIT))
		return false;
	if (t->protocol == GR_PROTO_TCP && !t->tcp_syn_only)
		return true;
	if (ingress && (peer->flags & GR_WL_AUDIT))
		return true;
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return false;
	sk = bpf_sk_fullsock(sk);
	return sk && bpf_sk_storage_get(&audited_sockets, sk, 0, 0);
}

/* Both directions: the receiver judges by the sender's address, the sender by the destination's.
 */
static __always_inline int guard_skb(struct __sk_buff *skb, bool ingress)
{
	struct policy pol;
	struct tuple t;

	if (!skb_tuple(skb, &t))
		return VERDICT_ALLOW;
	if (!load_policy(&pol))
		return VERDICT_DENY;
	struct party self = party_of(workload_of_skb(pol.workloads, pol.levels, skb));
	struct party peer = identify(&pol, ingress ? t.saddr : t.daddr);
	bool permitted = ingress ? ingress_permitted(&pol, &self, &peer, &t) :
				   egress_permitted(&pol, &self, &peer, &t, true);
	if (permitted || audit_already_reported(skb, &t, &self, &peer, ingress))
		return VERDICT_ALLOW;

	__u16 type = GR_EV_NET_EGRESS;
	/* Two workloads of one zone never talk: if it got here, the sender's hooks were
	 * bypassed. */
	if (ingress)
		type = peer.workload_id && peer.zone_id == self.zone_id ? GR_EV_EAST_WEST_BYPASS :
									  GR_EV_NET_INGRESS;
	report(type, GR_BACKEND_CGROUP_SKB, ingress ? GR_DIR_INGRESS : GR_DIR_EGRESS,
	       bpf_skb_cgroup_id(skb), &self, &peer, &t, false);
	return refuse(&self);
}

SEC("cgroup_skb/egress")
int guard_egress(struct __sk_buff *skb)
{
	return guard_skb(skb, false);
}

SEC("cgroup_skb/ingress")
int guard_ingress(struct __sk_buff *skb)
{
	return guard_skb(skb, true);
}
