/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The syscall that the raw syscall tracepoint (tp_btf/sys_exit) fires for, told in one numbering
 * whatever ABI the caller used.
 *
 * Why raw: the per-syscall tracepoints (tracepoint/syscalls/sys_enter_mount and the like) never
 * fire for a 32-bit syscall on x86 (the kernel's ARCH_TRACE_IGNORE_COMPAT_SYSCALLS), so a
 * workload's `int $0x80` open or mount, possible from any 64-bit process, went unseen. The raw
 * tracepoint fires for every syscall of every ABI: native x86-64, ia32 (TS_COMPAT) and x32
 * (__X32_SYSCALL_BIT). Either kind sets the syscall-trace flag on every task; the raw one runs our
 * program for every syscall of the host, so only the exit is used, and the number test below
 * comes first: a syscall the guards do not judge leaves after a few comparisons.
 */
#pragma once

#include "common.bpf.h"

/* The syscalls the fallback guards judge, by their x86-64 numbers. */
#define GR_SYS_OPEN 2
#define GR_SYS_SOCKET 41
#define GR_SYS_CREAT 85
#define GR_SYS_PTRACE 101
#define GR_SYS_MOUNT 165
#define GR_SYS_OPENAT 257
#define GR_SYS_PROCESS_VM_READV 310
#define GR_SYS_PROCESS_VM_WRITEV 311
#define GR_SYS_BPF 321
#define GR_SYS_OPEN_TREE 428
#define GR_SYS_MOVE_MOUNT 429
#define GR_SYS_FSMOUNT 432
#define GR_SYS_CLONE3 435
#define GR_SYS_OPENAT2 437
#define GR_SYS_NONE (-1)

/* Their numbers in the other ABIs, where they differ (the new mount API, clone3 and openat2 have
 * one number in all three). */
#define GR_IA32_OPEN 5
#define GR_IA32_CREAT 8
#define GR_IA32_MOUNT 21
#define GR_IA32_PTRACE 26
#define GR_IA32_SOCKETCALL 102 /* ia32's socket multiplexer */
#define GR_IA32_OPENAT 295
#define GR_IA32_PROCESS_VM_READV 347
#define GR_IA32_PROCESS_VM_WRITEV 348
#define GR_IA32_BPF 357
#define GR_IA32_SOCKET 359
#define GR_X32_PTRACE 521
#define GR_X32_PROCESS_VM_READV 539
#define GR_X32_PROCESS_VM_WRITEV 540

#define GR_TS_COMPAT 0x0002	      /* thread_info.status: an ia32 syscall is running */
#define GR_X32_SYSCALL_BIT 0x40000000 /* in the number of an x32 syscall */
#define GR_SOCKETCALL_SOCKET 1	      /* socketcall's call number for socket() */

struct syscall_call {
	long nr;       /* the x86-64 number, or GR_SYS_NONE */
	__u64 args[6]; /* as the syscall reads them (ia32's zero-extended) */
};

/* Could `id` be a judged syscall in some ABI? The cheap test every syscall of the host takes: one
 * switch (a few comparisons) before any helper. It names every number above. */
static __always_inline bool maybe_judged(long id)
{
	switch (id & ~(long)GR_X32_SYSCALL_BIT) {
	case GR_SYS_OPEN:
	case GR_SYS_SOCKET:
	case GR_SYS_CREAT:
	case GR_SYS_PTRACE:
	case GR_SYS_MOUNT:
	case GR_SYS_OPENAT:
	case GR_SYS_PROCESS_VM_READV:
	case GR_SYS_PROCESS_VM_WRITEV:
	case GR_SYS_BPF:
	case GR_SYS_OPEN_TREE:
	case GR_SYS_MOVE_MOUNT:
	case GR_SYS_FSMOUNT:
	case GR_SYS_CLONE3:
	case GR_SYS_OPENAT2:
	case GR_IA32_OPEN:
	case GR_IA32_CREAT:
	case GR_IA32_MOUNT:
	case GR_IA32_PTRACE:
	case GR_IA32_SOCKETCALL:
	case GR_IA32_OPENAT:
	case GR_IA32_PROCESS_VM_READV:
	case GR_IA32_PROCESS_VM_WRITEV:
	case GR_IA32_BPF:
	case GR_IA32_SOCKET:
	case GR_X32_PTRACE:
	case GR_X32_PROCESS_VM_READV:
	case GR_X32_PROCESS_VM_WRITEV:
		return true;
	}
	return false;
}

/* Numbers of another ABI and their x86-64 number, for the judged syscalls. */
struct syscall_number {
	short abi;
	short native;
};

/* ia32 (socketcall(SYS_SOCKET, args) is told as socket() in decode_syscall). */
static const struct syscall_number ia32_numbers[] = {
	{ GR_IA32_OPEN, GR_SYS_OPEN },
	{ GR_IA32_CREAT, GR_SYS_CREAT },
	{ GR_IA32_MOUNT, GR_SYS_MOUNT },
	{ GR_IA32_PTRACE, GR_SYS_PTRACE },
	{ GR_IA32_OPENAT, GR_SYS_OPENAT },
	{ GR_IA32_PROCESS_VM_READV, GR_SYS_PROCESS_VM_READV },
	{ GR_IA32_PROCESS_VM_WRITEV, GR_SYS_PROCESS_VM_WRITEV },
	{ GR_IA32_BPF, GR_SYS_BPF },
	{ GR_IA32_SOCKET, GR_SYS_SOCKET },
	{ GR_SYS_OPEN_TREE, GR_SYS_OPEN_TREE },
	{ GR_SYS_MOVE_MOUNT, GR_SYS_MOVE_MOUNT },
	{ GR_SYS_FSMOUNT, GR_SYS_FSMOUNT },
	{ GR_SYS_CLONE3, GR_SYS_CLONE3 },
	{ GR_SYS_OPENAT2, GR_SYS_OPENAT2 },
};

/* x32 (its bit cleared): the x86-64 numbers, except the calls x32 gave numbers of their own. */
static const struct syscall_number x32_own_numbers[] = {
	{ GR_X32_PTRACE, GR_SYS_PTRACE },
	{ GR_X32_PROCESS_VM_READV, GR_SYS_PROCESS_VM_READV },
	{ GR_X32_PROCESS_VM_WRITEV, GR_SYS_PROCESS_VM_WRITEV },
};

#define COUNT_OF(table) ((int)(sizeof(table) / sizeof((table)[0])))

static __always_inline long native_number(const struct syscall_number *table, int count, long id)
{
	long native = GR_SYS_NONE;

#pragma unroll
	for (int i = 0; i < count; i++)
		if (table[i].abi == id)
			native = table[i].native;
	return native;
}

static __always_inline long native_of_x32(long id)
{
	long own = native_number(x32_own_numbers, COUNT_OF(x32_own_numbers), id);

	return own != GR_SYS_NONE ? own : id < 512 ? id : GR_SYS_NONE;
}

static __always_inline void set_args(struct syscall_call *c, __u64 a0, __u64 a1, __u64 a2, __u64 a3,
				     __u64 a4, __u64 a5)
{
	c->args[0] = a0;
	c->args[1] = a1;
	c->args[2] = a2;
	c->args[3] = a3;
	c->args[4] = a4;
	c->args[5] = a5;
}

/* Decode syscall `id` from the caller's saved registers (at the exit they still hold the
 * arguments: only the return value register changed). Returns false for one no guard judges. */
static __always_inline bool decode_syscall(struct pt_regs *regs, long id, struct syscall_call *c)
{
	if (!maybe_judged(id))
		return false;
	struct task_struct *task = bpf_get_current_task_btf();
	if (!(task->thread_info.status & GR_TS_COMPAT)) {
		c->nr = id & GR_X32_SYSCALL_BIT ? native_of_x32(id & ~(long)GR_X32_SYSCALL_BIT) :
						  id;
		set_args(c, regs->di, regs->si, regs->dx, regs->r10, regs->r8, regs->r9);
		return c->nr != GR_SYS_NONE;
	}
	/* ia32: ebx, ecx, edx, esi, edi, ebp, zero-extended like the kernel's own wrappers */
	c->nr = native_number(ia32_numbers, COUNT_OF(ia32_numbers), id);
	set_args(c, (__u32)regs->bx, (__u32)regs->cx, (__u32)regs->dx, (__u32)regs->si,
		 (__u32)regs->di, (__u32)regs->bp);
	if (id == GR_IA32_SOCKETCALL && c->args[0] == GR_SOCKETCALL_SOCKET) {
		__u32 socket_args[3] = {};

		bpf_probe_read_user(socket_args, sizeof(socket_args), (const void *)c->args[1]);
		c->nr = GR_SYS_SOCKET;
		set_args(c, socket_args[0], socket_args[1], socket_args[2], 0, 0, 0);
	}
	return c->nr != GR_SYS_NONE;
}
