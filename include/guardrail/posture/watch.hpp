// Continuous posture in the agent: each container is assessed once, when discovery first sees it;
// every check it fails becomes one `posture` alert and counts in
// guardrail_posture_violations_total{check}; guardrail_container_compliant{container} says
// whether it meets the baseline.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "guardrail/docker/client.hpp"
#include "guardrail/metrics/metrics.hpp"
#include "guardrail/posture/posture.hpp"

namespace guardrail::posture {

class PostureWatch {
 public:
  using Emit = std::function<void(nlohmann::ordered_json alert)>;

  // `describe` gives the workload and zone names of a container id (as the policy placed it).
  // quarantine_on: the checks whose failure quarantines a container (spec.quarantineOn).
  PostureWatch(const docker::Client& client, Metrics& metrics, Emit emit, std::string policy,
               std::string node, std::vector<std::string> quarantine_on = {});

  // Assesses the containers not seen before; forgets the ones gone.
  void update(const std::vector<docker::Container>& running,
              const std::function<std::pair<std::string, std::string>(const docker::Container&)>&
                  workload_and_zone);

  // Ids of the running containers that failed a check of quarantine_on.
  const std::set<std::string>& quarantined() const { return quarantined_; }

 private:
  const docker::Client& client_;
  Metrics& metrics_;
  Emit emit_;
  std::string policy_;
  std::string node_;
  bool apparmor_;
  std::set<std::string> assessed_;
  std::vector<std::string> quarantine_on_;
  std::set<std::string> quarantined_;
};

// One posture alert for a failed check (exposed for tests).
nlohmann::ordered_json posture_alert(const docker::Container& container, const Finding& finding,
                                     const std::string& workload, const std::string& zone,
                                     const std::string& policy, const std::string& node,
                                     const std::string& time);

}  // namespace guardrail::posture
