// Compiling a validated policy, with what discovery found, to the entries of the BPF maps
// declared in bpf/guardrail.h.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "guardrail.h"
#include "guardrail/policy/model.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail::policy {

// What discovery found on this host for one cgroup under policy.
struct WorkloadBinding {
  std::string workload;  // a named workload, or empty for a member of `zone`'s selector
  std::string zone;
  std::string cgroup_path;  // relative to the cgroup2 mount, e.g. "/guardrail/agents/a"
  std::uint64_t cgroup_id = 0;
  std::vector<Cidr> addresses;  // read from the network namespace of its processes
  bool quarantined = false;     // failed a posture check of spec.quarantineOn
  // For an anonymous member: the workload id it should keep (the caller's choice, so that ids
  // stay stable across re-scans and in-flight events keep their names); 0: compile picks one.
  std::uint32_t anonymous_id = 0;
};

// A policy compiled to map entries. Ids: zones GR_ZONE_ID_MIN.. in file order; named workloads
// GR_WORKLOAD_ID_BASE.. in file order; anonymous zone members after them: the binding's
// anonymous_id when it gives one, else the next free id in binding order.
struct CompiledPolicy {
  std::string name;
  Mode mode = Mode::Enforce;
  std::map<std::uint32_t, std::string> zone_names;        // id -> zone name
  std::map<std::uint32_t, std::string> workload_names;    // id -> workload name
  std::map<std::uint32_t, std::uint32_t> workload_zone;   // workload id -> zone id
  std::map<std::uint32_t, std::uint32_t> workload_flags;  // workload id -> GR_WL_* flags
  std::vector<std::pair<std::uint64_t, gr_workload>> cgroups;
  std::vector<std::pair<gr_ip_key, gr_identity>> identities;
  std::vector<std::pair<gr_flow_key, gr_portset>> flows;
  std::vector<std::pair<gr_zone_ip_key, gr_portset>> egress;
  // Host guards per zone (zone id -> policy); audit mode turns deny and kill into audit.
  std::vector<std::pair<std::uint32_t, gr_host_policy>> host_policies;
  // Defaults plus every zone's extra paths, each once, in a stable order.
  std::vector<std::string> runtime_socket_paths;
  // Allowlist zones: (zone id, allowed unix address) pairs, in zone then file order.
  std::vector<std::pair<std::uint32_t, std::string>> unix_allow;

  // Flow entries plus egress entries: what guardrail_policy_rules reports.
  std::size_t rule_count() const { return flows.size() + egress.size(); }
};

// Compiles a validated policy with what discovery found. Fails (naming the workloads or
// addresses involved) on conflicts the file alone cannot show: one address claimed by two
// workloads, more than GR_MAX_PORT_RANGES port ranges between one pair of identities.
Result<CompiledPolicy> compile(const Policy& policy, std::span<const WorkloadBinding> bindings);

}  // namespace guardrail::policy
