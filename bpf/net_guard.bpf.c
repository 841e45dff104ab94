// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* placeholder while the network guard is written */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "guardrail.h"
char LICENSE[] SEC("license") = "Dual BSD/GPL";
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GR_DEFAULT_RINGBUF_BYTES);
} events SEC(".maps");
