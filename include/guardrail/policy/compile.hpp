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

// What a binding's cgroup is to the programs (gr_workload.flags).
enum class BindingKind {
  Workload,     // the cgroup and its descendants belong to the workload
  Placeholder,  // only its descendants that no other binding names yet (GR_WL_PLACEHOLDER):
                // the parent of a selector, so that a cgroup made after the last scan is the
                // placeholder's workload from its first instruction
  Exempt,       // the cgroup and its descendants are under no policy (GR_WL_EXEMPT), even below
                // a placeholder: kube-system pods, the agent's own pod
  Remote,       // no cgroup on this host (cgroup_id 0): a peer on another node, known by its
                // addresses only (a pod elsewhere in the cluster)
};

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
  BindingKind kind = BindingKind::Workload;
  // What alerts and metrics call an anonymous member when the cgroup path says little: a pod's
  // "namespace/name" (anonymous_name gives "zone:namespace/name"). Empty: the cgroup path.
  std::string display_name;
};

// A Service's virtual address (ClusterIP) and port, judged as a connect to its backends: a
// connect or datagram to cluster_ip:port is judged by the identity of the backend addresses
// (one identity when they agree; the default zone, fail closed, when they do not) on
// target_port, before kube-proxy's DNAT rewrites it.
struct ServiceBinding {
  std::string service;        // "namespace/name", for messages
  Cidr cluster_ip;            // a host prefix
  std::uint8_t protocol = 6;  // IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP
  std::uint16_t port = 0;
  std::uint16_t target_port = 0;
  std::vector<Cidr> backends;  // ready endpoints' addresses (host prefixes)
};

// The workload name of an anonymous binding, as alerts and metrics show it: "zone:/cgroup/path"
// for a zone member ("zone:display_name" when it has one, e.g. "zone:prod/web-7d9f"),
// "zone:/parent/*" for a placeholder (a cgroup not yet identified below it).
std::string anonymous_name(const WorkloadBinding& binding);

// Something discovery found that the policy cannot place as it stands (two workloads claiming
// one address, a cgroup gone between the scan and the attach, a discovery source that failed).
// The agent never stops enforcing for one: it keeps what it can, puts the rest in the default
// zone (fail closed), alerts and counts it.
struct DiscoveryProblem {
  std::string problem;  // "address_conflict", "cgroup_vanished", "attach_failed", "source_failed"
  std::string subject;  // what it is about (an address, a cgroup path, a source): the dedup key
  std::string message;  // the problem and what was done, in words
  std::vector<std::string> workloads;  // the workloads involved, if any
  std::string placed_in;               // the zone the subject was put in instead, if any

  bool operator==(const DiscoveryProblem&) const = default;
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
  // Service address and port -> its backends' identity (Kubernetes ClusterIPs).
  std::vector<std::pair<gr_service_key, gr_service>> services;
  // Host guards per zone (zone id -> policy); audit mode turns deny and kill into audit.
  std::vector<std::pair<std::uint32_t, gr_host_policy>> host_policies;
  // Defaults plus every zone's extra paths, each once, in a stable order.
  std::vector<std::string> runtime_socket_paths;
  // Allowlist zones: (zone id, allowed unix address) pairs, in zone then file order.
  std::vector<std::pair<std::uint32_t, std::string>> unix_allow;
  // Host-write zones: (zone id, listed host path) pairs, in zone then file order (resolved to
  // inodes when the maps are filled).
  std::vector<std::pair<std::uint32_t, std::string>> host_write_paths;
  // Conflicts in what discovery found, resolved fail closed instead of refusing the policy.
  std::vector<DiscoveryProblem> problems;

  // Flow entries plus egress entries: what guardrail_policy_rules reports.
  std::size_t rule_count() const { return flows.size() + egress.size(); }
};

// Compiles a validated policy with what discovery found. An address that two workloads claim
// (e.g. two workload cgroups sharing a network namespace) is no error: it names the default
// zone instead (no workload; none at all without a default zone), and `problems` says so. Fails
// (naming what is involved) on what the file itself gets wrong: more than GR_MAX_PORT_RANGES
// port ranges between one pair of identities, unknown zones or workloads.
// Services are judged by their backends' identity (see ServiceBinding).
Result<CompiledPolicy> compile(const Policy& policy, std::span<const WorkloadBinding> bindings,
                               std::span<const ServiceBinding> services = {});

// The Service entries of a compiled policy, from its identities: a service whose ready backends
// all name one identity is that identity; one whose backends name several is the default zone
// (fail closed, reported as a "service_conflict" problem); one whose backends name none (the
// world, or no backend) gets no entry, so its address is judged as the world (egress rules).
void compile_services(CompiledPolicy& compiled, std::span<const ServiceBinding> services,
                      const std::string& default_zone);

}  // namespace guardrail::policy
