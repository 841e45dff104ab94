/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one header shared by the BPF programs and the C++ agent: event records, map keys and
 * values, and every constant both sides must agree on. Plain C, fixed-width types only, no libc
 * includes, so it compiles under clang -target bpf (with vmlinux.h) and under g++ (with
 * <linux/types.h>). Never copy a definition out of this file.
 */
#ifndef GUARDRAIL_SHARED_H
#define GUARDRAIL_SHARED_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* ---------------------------------------------------------------------------------------------
 * Identities. Zones and workloads share one id space so that a flow rule can name either side
 * with a single __u32: zones take [GR_ZONE_ID_MIN, GR_ZONE_ID_MAX], workloads start at
 * GR_WORKLOAD_ID_BASE. GR_IDENTITY_WORLD stands for every address that belongs to no workload.
 */
#define GR_ZONE_ID_MIN 1
#define GR_ZONE_ID_MAX 1022
#define GR_IDENTITY_WORLD 1023
#define GR_WORKLOAD_ID_BASE 1024

/* gr_workload.flags and gr_identity.flags:
 *   AUDIT        evaluate and alert, never block
 *   EXCLUSIVE    zone-wide rules do not apply; only rules naming it
 *   QUARANTINE   failed a required posture check: no network but its own sockets
 *   ON_THIS_HOST (identities) a cgroup of this host is bound to it, so its hooks run here; an
 *                address-only workload runs elsewhere */
#define GR_WL_AUDIT (1u << 0)
#define GR_WL_EXCLUSIVE (1u << 1)
#define GR_WL_QUARANTINE (1u << 2)
#define GR_WL_ON_THIS_HOST (1u << 3)
/* gr_workload.flags only:
 *   PLACEHOLDER  the entry is for the cgroup's descendants only, never for the cgroup itself: a
 *                child that no entry names yet (made after the last scan, under a selector's
 *                parent or the container runtime's) is judged as this workload (the zone of the
 *                selector, or the default zone: fail closed) from its first instruction, until
 *                discovery identifies it. The cgroup itself is no workload: under the programs
 *                attached there, the guards refuse it what they refuse any cgroup they cannot
 *                name (fail closed) */
#define GR_WL_PLACEHOLDER (1u << 4)
/*   EXEMPT       the cgroup and its descendants are under no policy, even below a placeholder
 *                (kube-system pods, the agent's own pod): the guards treat them as the host */
#define GR_WL_EXEMPT (1u << 5)
/*   BIRTH_PARENT (with EXEMPT) a parent that container cgroups share with host services (the
 *                systemd driver's /system.slice): the cgroup and what is made there are the
 *                host's, except a child named as a container runtime names its scopes
 *                (GR_RUNTIME_SCOPE_PREFIXES), which bpf/birth_guard.bpf.c binds at its mkdir, before
 *                its first instruction. Such an entry's workload_id and zone_id are what the born
 *                child gets; its `reserved` packs the child's flags and level (GR_BIRTH_*).
 *   BORN         bound by the kernel at the cgroup's mkdir, under a BIRTH_PARENT: judged as that
 *                parent's workload and zone until discovery identifies it (its own binding then
 *                replaces this one); the agent keeps it across policy swaps while the cgroup
 *                exists */
#define GR_WL_BIRTH_PARENT (1u << 6)
#define GR_WL_BORN (1u << 7)
/* gr_workload.reserved of a BIRTH_PARENT entry: the flags a born child gets (besides
 * GR_WL_BORN) and the level it sits at (the parent's + 1, which the agent also sets in
 * gr_policy_state.cgroup_levels). */
#define GR_BIRTH_FLAGS_MASK 0xffffu
#define GR_BIRTH_LEVEL_SHIFT 24
#define GR_BIRTH_RESERVED(flags, level) \
	(((flags) & GR_BIRTH_FLAGS_MASK) | ((__u32)(level) << GR_BIRTH_LEVEL_SHIFT))
#define GR_BIRTH_FLAGS(reserved) ((reserved) & GR_BIRTH_FLAGS_MASK)
#define GR_BIRTH_LEVEL(reserved) ((reserved) >> GR_BIRTH_LEVEL_SHIFT)

/* How the container runtimes name a container's cgroup under the systemd cgroup driver:
 * PREFIX, the container id (GR_RUNTIME_SCOPE_ID_LEN lowercase hex digits), ".scope". X(prefix)
 * once per runtime: Docker, containerd's CRI plugin, CRI-O, Podman. Their monitors' scopes
 * (crio-conmon-<id>.scope, libpod-conmon-<id>.scope) do not match: they are the runtime's. */
#define GR_RUNTIME_SCOPE_PREFIXES(X) X("docker-") X("cri-containerd-") X("crio-") X("libpod-")
#define GR_RUNTIME_SCOPE_ID_LEN 64
#define GR_RUNTIME_SCOPE_SUFFIX ".scope"
/* Longest such name, with its NUL: "cri-containerd-" + id + ".scope". */
#define GR_RUNTIME_SCOPE_NAME_MAX (15 + GR_RUNTIME_SCOPE_ID_LEN + 6 + 1)

/* Map sizes: the agent may raise them before load; these are the defaults. */
#define GR_MAX_WORKLOAD_CGROUPS 16384
#define GR_MAX_IDENTITIES 65536
#define GR_MAX_FLOWS 16384
#define GR_MAX_EGRESS_RULES 16384
/* The largest the agent makes the maps it sizes from the policy at every swap (identities, flows,
 * egress_allow, services: the GR_MAX_ values above are their compiled-in, smallest sizes; see
 * include/guardrail/loader/sized_maps.hpp). A policy that needs more is refused by the
 * capacity check (include/guardrail/policy/capacity.hpp). */
#define GR_LIMIT_IDENTITIES (1u << 20)
#define GR_LIMIT_FLOWS (1u << 20)
#define GR_LIMIT_EGRESS_RULES (1u << 21)
#define GR_LIMIT_SERVICES (1u << 20)
#define GR_MAX_PORT_RANGES 16
#define GR_MAX_RUNTIME_SOCKETS 256 /* runtime socket paths (and their inodes) */
#define GR_MAX_UNIX_ALLOW 1024     /* allowed unix sockets, per zone and address */
#define GR_DEFAULT_RINGBUF_BYTES (1u << 20)
/* Deepest cgroup level whose ancestors the programs walk to find a workload's cgroup. */
#define GR_MAX_CGROUP_DEPTH 16

/* IP protocol numbers as on the wire; GR_PROTO_ANY matches every protocol. */
#define GR_PROTO_ANY 0
#define GR_PROTO_ICMP 1
#define GR_PROTO_TCP 6
#define GR_PROTO_UDP 17
#define GR_PROTO_ICMPV6 58

/* Which of the two policy map sets the programs read, and at which cgroup levels workload
 * cgroups sit (map `policy_state`, one entry). The agent fills the inactive set, then writes
 * this: a policy change applies whole. */
struct gr_policy_state {
	__u32 active_set;    /* 0 or 1 */
	__u32 cgroup_levels; /* bit n: some workload cgroup is at level n (the root is level 0) */
	/* The agent's, never read by a program: every workload id below it has been given out. The
	 * state is pinned, so a restarted agent goes on above it and never hands a live id (one the
	 * socket and exchange state may still carry) to another workload. */
	__u32 next_workload_id;
	/* One more at every policy swap: a verdict a program cached (in socket storage) under an
	 * older generation is judged again, so a cache never outlives the policy it came from. */
	__u32 generation;
	__u32 features; /* GR_POLICY_*: what the policy in force holds at all */
	__u32 reserved;
};

/* gr_policy_state.features: a program skips the lookups of what the policy does not hold. */
#define GR_POLICY_HAS_SERVICES (1u << 0) /* the services map has entries */

/* cgroup id -> the workload that owns the cgroup (map `workloads`). */
struct gr_workload {
	__u32 workload_id;
	__u32 zone_id;
	__u32 flags;
	__u32 reserved;
};

/* Address -> identity (map `identities`, LPM trie). IPv4 is stored IPv4-mapped
 * (::ffff:a.b.c.d) so one trie serves both families: an IPv4 /n has prefixlen 96 + n. */
struct gr_ip_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct gr_identity {
	__u32 workload_id; /* 0 when the address names a zone only */
	__u32 zone_id;
	__u32 flags;
	__u32 reserved;
};

/* A Service's virtual address (ClusterIP), port and protocol -> who answers it (map `services`):
 * the identity its backends share, and the port they listen on. Judged at connect/sendmsg and at
 * cgroup_skb egress in the client's namespace, before kube-proxy's DNAT on the node. */
#define GR_MAX_SERVICES 16384
struct gr_service_key {
	__u8 addr[16]; /* IPv4-mapped like gr_ip_key */
	__u16 port;    /* host byte order */
	__u8 protocol;
	__u8 reserved;
};

struct gr_service {
	__u32 workload_id;
	__u32 zone_id;
	__u32 flags;
	__u16 target_port; /* host byte order */
	__u16 reserved;
};

struct gr_port_range {
	__u16 lo;   /* inclusive, host byte order */
	__u16 hi;   /* inclusive, host byte order */
	__u8 proto; /* GR_PROTO_* */
	__u8 reserved[3];
};

/* A set of (protocol, port range) pairs that a rule allows. */
struct gr_portset {
	__u32 count;
	__u32 reserved;
	struct gr_port_range ranges[GR_MAX_PORT_RANGES];
};

/* (source identity, destination identity) -> allowed ports (map `flows`). */
struct gr_flow_key {
	__u32 src_id;
	__u32 dst_id;
};

/* (zone, destination CIDR) -> allowed ports (map `egress_allow`, LPM trie). prefixlen counts
 * the 32 bits of zone_id plus the address prefix (IPv4-mapped as in gr_ip_key). */
struct gr_zone_ip_key {
	__u32 prefixlen;
	__u32 zone_id;
	__u8 addr[16];
};

/* zone_id of the egress_allow keys that name services of this host (sockets no workload owns,
 * reached over loopback or any local address): the zone's rules whose CIDR lies inside
 * 127.0.0.0/8 or ::1/128. A host service is reachable only through those, never through a wider
 * rule such as 0.0.0.0/0. The program looks them up with the address as loopback. */
#define GR_ZONE_LOCAL_HOST (1u << 31)

/* Exchanges that the policy allowed for UDP and ICMP (map `exchanges`, LRU hash): written where
 * a datagram was allowed as a new flow (at the sender's egress and at the receiver's ingress),
 * read where one claims to be its reply. Ports are 0 for ICMP (echo replies and errors match by
 * address). An entry older than GR_EXCHANGE_TIMEOUT_NS answers nothing. */
#define GR_MAX_EXCHANGES 65536
#define GR_EXCHANGE_TIMEOUT_NS (120ull * 1000 * 1000 * 1000)

struct gr_exchange_key {
	__u32 workload_id; /* the workload on this host that took part */
	__u16 local_port;
	__u16 remote_port;
	__u8 protocol;
	__u8 opener; /* GR_DIR_EGRESS: this workload sent first; GR_DIR_INGRESS: the remote did.
			Only the other side's answers use it: a sender's next datagram needs its
			rule again, so a policy change applies to it at once. */
	__u8 reserved[2];
	__u8 remote_addr[16]; /* IPv4-mapped as in gr_ip_key */
};

/* ---------------------------------------------------------------------------------------------
 * Events. Every record starts with gr_event_header; `type` is the wire id of the body that
 * follows. Bump GR_EVENT_VERSION whenever a body's layout changes.
 */
#define GR_EVENT_VERSION 1

enum gr_event_type {
	GR_EV_NET_CONNECT = 1,	    /* connect() refused by cgroup/connect4,6 */
	GR_EV_NET_SEND = 2,	    /* sendmsg() refused by cgroup/sendmsg4,6 */
	GR_EV_NET_EGRESS = 3,	    /* packet dropped by cgroup_skb/egress */
	GR_EV_NET_INGRESS = 4,	    /* packet dropped by cgroup_skb/ingress */
	GR_EV_EAST_WEST_BYPASS = 5, /* workload-to-workload traffic inside one zone reached the
				       receiver: the sender's egress hooks did not stop it */
	GR_EV_CAPABILITY = 6,	    /* a denied capability was asked for (or used, on tp_btf) */
	GR_EV_RAW_SOCKET = 7,	    /* a raw (SOCK_RAW) or packet (AF_PACKET) socket */
	GR_EV_MOUNT = 8,	    /* any new mount: mount(2), fsmount, open_tree, move_mount */
	GR_EV_RUNTIME_SOCKET = 9,   /* a connect to a container runtime's socket */
	GR_EV_BPF = 10,		    /* the bpf() syscall from a workload */
	GR_EV_TAMPER = 11,	    /* a workload reached for the agent's programs: detach, replace,
				       or fetch a link or program by id (fallback: tp_btf/sys_exit of bpf()) */
	GR_EV_UNIX_SOCKET = 12,	    /* a unix socket connect/send from one workload to another */
	GR_EV_HOST_WRITE = 13,	    /* a write open of a host sysctl, sysfs, kernel filesystem or a
				       configured host path (enum gr_host_write_target in op) */
	GR_EV_CGROUP_ESCAPE = 14,   /* a write to cgroupfs outside the caller's workload: a move out
				       of it (cgroup.procs, cgroup.threads, tasks, clone3 into a
				       cgroup), or another cgroup's limits, freeze or kill */
	GR_EV_TYPE_MAX = 15,
};

enum gr_verdict {
	GR_VERDICT_BLOCKED = 1,	 /* prevented in the kernel */
	GR_VERDICT_AUDITED = 2,	 /* audit mode: allowed, reported */
	GR_VERDICT_DETECTED = 3, /* the backend can only observe: it happened */
	GR_VERDICT_KILLED = 4,	 /* observed, and the process was sent SIGKILL */
};

enum gr_backend {
	GR_BACKEND_NONE = 0,
	GR_BACKEND_CGROUP_SOCK_ADDR = 1,
	GR_BACKEND_CGROUP_SKB = 2,
	GR_BACKEND_CGROUP_SOCK = 3,
	GR_BACKEND_LSM = 4,
	GR_BACKEND_LSM_CGROUP = 5,
	GR_BACKEND_TP_BTF = 6,
	GR_BACKEND_TRACEPOINT = 7,
	GR_BACKEND_CGROUP_CONNECT_UNIX = 8,
};

enum gr_direction {
	GR_DIR_EGRESS = 1,
	GR_DIR_INGRESS = 2,
};

/* Why the verdict was what it was. */
enum gr_rule {
	GR_RULE_DEFAULT_DENY = 0, /* no flow or egress rule allows it */
	GR_RULE_ISOLATION = 1,	  /* an exclusive workload: only rules naming it apply */
	GR_RULE_QUARANTINE = 2,	  /* the workload is quarantined for its posture */
	GR_RULE_NOT_A_REPLY = 3,  /* claims to answer a connection or exchange that the policy
				     never allowed (a TCP segment that is no SYN, a UDP datagram or
				     ICMP reply with no exchange behind it) */
};

/* How the peer of a network event was identified. */
enum gr_peer_scope {
	GR_PEER_BY_ADDRESS = 0,	    /* by its address (map identities) */
	GR_PEER_LOCAL_WORKLOAD = 1, /* same network namespace: the workload owning the socket */
	GR_PEER_LOCAL_HOST = 2,	    /* same network namespace: a socket no workload owns */
};

struct gr_event_header {
	__u16 type;    /* enum gr_event_type */
	__u16 version; /* GR_EVENT_VERSION */
	__u32 size;    /* bytes of the whole record, header included */
	__u64 ts_ns;   /* bpf_ktime_get_boot_ns() */
};

#define GR_COMM_LEN 16

/* Body of every GR_EV_NET_* and GR_EV_EAST_WEST_BYPASS record. Addresses are IPv4-mapped when
 * family is AF_INET (2); ports are host byte order. */
struct gr_net_event {
	struct gr_event_header hdr;
	__u64 cgroup_id;
	__u32 pid; /* tgid of the caller; 0 for ingress (softirq context has no caller) */
	__u32 tid;
	char comm[GR_COMM_LEN];
	__u32 workload_id; /* the workload the hook acted for */
	__u32 zone_id;
	__u32 peer_workload_id; /* 0 when the peer is no workload */
	__u32 peer_zone_id;	/* GR_IDENTITY_WORLD when the peer is outside every zone */
	__u32 rule;		/* enum gr_rule */
	__u8 verdict;		/* enum gr_verdict */
	__u8 backend;		/* enum gr_backend */
	__u8 direction;		/* enum gr_direction */
	__u8 family;		/* AF_INET or AF_INET6 */
	__u8 protocol;		/* GR_PROTO_* */
	__u8 peer_scope;	/* enum gr_peer_scope */
	__u8 reserved[2];
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* ---------------------------------------------------------------------------------------------
 * Host guards: capabilities, raw sockets, mounts, runtime sockets, bpf(). Policy per zone
 * (map `host_policy`, ARRAY indexed by zone id); the workload comes from map `workloads`.
 */
enum gr_action {
	GR_ACTION_NONE = 0,  /* not guarded */
	GR_ACTION_DENY = 1,  /* refuse with EPERM where the backend can; else detect */
	GR_ACTION_AUDIT = 2, /* allow, report */
	GR_ACTION_KILL = 3,  /* refuse where the backend can, and SIGKILL the caller */
};

enum gr_host_guard {
	GR_GUARD_CAPABILITIES = 0,
	GR_GUARD_RAW_SOCKETS = 1,
	GR_GUARD_MOUNTS = 2,
	GR_GUARD_RUNTIME_SOCKETS = 3,
	GR_GUARD_BPF = 4,
	GR_GUARD_HOST_WRITES = 5,
	/* On for every workload, whatever its zone says: GR_ACTION_NONE in this slot means deny. */
	GR_GUARD_CGROUPS = 6,
	GR_HOST_GUARDS = 7,
};

/* Slots of gr_host_policy.action: room for a guard or two more without a new map layout. */
#define GR_HOST_GUARD_SLOTS 8

/* How a zone's runtime-socket guard judges a unix socket address (gr_host_policy.unix_mode). */
enum gr_unix_mode {
	GR_UNIX_DENYLIST = 0,  /* refuse the runtime sockets; a non-canonical path is refused too */
	GR_UNIX_ALLOWLIST = 1, /* refuse every unix address but the zone's allowed ones */
};

/* gr_host_policy.flags */
#define GR_HP_WRITE_PATHS (1u << 0) /* the zone lists host paths (map host_write_inodes) */

struct gr_host_policy {
	__u64 denied_caps;		  /* bit n: capability n (capabilities(7) numbers) */
	__u8 action[GR_HOST_GUARD_SLOTS]; /* enum gr_action, indexed by enum gr_host_guard */
	__u8 unix_mode;			  /* enum gr_unix_mode */
	__u8 flags;			  /* GR_HP_* */
	__u8 reserved[6];
};

/* A runtime socket by its inode (map `runtime_socket_inodes`, for the LSM backend): a symlink,
 * a hard link or a bind-mounted copy reaches the same inode. dev is the kernel's encoding
 * (major << 20 | minor). */
struct gr_inode_key {
	__u64 ino;
	__u32 dev;
	__u32 reserved;
};

#define GR_UNIX_PATH_LEN 108 /* sizeof(sockaddr_un.sun_path) */

/* A runtime socket by its path (map `runtime_socket_paths`, for cgroup/connect_unix): the
 * path exactly as the client passed it, zero-padded. */
struct gr_unix_path_key {
	char path[GR_UNIX_PATH_LEN];
};

/* A unix address a zone in allowlist mode may reach (map `unix_allow_paths`): the path exactly
 * as allowed, or '@' and the name of an abstract socket (sun_path[0] == 0), zero-padded. */
struct gr_zone_unix_path_key {
	__u32 zone_id;
	char path[GR_UNIX_PATH_LEN];
};

/* The inode of an allowed path socket (map `unix_allow_inodes`, for the LSM backend), resolved
 * by the agent when it applies the policy and on every re-scan. */
struct gr_zone_inode_key {
	__u64 ino;
	__u32 dev;
	__u32 zone_id;
};

/* Why a unix socket was refused (gr_host_event.op of GR_EV_RUNTIME_SOCKET, GR_EV_UNIX_SOCKET). */
enum gr_unix_reason {
	GR_UNIX_REASON_RUNTIME = 1,	   /* a runtime socket (denylist) */
	GR_UNIX_REASON_NOT_ALLOWED = 2,	   /* not on the zone's allowlist */
	GR_UNIX_REASON_NONCANONICAL = 3,   /* a path not absolute and canonical (denylist mode) */
	GR_UNIX_REASON_OTHER_WORKLOAD = 4, /* the peer socket belongs to another workload */
};

/* What a refused host write opened (gr_host_event.op of GR_EV_HOST_WRITE). */
enum gr_host_write_target {
	GR_WRITE_SYSCTL = 1,	/* procfs /proc/sys: host (or namespace) sysctls */
	GR_WRITE_SYSRQ = 2,	/* /proc/sysrq-trigger */
	GR_WRITE_SYSFS = 3,	/* sysfs (/sys) */
	GR_WRITE_KERNEL_FS = 4, /* another kernel filesystem: securityfs, debugfs, tracefs,
				   configfs, efivarfs, pstore, binfmt_misc (fstype names it) */
	GR_WRITE_HOST_PATH = 5, /* under a host path the zone lists (by inode: any name of it) */
};

/* How a workload reached out of its cgroup (gr_host_event.op of GR_EV_CGROUP_ESCAPE). */
enum gr_cgroup_escape {
	GR_ESCAPE_OPEN = 1,	   /* opened a cgroupfs file for write outside its workload */
	GR_ESCAPE_MOVE = 2,	   /* moved a task to a cgroup outside its workload (observed) */
	GR_ESCAPE_CLONE_INTO = 3,  /* clone3(CLONE_INTO_CGROUP) */
	GR_ESCAPE_CGROUP_V1 = 4,   /* opened a cgroup v1 file for write (v1 moves escape the v1
				      controllers, e.g. devices, pids, memory) */
	GR_ESCAPE_OTHER_PROCESS = 5, /* opened for write a /proc/<pid> file of a process outside
					its workload (oom_score_adj, attr, mem, ...: the agent's,
					the runtime's, another workload's) */
};

/* gr_host_event.type of GR_EV_CGROUP_ESCAPE: the process moved (GR_ESCAPE_MOVE) or whose /proc
 * files were opened (GR_ESCAPE_OTHER_PROCESS). */

/* Host-write guard paths by inode (map `host_write_inodes`): a file whose own inode or any
 * ancestor directory's (within its filesystem) is listed for the caller's zone. */
#define GR_MAX_HOST_WRITE_PATHS 256
/* How many directories above an opened file the guards walk to find a listed host path. */
#define GR_HOST_WRITE_DEPTH 24

enum gr_mount_op {
	GR_MOUNT_OP_MOUNT = 1, /* mount(2): new, bind, remount, move */
	GR_MOUNT_OP_FSOPEN = 2,
	GR_MOUNT_OP_FSCONFIG = 3,
	GR_MOUNT_OP_FSMOUNT = 4,
	GR_MOUNT_OP_MOVE_MOUNT = 5,
	GR_MOUNT_OP_OPEN_TREE = 6,
	GR_MOUNT_OP_NEW_SUPER = 7, /* LSM sb_kern_mount: a superblock made for the caller */
};

#define GR_HOST_PATH_LEN 128
#define GR_HOST_SOURCE_LEN 64
#define GR_FSTYPE_LEN 32

/* Body of every GR_EV_CAPABILITY .. GR_EV_BPF record; fields a kind does not use are zero. */
struct gr_host_event {
	struct gr_event_header hdr;
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	char comm[GR_COMM_LEN];
	__u32 workload_id;
	__u32 zone_id;
	__u8 verdict; /* enum gr_verdict */
	__u8 backend; /* enum gr_backend */
	__u8 tamper;  /* GR_EV_TAMPER: enum gr_tamper (0, bpf, is what an older agent wrote here) */
	__u8 reserved;
	__s32 capability; /* GR_EV_CAPABILITY */
	__u32 family;	  /* GR_EV_RAW_SOCKET */
	__u32 type;
	__u32 protocol;
	__u32 op;    /* GR_EV_MOUNT: enum gr_mount_op; GR_EV_BPF, GR_EV_TAMPER: the bpf command;
		      * GR_EV_RUNTIME_SOCKET, GR_EV_UNIX_SOCKET: enum gr_unix_reason */
	__u64 flags; /* GR_EV_MOUNT: mount flags; GR_EV_TAMPER: attach flags */
	__u64 ino;   /* GR_EV_RUNTIME_SOCKET (LSM backend) */
	__u32 dev;
	__u32 peer_workload_id; /* GR_EV_UNIX_SOCKET: the listener's workload */
	/* GR_EV_TAMPER reuses fields: type = link id, protocol = program id (0 where the
	 * arguments name none), family = attach type (BPF_PROG_ATTACH/DETACH). For tamper
	 * GR_TAMPER_SIGNAL and GR_TAMPER_PTRACE (the agent's own process) see gr_tamper. */
	char path[GR_HOST_PATH_LEN];	 /* mount target, socket path ('@name': abstract) */
	char source[GR_HOST_SOURCE_LEN]; /* mount source */
	char fstype[GR_FSTYPE_LEN];	 /* mount filesystem type */
};

/* ---------------------------------------------------------------------------------------------
 * The agent itself as a target. What a GR_EV_TAMPER record is about (gr_host_event.tamper):
 *   BPF     a bpf() command on the agent's programs (fields as above)
 *   SIGNAL  a signal from a workload to a thread of the agent: op = the signal number,
 *           type = the agent's tgid, protocol = the thread the signal named
 *   PTRACE  ptrace access to the agent: family = enum gr_ptrace_access, op = the
 *           ptrace_may_access mode (PTRACE_MODE_* bits, GR_PTRACE_MAY_ACCESS) or the ptrace
 *           request (GR_PTRACE_SYSCALL), type = the agent's tgid, protocol = the target thread
 *           (on the syscall tracepoints: the pid the caller named)
 */
enum gr_tamper {
	GR_TAMPER_BPF = 0,
	GR_TAMPER_SIGNAL = 1,
	GR_TAMPER_PTRACE = 2,
};

enum gr_ptrace_access {
	GR_PTRACE_MAY_ACCESS = 1, /* LSM ptrace_access_check: ptrace attach/seize, /proc/<pid>/mem,
				     environ, fd, ..., process_vm_readv/writev, pidfd_getfd */
	GR_PTRACE_SYSCALL = 2,	  /* ptrace(PTRACE_ATTACH or PTRACE_SEIZE) at syscall entry */
	GR_PTRACE_VM_READV = 3,	  /* process_vm_readv at syscall entry */
	GR_PTRACE_VM_WRITEV = 4,  /* process_vm_writev at syscall entry */
};

/* Who the agent is, for the programs (map `agent_state`, one entry): each agent writes itself
 * at start (a restarted agent overwrites the previous one's) and zeroes it when it exits
 * gracefully. tgid alone would protect whatever process reuses a dead agent's pid; the start
 * time tells them apart. */
struct gr_agent_state {
	__u32 tgid; /* 0: no agent */
	__u32 reserved;
	__u64 start_ticks; /* the agent's start time, in clock ticks after boot (proc(5)
			      /proc/<pid>/stat field 22): its group leader's start_boottime /
			      ns_per_tick */
	__u64 ns_per_tick; /* 1e9 / sysconf(_SC_CLK_TCK); 0: the start time is not compared */
};

/* A SIGINT, SIGTERM or SIGHUP a workload sent to the agent (map `agent_signals` of the fallback
 * object, LRU): the agent, which catches these, asks it who the sender was (by the pid its
 * handler saw) and ignores the signal when it was a workload. The kernel reports no event of its
 * own for these three: the agent's alert says what it did. */
struct gr_signal_key {
	__u32 sender_tgid;
	__u32 signal;
};

struct gr_signal_sender {
	__u64 ts_ns; /* bpf_ktime_get_boot_ns() when the signal was sent */
	__u64 cgroup_id;
	__u32 workload_id;
	__u32 zone_id;
	__u32 workload_flags; /* gr_workload.flags (GR_WL_AUDIT) */
	__u8 killed;	      /* the zone's action is kill: the sender was sent SIGKILL */
	__u8 reserved[3];
	char comm[GR_COMM_LEN];
	__u32 tid;
	__u32 reserved2;
};

#define GR_MAX_AGENT_SIGNALS 256

/* Per-CPU counters (map `stats`, PERCPU_ARRAY indexed by these). */
enum gr_stat {
	GR_STAT_EVENTS_SUBMITTED = 0,
	GR_STAT_EVENTS_LOST = 1, /* bpf_ringbuf_reserve failed: the ring buffer was full */
	/* Written by the agent, never by a program: the GR_STAT_EVENTS_LOST sum it has reported
	 * (in CPU 0's slot). The counters are pinned, so the next agent learns what was lost while
	 * none ran. */
	GR_STAT_LOST_SEEN = 2,
	GR_STAT_MAX = 3,
};

#endif /* GUARDRAIL_SHARED_H */
