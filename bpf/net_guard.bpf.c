// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The network guard: default-deny traffic between workloads and zones.
 *
 * Attached to each workload cgroup (descendants inherit), so it only ever runs for sockets that
 * belong to workloads under policy:
 *   cgroup/connect4,6   refuse connect() to a peer the policy does not allow (EPERM)
 *   cgroup/sendmsg4,6   refuse unconnected UDP sends the same way
 *   cgroup_skb/egress   backstop for packets that never passed connect/sendmsg
 *   cgroup_skb/ingress  drop packets from peers the receiver may not hear from
 *
 * What is allowed is decided by state, not by port numbers:
 *   - a packet that opens something (a TCP SYN, a datagram, an ICMP echo request) needs a flow
 *     rule, or an egress allowlist entry when the destination is the world (no workload, no
 *     zone: allowlists never reach workloads);
 *   - a TCP segment that is no SYN belongs to a socket: one whose SYN was allowed (marked in
 *     socket storage), or one accepted from a peer that may open it;
 *   - a UDP datagram or ICMP reply answers an exchange that was allowed the other way (map
 *     `exchanges`, LRU with expiry), written where the opening datagram passed;
 *   - traffic that stays in one network namespace (it leaves through or arrives on loopback,
 *     whatever the address) is judged by who owns the socket at the other end: the same
 *     workload passes, another workload needs a flow, a socket no workload owns (a host service)
 *     needs an allowlist entry for loopback.
 *
 * Allowed traffic never produces an event; every refusal produces exactly one. A refusal at the
 * receiver is an east-west bypass when the sender is a workload of this host whose own hooks,
 * had they run, would have refused the packet.
 */
#include "common.bpf.h"
#include "net_policy.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

#define VERDICT_ALLOW 1
#define VERDICT_DENY 0

/* Every network namespace's loopback device has this index: packets that stay inside the
 * namespace (to 127.0.0.1, ::1, or any of its own addresses) leave and arrive through it. */
#define LOOPBACK_IFINDEX 1

#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PARAMPROB 4
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129

/* The policy in force: its state (read first, all a cached verdict needs) and then its active
 * maps, each looked up once per invocation. */
struct policy {
	__u32 active_set;
	void *workloads;
	void *identities;
	void *flows;
	void *egress_allow;
	void *services;
	__u32 levels;
	__u32 generation; /* gr_policy_state.generation: what a cached verdict must match */
	__u32 features;	  /* GR_POLICY_* */
};

static __always_inline bool load_policy_state(struct policy *p)
{
	struct gr_policy_state state;

	if (!read_policy_state(&state))
		return false;
	p->active_set = state.active_set;
	p->levels = state.cgroup_levels;
	p->generation = state.generation;
	p->features = state.features;
	return true;
}

static __always_inline bool load_policy_maps(struct policy *p)
{
	p->workloads = active(&workloads, p->active_set);
	p->identities = active(&identities, p->active_set);
	p->flows = active(&flows, p->active_set);
	p->egress_allow = active(&egress_allow, p->active_set);
	p->services = active(&services, p->active_set);
	return p->workloads && p->identities && p->flows && p->egress_allow && p->services;
}

/* What the guard remembers of a socket. */
#define SOCK_AUDITED (1u << 0) /* connect/sendmsg reported it as audited: its packets pass */
#define SOCK_ALLOWED (1u << 1) /* a TCP connection whose SYN (or acceptance) the policy allowed */

/*
 * A socket's state, in socket storage. Besides the marks, two caches that let the common case
 * (a known workload talking to a peer its policy allows) skip the judgement it already passed:
 *
 *   - allowed_generation: the policy generation under which a SOCK_ALLOWED connection was last
 *     seen allowed. While it is the generation in force, the connection's segments are allowed
 *     without a lookup: what could refuse them (the owner's quarantine, its binding) changes only
 *     with a policy swap, which moves the generation on.
 *   - the last destination the policy allowed from this socket (connect or sendmsg): address,
 *     port and protocol as the caller gave them, the cgroup whose workload was judged and the
 *     generation. A sendmsg to the same destination, and the packets that carry it out, match it
 *     and pass; anything else (another destination, another caller's cgroup, a newer policy) is
 *     judged in full. Only verdicts of the policy are cached, never those that rest on an exchange
 *     (those expire) or on who listens over loopback (that changes with no policy swap).
 */
struct sock_state {
	__u8 marks;	  /* SOCK_* */
	__u8 cached;	  /* a destination is cached below */
	__u8 protocol;	  /* of the cached destination */
	__u8 syn_pending; /* connect() allowed this TCP socket's connection: its SYN is sent on
				that verdict, whatever swap came in between */
	__u16 dport;	  /* host byte order */
	__u16 reserved2;
	__u32 generation; /* of the cached destination's verdict */
	__u32 allowed_generation;
	__u64 cgroup_id;   /* the cgroup whose workload the cached verdict judged */
	__u32 workload_id; /* that workload: the exchange its datagrams record */
	__u32 reserved3;
	__u64 exchange_jiffies; /* when the cached destination's exchange was last written */
	__u64 owner_cgroup_id;	/* the socket's own cgroup (fixed at its creation), once read */
	__u8 daddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_state);
} socket_verdicts SEC(".maps");

/* UDP and ICMP exchanges the policy allowed, by the workload that took part (guardrail.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GR_MAX_EXCHANGES);
	__type(key, struct gr_exchange_key);
	__type(value, __u64); /* bpf_ktime_get_boot_ns() of the last packet that used it */
} exchanges SEC(".maps");

/* One side of a flow: who it is, as far as the maps know. */
struct party {
	__u32 workload_id;
	__u32 zone_id;
	__u32 flags;
	__u8 scope; /* enum gr_peer_scope */
};

/* What a packet is, for the question "does it need a rule, or a state behind it?". */
enum packet_kind {
	PKT_OPENS,	/* a TCP SYN, a UDP datagram, an ICMP echo request or other ICMP */
	PKT_CONTINUES,	/* a TCP segment that is no SYN */
	PKT_ANSWERS,	/* an ICMP echo reply */
	PKT_ICMP_ERROR, /* an ICMP error about a packet this side sent (inner_* below) */
};

/* What a hook saw, in the family-neutral form the maps use. */
struct tuple {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 protocol;
	__u8 kind;	   /* enum packet_kind */
	bool tcp_syn_only; /* a TCP connection's opening packet (SYN without ACK) */
	/* PKT_ICMP_ERROR: the packet the error is about, as it was sent */
	__u8 inner_daddr[16];
	__u16 inner_sport;
	__u16 inner_dport;
	__u8 inner_protocol;
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
	struct party p = { .zone_id = GR_IDENTITY_WORLD, .scope = GR_PEER_BY_ADDRESS };

	__builtin_memcpy(key.addr, addr, 16);
	struct gr_identity *id = bpf_map_lookup_elem(pol->identities, &key);
	if (id) {
		p.workload_id = id->workload_id;
		p.zone_id = id->zone_id;
		p.flags = id->flags;
	}
	return p;
}

/* A Service address: judged as the backends behind it, on the port they listen on (a connect
 * to a ClusterIP leaves this namespace before kube-proxy rewrites it). */
static __always_inline void judge_as_service(const struct policy *pol, const struct tuple *t,
					     struct party *peer, __u16 *port)
{
	struct gr_service_key key = { .port = t->dport, .protocol = t->protocol };

	if (!(pol->features & GR_POLICY_HAS_SERVICES))
		return;
	__builtin_memcpy(key.addr, t->daddr, 16);
	struct gr_service *s = bpf_map_lookup_elem(pol->services, &key);
	if (!s)
		return;
	peer->workload_id = s->workload_id;
	peer->zone_id = s->zone_id;
	peer->flags = s->flags;
	*port = s->target_port;
}

static __always_inline bool is_exempt(const struct gr_workload *w)
{
	return w && (w->flags & GR_WL_EXEMPT);
}

/* A socket of this host that no workload owns: a host service, or a host client. */
static __always_inline struct party local_host(void)
{
	struct party p = { .zone_id = GR_IDENTITY_WORLD, .scope = GR_PEER_LOCAL_HOST };
	return p;
}

/* A miss means a socket under an attached cgroup that the maps do not (yet) name: fail closed,
 * enforcing, with no rule able to allow it. An exempt cgroup is the host's. */
static __always_inline struct party party_of(const struct gr_workload *w, __u8 scope)
{
	struct party p = { .scope = scope };

	if (is_exempt(w))
		return local_host();
	if (w) {
		p.workload_id = w->workload_id;
		p.zone_id = w->zone_id;
		p.flags = w->flags | GR_WL_ON_THIS_HOST;
	}
	return p;
}

static __always_inline bool is_world(const struct party *p)
{
	return !p->workload_id && p->zone_id == GR_IDENTITY_WORLD;
}

/* A global function: the verifier checks it once, not once per path through every caller (the
 * range loop inlined at each of the many rule lookups makes the programs too large to verify). */
__noinline int portset_allows(const struct gr_portset *set, __u32 proto, __u32 port)
{
	if (!set)
		return 0;
	for (int i = 0; i < GR_MAX_PORT_RANGES; i++) {
		if (i >= set->count)
			break;
		const struct gr_port_range *r = &set->ranges[i];
		if ((r->proto == GR_PROTO_ANY || r->proto == proto) && port >= r->lo &&
		    port <= r->hi)
			return 1;
	}
	return 0;
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

/* ICMPv6 shares the policy's `icmp` protocol. */
static __always_inline __u8 policy_proto(__u8 proto)
{
	return proto == GR_PROTO_ICMPV6 ? GR_PROTO_ICMP : proto;
}

/* Does a flow rule let `src` open to `dst` on this port? Rules may name either side by workload
 * or by zone; an exclusive workload only honours rules that name it. */
static __always_inline bool flow_allows(const struct policy *pol, const struct party *src,
					const struct party *dst, __u8 proto, __u16 port)
{
	__u32 src_zone = (src->flags & GR_WL_EXCLUSIVE) ? 0 : src->zone_id;
	__u32 dst_zone = (dst->flags & GR_WL_EXCLUSIVE) ? 0 : dst->zone_id;

	/* No flow names the world (the compiler gives it no rule): its allowlist decides. */
	if (is_world(src) || is_world(dst))
		return false;
	proto = policy_proto(proto);
	return flow_pair_allows(pol, src->workload_id, dst->workload_id, proto, port) ||
	       flow_pair_allows(pol, src->workload_id, dst_zone, proto, port) ||
	       flow_pair_allows(pol, src_zone, dst->workload_id, proto, port) ||
	       flow_pair_allows(pol, src_zone, dst_zone, proto, port);
}

/* The zone's egress allowlist, for destinations in the world only. A host service is looked up
 * among the zone's loopback entries (GR_ZONE_LOCAL_HOST), by its loopback address whatever local
 * address was used to reach it. */
static __always_inline bool allowlist_allows(const struct policy *pol, const struct party *self,
					     const struct party *peer, const __u8 addr[16],
					     __u8 family, __u8 proto, __u16 port)
{
	struct gr_zone_ip_key key = { .prefixlen = 32 + 128, .zone_id = self->zone_id };
	struct gr_portset *set;

	if (!is_world(peer))
		return false;
	if (peer->scope == GR_PEER_LOCAL_HOST) {
		key.zone_id |= GR_ZONE_LOCAL_HOST;
		if (is_loopback(addr))
			__builtin_memcpy(key.addr, addr, 16);
		else if (family == AF_INET)
			map_ipv4(key.addr, bpf_htonl(0x7f000001));
		else
			key.addr[15] = 1;
	} else {
		__builtin_memcpy(key.addr, addr, 16);
	}
	set = bpf_map_lookup_elem(pol->egress_allow, &key);
	return set && portset_allows(set, policy_proto(proto), port);
}

/* May `self` open this towards `peer` (at daddr:dport)? */
static __always_inline bool may_open(const struct policy *pol, const struct party *self,
				     const struct party *peer, const __u8 daddr[16], __u8 family,
				     __u8 proto, __u16 dport)
{
	return flow_allows(pol, self, peer, proto, dport) ||
	       allowlist_allows(pol, self, peer, daddr, family, proto, dport);
}

static __always_inline bool same_workload(const struct party *a, const struct party *b)
{
	return a->workload_id && a->workload_id == b->workload_id;
}

/* ---- state: sockets and exchanges --------------------------------------------------------- */

static __always_inline struct bpf_sock *full_sock_of(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;

	return sk ? bpf_sk_fullsock(sk) : NULL;
}

static __always_inline struct sock_state *sock_state_of(struct bpf_sock *sk)
{
	return sk ? bpf_sk_storage_get(&socket_verdicts, sk, 0, 0) : NULL;
}

static __always_inline struct sock_state *sock_state_made(struct bpf_sock *sk)
{
	return sk ? bpf_sk_storage_get(&socket_verdicts, sk, 0, BPF_SK_STORAGE_GET_F_CREATE) : NULL;
}

static __always_inline __u8 socket_mark(struct bpf_sock *sk)
{
	struct sock_state *st = sock_state_of(sk);

	return st ? st->marks : 0;
}

/* Sets a mark; SOCK_ALLOWED is set where the policy in force (`generation`) allowed the
 * connection, which starts its fast path (sock_state.allowed_generation). */
static __always_inline void set_socket_mark(struct bpf_sock *sk, __u8 bit, __u32 generation)
{
	struct sock_state *st = sock_state_made(sk);

	if (!st)
		return;
	st->marks |= bit;
	if (bit & SOCK_ALLOWED)
		st->allowed_generation = generation;
}

static __always_inline bool same_addr(const __u8 a[16], const __u8 b[16])
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1];
}

/* Whether the socket's cached destination is this one, allowed for `cgroup_id` (under whichever
 * policy: see cached_allowed). */
static __always_inline bool cached_destination(const struct sock_state *st, __u64 cgroup_id,
					       const __u8 daddr[16], __u16 dport, __u8 protocol)
{
	return st && st->cached && st->cgroup_id == cgroup_id && st->dport == dport &&
	       st->protocol == protocol && same_addr(st->daddr, daddr);
}

/* The same, allowed under the policy in force. */
static __always_inline bool cached_allowed(const struct sock_state *st, const struct policy *pol,
					   __u64 cgroup_id, const __u8 daddr[16], __u16 dport,
					   __u8 protocol)
{
	return st && st->generation == pol->generation &&
	       cached_destination(st, cgroup_id, daddr, dport, protocol);
}

/* The socket (by cookie, unique for the boot) whose connect or sendmsg this CPU allowed last
 * without caching it: a hint, no verdict. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} last_uncached SEC(".maps");

/*
 * Caches the destination the policy just allowed from this socket for `cgroup_id`. Socket storage
 * is allocated for it only when the socket comes back: its first allowed verdict is not cached,
 * and only noted (by cookie) as this CPU's last; a second one in a row from the same socket
 * makes the storage. A socket that sends once (a DNS query from a fresh socket) so costs no
 * allocation; one that keeps sending is cached from its second send.
 */
static __always_inline void cache_allowed(struct bpf_sock_addr *ctx, const struct policy *pol,
					  __u64 cgroup_id, __u32 workload_id, const __u8 daddr[16],
					  __u16 dport, __u8 protocol, bool tcp_connect)
{
	struct sock_state *st = sock_state_of(ctx->sk);

	/* A TCP connection's storage is made at its SYN anyway (its mark): made here instead, it
	 * carries the connect's verdict to the SYN, so one policy judges the whole connect. */
	if (!st && tcp_connect)
		st = sock_state_made(ctx->sk);
	if (!st) {
		__u32 zero = 0;
		__u64 *last = bpf_map_lookup_elem(&last_uncached, &zero);
		__u64 cookie = bpf_get_socket_cookie(ctx);
		if (!last || *last != cookie) {
			if (last)
				*last = cookie;
			return;
		}
		st = sock_state_made(ctx->sk);
	}
	if (!st)
		return;
	if (tcp_connect)
		st->syn_pending = 1;
	if (cached_allowed(st, pol, cgroup_id, daddr, dport, protocol))
		return;
	st->cached = 1;
	st->generation = pol->generation;
	st->cgroup_id = cgroup_id;
	st->workload_id = workload_id;
	st->dport = dport;
	st->protocol = protocol;
	st->exchange_jiffies = 0;
	__builtin_memcpy(st->daddr, daddr, 16);
}

static __always_inline bool is_listener(struct bpf_sock *sk)
{
	return sk->state == BPF_TCP_LISTEN;
}

/* A TCP socket in a real state other than listening: a connection (the kernel delivers to it
 * only segments of its own 4-tuple). */
static __always_inline bool is_connection(struct bpf_sock *sk)
{
	__u32 state = sk->state;

	return state >= BPF_TCP_ESTABLISHED && state <= BPF_TCP_CLOSING &&
	       state != BPF_TCP_LISTEN && state != BPF_TCP_CLOSE;
}

static __always_inline void exchange_key(struct gr_exchange_key *key, __u8 opener,
					 __u32 workload_id, __u16 local_port, const __u8 remote[16],
					 __u16 remote_port, __u8 proto)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->opener = opener;
	key->workload_id = workload_id;
	key->protocol = policy_proto(proto);
	if (key->protocol != GR_PROTO_ICMP) {
		key->local_port = local_port;
		key->remote_port = remote_port;
	}
	__builtin_memcpy(key->remote_addr, remote, 16);
}

/* The exchange of `workload_id` with remote:remote_port that `opener` began: whether it is live
 * (seen within GR_EXCHANGE_TIMEOUT_NS), refreshed if so (at most once a second, so a busy flow
 * does not write its entry on every packet); `create` records it when it is not. */
static __always_inline bool touch_exchange(bool create, __u8 opener, __u32 workload_id,
					   __u16 local_port, const __u8 remote[16],
					   __u16 remote_port, __u8 proto)
{
	struct gr_exchange_key key;
	__u64 now = bpf_ktime_get_boot_ns();

	exchange_key(&key, opener, workload_id, local_port, remote, remote_port, proto);
	__u64 *seen = bpf_map_lookup_elem(&exchanges, &key);
	if (seen && now - *seen <= GR_EXCHANGE_TIMEOUT_NS) {
		if (now - *seen > 1000000000ull)
			*seen = now;
		return true;
	}
	if (create)
		bpf_map_update_elem(&exchanges, &key, &now, BPF_ANY);
	return false;
}

static __always_inline bool exchange_live(__u8 opener, __u32 workload_id, __u16 local_port,
					  const __u8 remote[16], __u16 remote_port, __u8 proto)
{
	return touch_exchange(false, opener, workload_id, local_port, remote, remote_port, proto);
}

/* Record that the policy allowed this exchange. */
static __always_inline void remember_exchange(__u8 opener, __u32 workload_id, __u16 local_port,
					      const __u8 remote[16], __u16 remote_port, __u8 proto)
{
	touch_exchange(true, opener, workload_id, local_port, remote, remote_port, proto);
}

/* ---- reporting ---------------------------------------------------------------------------- */

static __always_inline void report(__u16 type, __u8 backend, __u8 direction, __u32 rule,
				   __u64 cgroup_id, const struct party *self,
				   const struct party *peer, const struct tuple *t, bool with_task)
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
	ev->peer_scope = peer->scope;
	ev->rule = (self->flags & GR_WL_QUARANTINE)		   ? GR_RULE_QUARANTINE :
		   rule == GR_RULE_NOT_A_REPLY			   ? GR_RULE_NOT_A_REPLY :
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

/* The destination connect/sendmsg was given, in the family-neutral form. */
static __always_inline void sock_addr_daddr(struct bpf_sock_addr *ctx, bool v6, __u8 daddr[16])
{
	if (v6) {
		__u32 *d = (__u32 *)daddr;
		d[0] = ctx->user_ip6[0];
		d[1] = ctx->user_ip6[1];
		d[2] = ctx->user_ip6[2];
		d[3] = ctx->user_ip6[3];
	} else {
		map_ipv4(daddr, ctx->user_ip4);
	}
}

static __always_inline void sock_addr_tuple(struct bpf_sock_addr *ctx, struct tuple *t, bool v6)
{
	struct bpf_sock *sk = ctx->sk;

	__builtin_memset(t, 0, sizeof(*t));
	t->protocol = ctx->protocol;
	t->dport = bpf_ntohs(ctx->user_port);
	sock_addr_daddr(ctx, v6, t->daddr);
	if (v6) {
		t->family = AF_INET6;
		if (sk) {
			__u32 *s = (__u32 *)t->saddr;
			s[0] = sk->src_ip6[0];
			s[1] = sk->src_ip6[1];
			s[2] = sk->src_ip6[2];
			s[3] = sk->src_ip6[3];
		}
	} else {
		t->family = AF_INET;
		map_ipv4(t->saddr, sk ? sk->src_ip4 : 0);
	}
	if (sk)
		t->sport = sk->src_port;
}

/* connect() over loopback: the owner of the socket that listens there (false: none listens, or
 * it cannot be read; cgroup_skb then judges the SYN). */
static __always_inline bool loopback_listener(struct bpf_sock_addr *ctx, const struct policy *pol,
					      const struct tuple *t, struct party *owner)
{
	struct bpf_sock_tuple tuple = {};
	struct cgroup *cg = NULL;
	__u32 size;

	if (t->family == AF_INET) {
		__builtin_memcpy(&tuple.ipv4.saddr, &t->saddr[12], 4);
		__builtin_memcpy(&tuple.ipv4.daddr, &t->daddr[12], 4);
		tuple.ipv4.sport = bpf_htons(t->sport);
		tuple.ipv4.dport = bpf_htons(t->dport);
		size = sizeof(tuple.ipv4);
	} else {
		__builtin_memcpy(tuple.ipv6.saddr, t->saddr, 16);
		__builtin_memcpy(tuple.ipv6.daddr, t->daddr, 16);
		tuple.ipv6.sport = bpf_htons(t->sport);
		tuple.ipv6.dport = bpf_htons(t->dport);
		size = sizeof(tuple.ipv6);
	}
	struct bpf_sock *sk = bpf_sk_lookup_tcp(ctx, &tuple, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return false;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	if (tp)
		cg = BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_cgrp_data.cgroup);
	bpf_sk_release(sk);
	if (!cg)
		return false;
	/* connect hooks have no bpf_sk_cgroup_id(): the cgroup is read from the socket */
	struct gr_workload *w = workload_of_cgroup_struct(pol->workloads, pol->levels, cg);
	*owner = w ? party_of(w, GR_PEER_LOCAL_WORKLOAD) : local_host();
	return true;
}

/*
 * connect() and sendmsg() to an address outside this network namespace: the destination is
 * judged by its address. Over loopback, a TCP connect() is judged by the owner of the listening
 * socket; anything else passes here, and cgroup_skb/egress judges the packet by the owner of the
 * socket it reaches (a refused UDP send still fails with EPERM). A connect() to another local
 * address of the namespace is judged here by that address and again at cgroup_skb by the owner.
 */
static __always_inline int guard_sock_addr(struct bpf_sock_addr *ctx, bool v6, __u16 type)
{
	struct policy pol;
	struct tuple t;
	struct party peer;

	if (!load_policy_state(&pol))
		return VERDICT_DENY;
	__u64 cgroup_id = current_cgroup_id();
	struct sock_state *st = sock_state_of(ctx->sk);
	if (st && st->cached) {
		/* The destination this socket was last allowed to, by this cgroup, under this
		 * policy: compared before the full tuple is read. */
		__u8 daddr[16];
		sock_addr_daddr(ctx, v6, daddr);
		if (cached_allowed(st, &pol, cgroup_id, daddr, bpf_ntohs(ctx->user_port),
				   ctx->protocol)) {
			if (type == GR_EV_NET_CONNECT && ctx->protocol == GR_PROTO_TCP)
				st->syn_pending = 1;
			return VERDICT_ALLOW;
		}
	}
	sock_addr_tuple(ctx, &t, v6);
	if (!load_policy_maps(&pol))
		return VERDICT_DENY;
	struct gr_workload *w = workload_of_task_cgroup(pol.workloads, pol.levels, cgroup_id);
	if (is_exempt(w))
		return VERDICT_ALLOW;
	struct party self = party_of(w, 0);
	__u16 port = t.dport;
	bool loopback = is_loopback(t.daddr);
	if (loopback) {
		if (type != GR_EV_NET_CONNECT || t.protocol != GR_PROTO_TCP ||
		    !loopback_listener(ctx, &pol, &t, &peer))
			return VERDICT_ALLOW;
	} else {
		peer = identify(&pol, t.daddr);
		judge_as_service(&pol, &t, &peer, &port);
	}
	bool quarantined = self.flags & GR_WL_QUARANTINE;
	if (same_workload(&self, &peer) ||
	    (!quarantined && may_open(&pol, &self, &peer, t.daddr, t.family, t.protocol, port))) {
		/* Over loopback the owner of the listener decides, and it can change with no
		 * policy swap: only verdicts by address are cached. */
		if (!quarantined && !loopback)
			cache_allowed(ctx, &pol, cgroup_id, self.workload_id, t.daddr, t.dport,
				      t.protocol,
				      type == GR_EV_NET_CONNECT && t.protocol == GR_PROTO_TCP);
		return VERDICT_ALLOW;
	}
	if (!quarantined) {
		/* A UDP server answers with sendmsg, from its port, to a client it heard from. */
		if (type == GR_EV_NET_SEND && t.sport &&
		    exchange_live(GR_DIR_INGRESS, self.workload_id, t.sport, t.daddr, t.dport,
				  t.protocol))
			return VERDICT_ALLOW;
	}

	report(type, GR_BACKEND_CGROUP_SOCK_ADDR, GR_DIR_EGRESS, GR_RULE_DEFAULT_DENY, cgroup_id,
	       &self, &peer, &t, true);
	if ((self.flags & GR_WL_AUDIT) && ctx->sk)
		set_socket_mark(ctx->sk, SOCK_AUDITED, pol.generation);
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

/* ---- cgroup_skb: reading the packet ------------------------------------------------------- */

static __always_inline bool is_icmp_error(__u8 proto, __u8 type)
{
	if (proto == GR_PROTO_ICMP)
		return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
		       type == ICMP_PARAMETERPROB;
	return type >= ICMPV6_DEST_UNREACH && type <= ICMPV6_PARAMPROB;
}

/* The IP header at `offset`: addresses, protocol, and where its payload starts. Returns false
 * for what the guard does not judge: non-IP, and IPv4 fragments after the first (they carry no
 * ports, and cannot be reassembled without the first, which is judged). */
static __always_inline bool read_ip(struct __sk_buff *skb, __u32 offset, bool v6, __u8 saddr[16],
				    __u8 daddr[16], __u8 *protocol, __u32 *l4_offset)
{
	if (!v6) {
		struct iphdr iph;
		if (bpf_skb_load_bytes(skb, offset, &iph, sizeof(iph)))
			return false;
		if (bpf_ntohs(iph.frag_off) & 0x1fff)
			return false;
		*protocol = iph.protocol;
		map_ipv4(saddr, iph.saddr);
		map_ipv4(daddr, iph.daddr);
		*l4_offset = offset + iph.ihl * 4;
	} else {
		struct ipv6hdr ip6h;
		if (bpf_skb_load_bytes(skb, offset, &ip6h, sizeof(ip6h)))
			return false;
		*protocol = ip6h.nexthdr;
		__builtin_memcpy(saddr, &ip6h.saddr, 16);
		__builtin_memcpy(daddr, &ip6h.daddr, 16);
		*l4_offset = offset + sizeof(ip6h);
	}
	return true;
}

/* TCP and UDP both start with the two ports. */
static __always_inline void read_ports(struct __sk_buff *skb, __u32 offset, __u16 *sport,
				       __u16 *dport)
{
	__be16 ports[2];

	if (bpf_skb_load_bytes(skb, offset, ports, sizeof(ports)) == 0) {
		*sport = bpf_ntohs(ports[0]);
		*dport = bpf_ntohs(ports[1]);
	}
}

/* An ICMP error carries the start of the packet it is about: where that packet went. */
static __always_inline void read_icmp_error(struct __sk_buff *skb, __u32 offset, bool v6,
					    struct tuple *t)
{
	__u8 inner_saddr[16];
	__u32 inner_l4;

	if (!read_ip(skb, offset, v6, inner_saddr, t->inner_daddr, &t->inner_protocol, &inner_l4))
		return;
	if (t->inner_protocol == GR_PROTO_TCP || t->inner_protocol == GR_PROTO_UDP)
		read_ports(skb, inner_l4, &t->inner_sport, &t->inner_dport);
}

static __always_inline bool skb_tuple(struct __sk_buff *skb, struct tuple *t)
{
	__u32 l4_offset;
	bool v6;

	__builtin_memset(t, 0, sizeof(*t));
	if (skb->protocol == bpf_htons(ETH_P_IP))
		v6 = false;
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		v6 = true;
	else
		return false;
	t->family = v6 ? AF_INET6 : AF_INET;
	if (!read_ip(skb, 0, v6, t->saddr, t->daddr, &t->protocol, &l4_offset))
		return false;
	t->kind = PKT_OPENS;
	if (t->protocol == GR_PROTO_TCP) {
		struct tcphdr tcph;
		if (bpf_skb_load_bytes(skb, l4_offset, &tcph, sizeof(tcph)) == 0) {
			t->sport = bpf_ntohs(tcph.source);
			t->dport = bpf_ntohs(tcph.dest);
			t->tcp_syn_only = tcph.syn && !tcph.ack;
			if (!t->tcp_syn_only)
				t->kind = PKT_CONTINUES;
		}
	} else if (t->protocol == GR_PROTO_UDP) {
		read_ports(skb, l4_offset, &t->sport, &t->dport);
	} else if (t->protocol == GR_PROTO_ICMP || t->protocol == GR_PROTO_ICMPV6) {
		__u8 type;
		if (bpf_skb_load_bytes(skb, l4_offset, &type, 1) == 0) {
			if (type == ICMP_ECHOREPLY || type == ICMPV6_ECHO_REPLY)
				t->kind = PKT_ANSWERS;
			else if (is_icmp_error(t->protocol, type)) {
				t->kind = PKT_ICMP_ERROR;
				read_icmp_error(skb, l4_offset + 8, v6, t);
			}
		}
	}
	return true;
}

/* ---- cgroup_skb: who is at the other end -------------------------------------------------- */

/*
 * Traffic inside one network namespace: the peer is whoever owns the socket at the other end,
 * found as the kernel would find it. At egress that is the socket the packet is for; at ingress
 * the sender's, the one a packet going back would reach. No socket: nothing listens (a TCP SYN
 * gets a reset, a datagram is dropped), or the packet came from the kernel itself.
 */
static __always_inline bool local_peer(const struct policy *pol, struct __sk_buff *skb,
				       const struct tuple *t, bool ingress, struct party *peer)
{
	struct bpf_sock_tuple tuple = {};
	const __u8 *from = ingress ? t->daddr : t->saddr;
	const __u8 *to = ingress ? t->saddr : t->daddr;
	__u16 from_port = ingress ? t->dport : t->sport;
	__u16 to_port = ingress ? t->sport : t->dport;
	struct bpf_sock *sk;
	__u32 size;

	if (t->protocol != GR_PROTO_TCP && t->protocol != GR_PROTO_UDP)
		return false;
	if (t->family == AF_INET) {
		__builtin_memcpy(&tuple.ipv4.saddr, &from[12], 4);
		__builtin_memcpy(&tuple.ipv4.daddr, &to[12], 4);
		tuple.ipv4.sport = bpf_htons(from_port);
		tuple.ipv4.dport = bpf_htons(to_port);
		size = sizeof(tuple.ipv4);
	} else {
		__builtin_memcpy(tuple.ipv6.saddr, from, 16);
		__builtin_memcpy(tuple.ipv6.daddr, to, 16);
		tuple.ipv6.sport = bpf_htons(from_port);
		tuple.ipv6.dport = bpf_htons(to_port);
		size = sizeof(tuple.ipv6);
	}
	if (t->protocol == GR_PROTO_TCP)
		sk = bpf_sk_lookup_tcp(skb, &tuple, size, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_udp(skb, &tuple, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return false;
	struct gr_workload *w = workload_of_sock(pol->workloads, pol->levels, sk);
	*peer = w ? party_of(w, GR_PEER_LOCAL_WORKLOAD) : local_host();
	bpf_sk_release(sk);
	return true;
}

/* ---- cgroup_skb: the decisions ------------------------------------------------------------ */

/* May `sender` send this packet to `receiver`, by the sender's rules and the state the policy
 * keeps for it? `sk` is the sender's socket when known. Used for the sender's own egress, and at
 * the receiver to tell what the sender's hooks would have answered. */
static __always_inline bool egress_permitted(const struct policy *pol, const struct party *sender,
					     const struct party *receiver, const struct tuple *t,
					     __u16 dport, struct bpf_sock *sk)
{
	if (same_workload(sender, receiver))
		return true;
	if (may_open(pol, sender, receiver, t->daddr, t->family, t->protocol, dport))
		return true;
	if (t->kind == PKT_CONTINUES) /* its own connection, or the server side of one the
					receiver opened */
		return (socket_mark(sk) & SOCK_ALLOWED) ||
		       flow_allows(pol, receiver, sender, t->protocol, t->sport);
	if (t->kind == PKT_OPENS && t->protocol != GR_PROTO_UDP)
		return false;
	/* a UDP datagram, an ICMP reply or error: the answer to an exchange the receiver began */
	return exchange_live(GR_DIR_INGRESS, sender->workload_id, t->sport, t->daddr, t->dport,
			     t->protocol) ||
	       (t->kind != PKT_OPENS && flow_allows(pol, receiver, sender, t->protocol, 0));
}

/* What an allowed packet leaves behind at the sender: the state its answers will need. */
static __always_inline void egress_remember(const struct policy *pol, const struct party *self,
					    const struct tuple *t, struct bpf_sock *sk)
{
	if (t->protocol == GR_PROTO_TCP) {
		if (t->tcp_syn_only)
			set_socket_mark(sk, SOCK_ALLOWED, pol->generation);
	} else if (t->kind == PKT_OPENS) {
		remember_exchange(GR_DIR_EGRESS, self->workload_id, t->sport, t->daddr, t->dport,
				  t->protocol);
	}
}

/* The outcome of judging a packet at the receiver. */
enum ingress_answer {
	IN_ALLOW,
	IN_DENY,	/* nothing allows it */
	IN_NOT_A_REPLY, /* claims to answer something the policy never allowed */
};

/* May `self` receive this from `peer`? Allowed packets leave state behind (exchanges, marks). */
static __always_inline enum ingress_answer
ingress_decide(const struct policy *pol, const struct party *self, const struct party *peer,
	       const struct tuple *t, struct bpf_sock *sk)
{
	if (same_workload(self, peer))
		return IN_ALLOW;
	bool opens_ok = flow_allows(pol, peer, self, t->protocol, t->dport);

	switch (t->kind) {
	case PKT_OPENS:
		if (opens_ok) {
			if (t->protocol != GR_PROTO_TCP)
				remember_exchange(GR_DIR_INGRESS, self->workload_id, t->dport,
						  t->saddr, t->sport, t->protocol);
			return IN_ALLOW;
		}
		if (t->protocol != GR_PROTO_UDP)
			return IN_DENY;
		if (exchange_live(GR_DIR_EGRESS, self->workload_id, t->dport, t->saddr, t->sport,
				  t->protocol))
			return IN_ALLOW;
		/* from a port `self` may send to: it claims to be the answer */
		return may_open(pol, self, peer, t->saddr, t->family, t->protocol, t->sport) ?
			       IN_NOT_A_REPLY :
			       IN_DENY;
	case PKT_CONTINUES:
		if (sk && (socket_mark(sk) & SOCK_ALLOWED) && !is_listener(sk))
			return IN_ALLOW;
		/* the handshake or data of a connection the peer may open (accepted here), or a
		 * connection that existed before the guard ran (no mark, but the kernel only
		 * delivers a connection's own segments to it) */
		if (opens_ok ||
		    (sk && is_connection(sk) &&
		     may_open(pol, self, peer, t->saddr, t->family, t->protocol, t->sport))) {
			if (sk && is_connection(sk))
				set_socket_mark(sk, SOCK_ALLOWED, pol->generation);
			return IN_ALLOW;
		}
		return IN_NOT_A_REPLY;
	case PKT_ANSWERS:
		return exchange_live(GR_DIR_EGRESS, self->workload_id, 0, t->saddr, 0,
				     t->protocol) ?
			       IN_ALLOW :
			       IN_NOT_A_REPLY;
	case PKT_ICMP_ERROR:
		if (t->inner_protocol == GR_PROTO_TCP) {
			struct party target = identify(pol, t->inner_daddr);
			return may_open(pol, self, &target, t->inner_daddr, t->family,
					t->inner_protocol, t->inner_dport) ?
				       IN_ALLOW :
				       IN_NOT_A_REPLY;
		}
		return exchange_live(GR_DIR_EGRESS, self->workload_id, t->inner_sport,
				     t->inner_daddr, t->inner_dport, t->inner_protocol) ?
			       IN_ALLOW :
			       IN_NOT_A_REPLY;
	}
	return IN_DENY;
}

/* In audit mode a packet is reported only where enforce mode would have stopped the attempt: a
 * connection's opening packet (TCP SYN) or a datagram, not on a socket whose connect/sendmsg was
 * already reported, and not at a receiver whose audited sender already reported it. */
static __always_inline bool audit_already_reported(const struct tuple *t, const struct party *self,
						   const struct party *peer, struct bpf_sock *sk,
						   bool ingress)
{
	if (!(self->flags & GR_WL_AUDIT))
		return false;
	if (t->protocol == GR_PROTO_TCP && !t->tcp_syn_only)
		return true;
	if (ingress && (peer->flags & GR_WL_AUDIT))
		return true;
	return socket_mark(sk) & SOCK_AUDITED;
}

/* A refusal at the receiver is an east-west bypass when the sender is a workload whose hooks run
 * on this host and would have refused the packet themselves. */
static __always_inline __u16 ingress_event_type(const struct policy *pol, const struct party *self,
						const struct party *peer, const struct tuple *t)
{
	if (!peer->workload_id || !(peer->flags & GR_WL_ON_THIS_HOST) ||
	    (peer->flags & GR_WL_AUDIT) || (self->flags & GR_WL_QUARANTINE))
		return GR_EV_NET_INGRESS;
	if (!(peer->flags & GR_WL_QUARANTINE) &&
	    egress_permitted(pol, peer, self, t, t->dport, NULL))
		return GR_EV_NET_INGRESS;
	return GR_EV_EAST_WEST_BYPASS;
}

/* How often a cached destination's datagrams write their exchange: every 250 jiffies (0.25 s at
 * HZ=1000, 2.5 s at HZ=100), about as often as a judged datagram refreshes it (touch_exchange)
 * and far inside GR_EXCHANGE_TIMEOUT_NS. Jiffies, not bpf_ktime_get_boot_ns(): a memory read,
 * where the clock costs more than the rest of the fast path. */
#define EXCHANGE_REFRESH_JIFFIES 250

/* The few header fields the fast path compares, read in place (cgroup_skb sees the packet from
 * its network header). False when they are not all in the linear data or the packet is
 * anything but plain TCP or UDP: the full path reads it with bpf_skb_load_bytes(). */
struct peek {
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 protocol;
	__u8 kind; /* enum packet_kind */
};

static __always_inline bool peek_packet(struct __sk_buff *skb, struct peek *pk)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	void *l4;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;
		if ((void *)(ip + 1) > end || ip->ihl != 5 || (bpf_ntohs(ip->frag_off) & 0x1fff))
			return false;
		pk->protocol = ip->protocol;
		map_ipv4(pk->daddr, ip->daddr);
		l4 = ip + 1;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;
		if ((void *)(ip6 + 1) > end)
			return false;
		pk->protocol = ip6->nexthdr;
		__builtin_memcpy(pk->daddr, &ip6->daddr, 16);
		l4 = ip6 + 1;
	} else {
		return false;
	}
	if (pk->protocol != GR_PROTO_TCP && pk->protocol != GR_PROTO_UDP)
		return false;
	/* TCP and UDP both start with the two ports */
	__be16 *ports = l4;
	if ((void *)(ports + 2) > end)
		return false;
	pk->sport = bpf_ntohs(ports[0]);
	pk->dport = bpf_ntohs(ports[1]);
	pk->kind = PKT_OPENS;
	if (pk->protocol == GR_PROTO_TCP) {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > end)
			return false;
		if (!th->syn || th->ack)
			pk->kind = PKT_CONTINUES;
	}
	return true;
}

/*
 * The common case, decided from the socket's state (sock_state) without the policy maps: a
 * segment of a connection the policy allowed, or at egress the opening packet (a datagram, a
 * SYN) of the destination connect/sendmsg allowed from this socket. Leaves behind what the full
 * judgement would have (the connection's mark, the datagram's exchange). Over loopback a packet
 * is judged by the owner of the socket it reaches, which no cache holds. `sk` is the packet's
 * socket, full or not: only what struct sock_common holds is read from it.
 */
static __always_inline bool fast_allowed(struct __sk_buff *skb, const struct policy *pol,
					 const struct peek *pk, struct bpf_sock *sk, bool ingress)
{
	struct sock_state *st = sock_state_of(sk);

	if (!st)
		return false;
	if (pk->kind == PKT_CONTINUES)
		return (st->marks & SOCK_ALLOWED) && st->allowed_generation == pol->generation &&
		       !is_listener(sk);
	if (ingress || skb->ifindex == LOOPBACK_IFINDEX)
		return false;
	if (!st->owner_cgroup_id)
		st->owner_cgroup_id = bpf_skb_cgroup_id(skb);
	/* The SYN of a connect() the policy allowed: sent on that verdict, also when a swap came
	 * between the two (then the connect's policy judges the whole connect, not each half by
	 * another). Once: a retransmitted or later SYN is judged by the policy in force. */
	bool connecting = pk->protocol == GR_PROTO_TCP && st->syn_pending;
	if (connecting)
		st->syn_pending = 0;
	/* the packet's owner is the cgroup whose verdict was cached */
	if (connecting &&
	    cached_destination(st, st->owner_cgroup_id, pk->daddr, pk->dport, pk->protocol)) {
		st->marks |= SOCK_ALLOWED;
		/* its segments take the fast path only under the policy that allowed it: after a
		 * swap they are judged (a quarantine applies to them) and renewed */
		if (st->generation == pol->generation)
			st->allowed_generation = pol->generation;
		return true;
	}
	if (!cached_allowed(st, pol, st->owner_cgroup_id, pk->daddr, pk->dport, pk->protocol))
		return false;
	if (pk->protocol == GR_PROTO_TCP) {
		st->marks |= SOCK_ALLOWED;
		st->allowed_generation = pol->generation;
		return true;
	}
	__u64 now = bpf_jiffies64();
	if (now - st->exchange_jiffies >= EXCHANGE_REFRESH_JIFFIES) {
		remember_exchange(GR_DIR_EGRESS, st->workload_id, pk->sport, pk->daddr, pk->dport,
				  pk->protocol);
		st->exchange_jiffies = now;
	}
	return true;
}

/* A connection's segment the full judgement allowed, for a workload not in quarantine: with
 * its mark set, the connection's next segments take the fast path under this policy. */
static __always_inline void renew_fast_path(struct bpf_sock *sk, const struct policy *pol)
{
	struct sock_state *st = sock_state_of(sk);

	if (st && (st->marks & SOCK_ALLOWED) && !is_listener(sk))
		st->allowed_generation = pol->generation;
}

static __always_inline int guard_skb(struct __sk_buff *skb, bool ingress)
{
	struct policy pol;
	struct tuple t;
	struct peek pk;

	if (!load_policy_state(&pol))
		return VERDICT_DENY;
	/* The fast path asks the socket storage with the packet's socket as it is: the storage
	 * helper answers nothing for a socket that is not full (a request or timewait socket), so
	 * the bpf_sk_fullsock() call (about 30 ns here) is left to the full judgement. */
	struct bpf_sock *skc = skb->sk;
	if (skc && peek_packet(skb, &pk) && fast_allowed(skb, &pol, &pk, skc, ingress))
		return VERDICT_ALLOW;
	struct bpf_sock *sk = full_sock_of(skb);
	if (!skb_tuple(skb, &t))
		return VERDICT_ALLOW;
	if (!load_policy_maps(&pol))
		return VERDICT_DENY;
	struct gr_workload *w = workload_of_skb(pol.workloads, pol.levels, skb);
	if (is_exempt(w))
		return VERDICT_ALLOW;
	struct party self = party_of(w, 0);
	struct party peer;
	__u16 port = t.dport;
	if (skb->ifindex == LOOPBACK_IFINDEX) {
		/* Nobody at the other end: nothing to reach, or the kernel's own answer. */
		if (!local_peer(&pol, skb, &t, ingress, &peer))
			return VERDICT_ALLOW;
	} else {
		peer = identify(&pol, ingress ? t.saddr : t.daddr);
		/* Replies from a Service address are judged by the connection or exchange they
		 * belong to, which was remembered by the address and port as sent. */
		if (!ingress)
			judge_as_service(&pol, &t, &peer, &port);
	}

	__u32 rule = GR_RULE_DEFAULT_DENY;
	bool quarantined = self.flags & GR_WL_QUARANTINE;
	if (!ingress) {
		if (quarantined ? same_workload(&self, &peer) :
				  egress_permitted(&pol, &self, &peer, &t, port, sk)) {
			if (!quarantined) {
				egress_remember(&pol, &self, &t, sk);
				if (t.kind == PKT_CONTINUES)
					renew_fast_path(sk, &pol);
			}
			return VERDICT_ALLOW;
		}
	} else {
		enum ingress_answer answer =
			quarantined ? (same_workload(&self, &peer) ? IN_ALLOW : IN_DENY) :
				      ingress_decide(&pol, &self, &peer, &t, sk);
		if (answer == IN_ALLOW) {
			if (!quarantined && t.kind == PKT_CONTINUES)
				renew_fast_path(sk, &pol);
			return VERDICT_ALLOW;
		}
		if (answer == IN_NOT_A_REPLY)
			rule = GR_RULE_NOT_A_REPLY;
	}
	if (audit_already_reported(&t, &self, &peer, sk, ingress))
		return VERDICT_ALLOW;

	__u16 type = ingress ? ingress_event_type(&pol, &self, &peer, &t) : GR_EV_NET_EGRESS;
	report(type, GR_BACKEND_CGROUP_SKB, ingress ? GR_DIR_INGRESS : GR_DIR_EGRESS, rule,
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
