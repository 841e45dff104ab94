/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The network guard's policy maps, double-buffered like every policy map (common.bpf.h): the
 * network guard reads them, the maps object (policy_maps.bpf.c) creates them. Both objects
 * declare the sets too: declared through the outer map alone, the LPM trie keys reach BTF
 * without their size and libbpf refuses the object. PolicyMaps::share_with() reuses all three
 * maps of each (outer and both sets), so nothing is created twice.
 */
#pragma once

#include "common.bpf.h"

/* address -> identity */
POLICY_MAP_WITH_SETS(identities, BPF_MAP_TYPE_LPM_TRIE, GR_MAX_IDENTITIES, struct gr_ip_key,
		     struct gr_identity, BPF_F_NO_PREALLOC);
/* Service address and port -> its backends' identity */
POLICY_MAP_WITH_SETS(services, BPF_MAP_TYPE_HASH, GR_MAX_SERVICES, struct gr_service_key,
		     struct gr_service, BPF_F_NO_PREALLOC);
/* (source identity, destination identity) -> allowed ports */
POLICY_MAP_WITH_SETS(flows, BPF_MAP_TYPE_HASH, GR_MAX_FLOWS, struct gr_flow_key, struct gr_portset,
		     0);
/* (zone, destination prefix) -> allowed ports */
POLICY_MAP_WITH_SETS(egress_allow, BPF_MAP_TYPE_LPM_TRIE, GR_MAX_EGRESS_RULES,
		     struct gr_zone_ip_key, struct gr_portset, BPF_F_NO_PREALLOC);
