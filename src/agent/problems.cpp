#include "problems.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "guardrail/events/agent_alert.hpp"

namespace guardrail::agent {

nlohmann::ordered_json discovery_problem_alert(const policy::DiscoveryProblem& p,
                                               const std::string& workload, const std::string& zone,
                                               const std::string& policy, std::uint64_t boot_ns,
                                               const events::WallClock& clock,
                                               const std::string& node) {
  const std::string now = clock.format(boot_ns);
  // The common fields of every alert, as far as they apply: the agent found this, no process.
  nlohmann::ordered_json alert{
      {"time", now},
      {"kind", "discovery_problem"},
      {"verdict", "detected"},
      {"backend", "agent"},
      {"policy", policy},
      {"workload", workload.empty() ? std::string("unknown") : workload},
      {"zone", zone.empty() ? std::string("unknown") : zone},
      {"cgroup_id", 0},
      {"pid", 0},
      {"tid", 0},
      {"comm", ""},
      {"problem", p.problem},
      {"subject", p.subject},
      {"workloads", p.workloads},
  };
  if (!p.placed_in.empty()) alert["placed_in"] = p.placed_in;
  alert["message"] = p.message;
  events::append_agent_alert_fields(alert, now, now, node);
  return alert;
}

policy::DiscoveryProblem attach_problem(const std::string& dir, const std::string& error) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return {.problem = "cgroup_vanished",
            .subject = dir,
            .message = "cgroup " + dir + " went away before the programs were attached (" + error +
                       "); the next scan drops it"};
  return {.problem = "attach_failed",
          .subject = dir,
          .message = "attaching the programs to " + dir + " failed: " + error +
                     "; the other workloads are enforced, this one is retried at the next scan"};
}

void ProblemReport::update(const std::vector<policy::DiscoveryProblem>& now, const ZoneOf& zone_of,
                           const std::string& policy, std::uint64_t boot_ns,
                           const events::WallClock& clock, const std::string& node) {
  std::map<std::pair<std::string, std::string>, policy::DiscoveryProblem> next;
  for (const auto& p : now) next.emplace(std::pair(p.problem, p.subject), p);
  for (const auto& [key, p] : open_)
    if (!next.contains(key))
      spdlog::info("discovery problem resolved: {} {}", p.problem, p.subject);
  std::map<std::string, std::size_t> per_problem;
  for (const auto& [key, p] : next) {
    ++per_problem[p.problem];
    if (open_.contains(key)) continue;
    spdlog::warn("discovery problem ({}): {}", p.problem, p.message);
    metrics_.count_discovery_problem(p.problem);
    const std::string workload = p.workloads.empty() ? "" : p.workloads.front();
    std::string zone = workload.empty() ? "" : zone_of(workload);
    if (zone.empty()) zone = p.placed_in;
    emit_(discovery_problem_alert(p, workload, zone, policy, boot_ns, clock, node));
  }
  metrics_.set_discovery_problems(per_problem);
  open_ = std::move(next);
}

}  // namespace guardrail::agent
