// The capacity of the policy maps (bpf/common.bpf.h, bpf/net_policy.bpf.h), checked in one place.
// identities, flows, egress_allow and services are made at every swap as large as the policy
// needs (include/guardrail/loader/sized_maps.hpp): their capacity is the largest size the agent
// makes them (GR_LIMIT_...), not their compiled-in size.
#include "guardrail/policy/capacity.hpp"

#include <array>
#include <string>

namespace guardrail::policy {
namespace {

constexpr std::array kCapacities = {
    MapCapacity{"workloads", "GR_MAX_WORKLOAD_CGROUPS", GR_MAX_WORKLOAD_CGROUPS,
                "workload cgroups found on this host",
                [](const CompiledPolicy& p) { return p.cgroups.size(); },
                "select fewer cgroups or containers, or run fewer workloads on this host"},
    MapCapacity{"identities", "GR_LIMIT_IDENTITIES", GR_LIMIT_IDENTITIES,
                "addresses of workloads (static and found)",
                [](const CompiledPolicy& p) { return p.identities.size(); },
                "give workloads fewer static addresses, or wider prefixes"},
    MapCapacity{"flows", "GR_LIMIT_FLOWS", GR_LIMIT_FLOWS,
                "pairs of identities a flow allows (zones and workloads)",
                [](const CompiledPolicy& p) { return p.flows.size(); },
                "write flows between zones instead of between single workloads"},
    MapCapacity{"egress_allow", "GR_LIMIT_EGRESS_RULES", GR_LIMIT_EGRESS_RULES,
                "egress prefixes, one per zone and CIDR",
                [](const CompiledPolicy& p) { return p.egress.size(); },
                "merge the egress allowlists into fewer, wider CIDRs"},
    MapCapacity{"services", "GR_LIMIT_SERVICES", GR_LIMIT_SERVICES,
                "Service addresses and ports judged by their backends",
                [](const CompiledPolicy& p) { return p.services.size(); },
                "select fewer Services' backends, or split the cluster's policy"},
    MapCapacity{"host_policy", "GR_ZONE_ID_MAX", GR_ZONE_ID_MAX + 1, "zones",
                [](const CompiledPolicy& p) { return p.host_policies.size(); },
                "merge zones that share a boundary"},
    MapCapacity{"runtime_socket_paths", "GR_MAX_RUNTIME_SOCKETS", GR_MAX_RUNTIME_SOCKETS,
                "runtime socket paths (the defaults and every zone's paths)",
                [](const CompiledPolicy& p) { return p.runtime_socket_paths.size(); },
                "list fewer runtimeSockets.paths"},
    MapCapacity{"unix_allow_paths", "GR_MAX_UNIX_ALLOW", GR_MAX_UNIX_ALLOW,
                "allowed unix sockets, one per zone and address",
                [](const CompiledPolicy& p) { return p.unix_allow.size(); },
                "allow fewer unix sockets in runtimeSockets.allow"},
    MapCapacity{"host_write_inodes", "GR_MAX_HOST_WRITE_PATHS", GR_MAX_HOST_WRITE_PATHS,
                "host paths of the host-write guard, one per zone and path",
                [](const CompiledPolicy& p) { return p.host_write_paths.size(); },
                "list fewer paths in hostWrites.paths"},
};

}  // namespace

std::span<const MapCapacity> map_capacities() { return kCapacities; }

Result<void> check_capacity(const CompiledPolicy& policy) {
  for (const MapCapacity& m : kCapacities) {
    const std::size_t n = m.count(policy);
    if (n <= m.capacity) continue;
    return fail("policy '" + policy.name + "' needs " + std::to_string(n) + " entries in map " +
                std::string(m.map) + " (" + std::string(m.entries) + "); it holds " +
                std::to_string(m.capacity) + " (" + std::string(m.constant) + "); " +
                std::string(m.remedy));
  }
  return {};
}

}  // namespace guardrail::policy
