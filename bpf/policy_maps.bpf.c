// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * No programs: the maps every guard object shares (both policy map sets behind their
 * ARRAY_OF_MAPS, the policy state, the ring buffer and the counters). The agent's PolicyMaps
 * (src/loader/policy_maps.cpp) loads this object once, fills and flips the sets, and hands the
 * map fds to the network and host guard objects before they load.
 */
#define GR_MAPS_OWNER
#include "common.bpf.h"
#include "net_policy.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
