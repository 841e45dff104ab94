// Discovery problems (policy::DiscoveryProblem) as the operator sees them: each one alerted
// (kind `discovery_problem`) and counted once when it appears, logged again when it goes away,
// and the open ones as a gauge. Enforcement never stops for one.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "guardrail/events/events.hpp"
#include "guardrail/metrics/metrics.hpp"
#include "guardrail/policy/compile.hpp"

namespace guardrail::agent {

// kind "discovery_problem", verdict "detected", backend "agent"; `workload` and `zone` name the
// first workload involved and its zone, else the zone the subject was placed in.
nlohmann::ordered_json discovery_problem_alert(const policy::DiscoveryProblem& problem,
                                               const std::string& workload, const std::string& zone,
                                               const std::string& policy, std::uint64_t boot_ns,
                                               const events::WallClock& clock,
                                               const std::string& node);

// A cgroup the programs could not be attached to: "cgroup_vanished" when it is gone (removed
// between the scan and the attach), else "attach_failed".
policy::DiscoveryProblem attach_problem(const std::string& cgroup_dir, const std::string& error);

class ProblemReport {
 public:
  using Emit = std::function<void(nlohmann::ordered_json)>;
  // zone_of: the zone of a workload name ("" when unknown).
  using ZoneOf = std::function<std::string(const std::string& workload)>;
  ProblemReport(Metrics& metrics, Emit emit) : metrics_(metrics), emit_(std::move(emit)) {}

  // The problems of one enforcement round (they replace the last round's): the new ones are
  // alerted and counted, the gone ones logged.
  void update(const std::vector<policy::DiscoveryProblem>& now, const ZoneOf& zone_of,
              const std::string& policy, std::uint64_t boot_ns, const events::WallClock& clock,
              const std::string& node);

  std::size_t open() const { return open_.size(); }

 private:
  Metrics& metrics_;
  Emit emit_;
  std::map<std::pair<std::string, std::string>, policy::DiscoveryProblem> open_;
};

}  // namespace guardrail::agent
