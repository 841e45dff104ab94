// What the agent says about what it enforces: the backend each guard really runs with, the
// startup summary, workload counts and identification latency.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "guardrail/agent/agent.hpp"
#include "guardrail/discovery/discovery.hpp"
#include "guardrail/docker/watch.hpp"
#include "guardrail/events/events.hpp"
#include "guardrail/events/guards.hpp"
#include "guardrail/loader/host_guard.hpp"
#include "guardrail/metrics/metrics.hpp"
#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/probe/probe.hpp"

namespace guardrail::agent {

// The host guards some zone of the policy asks for.
std::set<Guard> requested_host_guards(const policy::Policy& policy);

// The backend each guard really runs with: the network guard's from the probe, the host guards'
// from the object that loaded; when the policy asks for no host guard, or it failed to load,
// they must not look protected.
std::vector<probe::GuardBackend> running_backends(const probe::Report& report,
                                                  const HostGuard* host,
                                                  const std::string& host_failure,
                                                  const std::set<Guard>& requested);

std::map<std::string, std::size_t> workloads_per_zone(const policy::Policy& policy,
                                                      const discovery::Discovered& found);

// found: a placeholder's own cgroup is no workload; its alerts name it "unidentified:PATH",
// zone "none".
events::NameTable name_table(const policy::CompiledPolicy& compiled,
                             const discovery::Discovered& found);

// How long each started container waited for its own identity in the maps (under the default
// zone's rules meanwhile): from its start event to the policy that names its cgroup.
void report_identified(
    const std::map<std::string, docker::ContainerWatch::Clock::time_point>& started,
    const discovery::Discovered& found, Metrics& metrics);

// The startup log: policy, zones, workloads, the backend of each guard, alerts and /metrics.
void print_summary(const AgentOptions& options, const policy::Policy& policy,
                   const policy::CompiledPolicy& compiled, const discovery::Discovered& found,
                   const std::vector<probe::GuardBackend>& guards, const std::string& cgroup_root);

}  // namespace guardrail::agent
